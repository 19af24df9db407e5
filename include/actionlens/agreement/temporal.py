"""Temporal agreement of two segmentations of the same video."""

from __future__ import annotations

from collections.abc import Sequence

Segment = tuple[float, float]


def boundaries(segments: Sequence[Segment]) -> list[float]:
    """Inner cut points of a segmentation (its start and end are not boundaries)."""
    if not segments:
        return []
    ordered = sorted(segments)
    lo, hi = ordered[0][0], max(e for _, e in ordered)
    points = {round(t, 6) for s, e in ordered for t in (s, e)}
    return sorted(t for t in points if lo < t < hi)


def boundary_precision_recall(
    predicted: Sequence[float], reference: Sequence[float], tolerance: float
) -> tuple[float, float]:
    """Precision and recall of boundaries matched one-to-one within `tolerance` seconds.

    Greedy by closest distance; no boundaries on either side counts as full agreement.
    """
    if not predicted and not reference:
        return 1.0, 1.0
    if not predicted or not reference:
        return (0.0 if predicted else 1.0), (0.0 if reference else 1.0)
    candidates = sorted(
        (abs(p - r), i, j)
        for i, p in enumerate(predicted)
        for j, r in enumerate(reference)
        if abs(p - r) <= tolerance
    )
    used_p: set[int] = set()
    used_r: set[int] = set()
    for _, i, j in candidates:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
    matched = len(used_p)
    return matched / len(predicted), matched / len(reference)


def iou(a: Segment, b: Segment) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def mean_best_iou(a: Sequence[Segment], b: Sequence[Segment]) -> float:
    """Mean over segments of `a` of their best IoU with any segment of `b`."""
    if not a or not b:
        return 0.0
    return sum(max(iou(s, t) for t in b) for s in a) / len(a)


def temporal_agreement(
    a: Sequence[Segment], b: Sequence[Segment], tolerance: float
) -> dict[str, float]:
    """Boundary precision/recall of `a` against `b` and mean best IoU in both directions."""
    precision, recall = boundary_precision_recall(boundaries(a), boundaries(b), tolerance)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    iou_ab, iou_ba = mean_best_iou(a, b), mean_best_iou(b, a)
    return {
        "boundary_precision": precision,
        "boundary_recall": recall,
        "boundary_f1": f1,
        "mean_best_iou": (iou_ab + iou_ba) / 2,
        "mean_best_iou_a": iou_ab,
        "mean_best_iou_b": iou_ba,
    }
