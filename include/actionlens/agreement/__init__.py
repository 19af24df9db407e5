"""Agreement between sources: lexical, semantic and temporal scores, computed in batches."""

SCORER_VERSION = "agreement-1"
