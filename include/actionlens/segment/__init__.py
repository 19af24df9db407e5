"""Stage 1: hierarchical temporal segmentation (decode, embed, Ward tree, store)."""
