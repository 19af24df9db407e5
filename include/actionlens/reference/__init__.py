"""Import of the public Action100M reference annotations (parquet) into the stores."""
