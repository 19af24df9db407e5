"""Agreement between sources: lexical, semantic and temporal scores, computed in batches."""

# agreement-2: lexical lower-cases with str.lower() like the workshop plugin (was casefold).
SCORER_VERSION = "agreement-2"
