"""Lexical agreement: normalized Levenshtein similarity, 1 − d / max(len).

Texts are stripped then lower-cased with `str.lower()`, as the workshop's
text_evaluation_metrics plugin does (`casefold` would differ on non-ASCII text: "ß"
becomes "ss"), so a notebook run on our dataset gets the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalize(text: str | None) -> str:
    """Stripped and lower-cased like the plugin; None counts as empty."""
    return (text or "").strip().lower()


def lexical_similarity(a: str | None, b: str | None) -> float:
    """1 − Levenshtein(a, b) / max(len); both empty → 1, one empty → 0."""
    from rapidfuzz.distance import Levenshtein

    x, y = normalize(a), normalize(b)
    if not x and not y:
        return 1.0
    if not x or not y:
        return 0.0
    return 1.0 - Levenshtein.distance(x, y) / max(len(x), len(y))


def lexical_batch(
    a: Sequence[str | None], b: Sequence[str | None], workers: int = -1
) -> np.ndarray:
    """`lexical_similarity` of each pair (a[i], b[i]), in C across all cores."""
    from rapidfuzz.distance import Levenshtein
    from rapidfuzz.process import cpdist

    if len(a) != len(b):
        raise ValueError(f"lexical_batch: {len(a)} texts against {len(b)}")
    if not len(a):
        return np.zeros(0, dtype=np.float64)
    x = [normalize(t) for t in a]
    y = [normalize(t) for t in b]
    dist = cpdist(x, y, scorer=Levenshtein.distance, dtype=np.int64, workers=workers)
    longest = np.fromiter(
        (max(len(s), len(t)) for s, t in zip(x, y, strict=True)), np.int64, len(x)
    )
    # Both empty: distance 0 over length 0 is agreement by definition.
    return np.where(longest == 0, 1.0, 1.0 - dist / np.maximum(longest, 1))
