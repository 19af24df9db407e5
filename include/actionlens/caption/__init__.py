"""Stage 2: the Tree-of-Captions (middle-frame captions of leaves, 32-frame captions of
every node)."""
