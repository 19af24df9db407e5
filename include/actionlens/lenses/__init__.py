"""Embedding lenses: one normalized vector per video and lens (`lenses`), zero-shot
categories from a text space, exact nearest neighbours per lens (`neighbours`) and how
many of them two lenses share (`neighbour_overlap`)."""

from actionlens.lenses.backends import load_lens
from actionlens.lenses.search import SPACES, searchable_lenses, text_side
from actionlens.lenses.search import search as search_videos
from actionlens.lenses.vectors import zero_shot
from actionlens.lenses.workshop import (
    SAMPLE_FIELDS,
    SIM_KEYS,
    VIZ_KEYS,
    load_lens_vectors,
    provenance,
    workshop_lenses,
)

# What other stages may use (publishing the workshop's lenses, the App's search operator).
__all__ = [
    "SAMPLE_FIELDS",
    "SIM_KEYS",
    "SPACES",
    "VIZ_KEYS",
    "load_lens",
    "load_lens_vectors",
    "provenance",
    "search_videos",
    "searchable_lenses",
    "text_side",
    "workshop_lenses",
    "zero_shot",
]
