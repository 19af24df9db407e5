"""Stage 3: LLM aggregation of a node's Tree-of-Captions into a structured annotation,
with Self-Refine (a draft and two revisions in one conversation)."""
