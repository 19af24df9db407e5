"""Stage 0: HowTo100M manifest to normalised clips in the bucket, every outcome in the ledger."""
