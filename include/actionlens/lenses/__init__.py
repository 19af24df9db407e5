"""Embedding lenses: one normalized vector per video and lens (`lenses`), zero-shot
categories from a text space, exact nearest neighbours per lens (`neighbours`) and how
many of them two lenses share (`neighbour_overlap`)."""
