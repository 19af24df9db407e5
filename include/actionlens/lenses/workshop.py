"""The notebook's three lenses on our lenses: which configured lens fills `qwen_embeddings`,
`molmo_embeddings` and `text_embeddings`, and the stored vectors each sample gets.

Roles follow the FiftyOne video workshop: `qwen` is the visual lens in a shared
text-video space (Qwen3-VL-Embedding), `molmo` a second visual lens (Molmo2, mean-pooled),
`text` the transcript through a sentence model. On the CPU default the two visual roles
are played by weight-free baselines; every place that shows a vector also says which
model made it (`provenance`). No FiftyOne and no models here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from actionlens.errors import ConfigurationError
from actionlens.settings import LensSpec, Settings
from actionlens.store.mongo import LENSES

ROLES = ("qwen", "molmo", "text")
SAMPLE_FIELDS = {"qwen": "qwen_embeddings", "molmo": "molmo_embeddings", "text": "text_embeddings"}
VIZ_KEYS = {"qwen": "qwen_viz", "molmo": "molmo_viz", "text": "transcript_viz"}
SIM_KEYS = {"qwen": "qwen_sim", "molmo": "molmo_sim", "text": "text_sim"}
NOTEBOOK_MODELS = {
    "qwen": "Qwen3-VL-Embedding",
    "molmo": "Molmo2 (mean-pooled)",
    "text": "a sentence-transformers model",
}
# Backends that can play each role, best first: the real model, then the CPU baseline.
ROLE_BACKENDS = {
    "qwen": ("qwen3vl-embedding", "frame-histogram"),
    "molmo": ("mean-pooled", "frame-motion"),
    "text": ("sentence",),
}


def workshop_lenses(settings: Settings) -> dict[str, LensSpec]:
    """role → the configured lens that fills it (roles nobody plays are left out)."""
    specs = {s.lens: s for s in settings.opinions.lenses}
    chosen = settings.opinions.workshop_lenses
    unknown = sorted(set(chosen) - set(ROLES))
    if unknown:
        raise ConfigurationError(
            f"opinions.workshop_lenses: unknown role(s) {unknown}; roles are {list(ROLES)}"
        )
    out: dict[str, LensSpec] = {}
    for role in ROLES:
        if role in chosen:
            if chosen[role] not in specs:
                raise ConfigurationError(
                    f"opinions.workshop_lenses.{role} names lens {chosen[role]!r}, which is "
                    f"not configured (opinions.lenses: {sorted(specs)})"
                )
            out[role] = specs[chosen[role]]
            continue
        for backend in ROLE_BACKENDS[role]:
            match = next((s for s in settings.opinions.lenses if s.backend == backend), None)
            if match is not None:
                out[role] = match
                break
    return out


def provenance(role: str, spec: LensSpec) -> dict[str, Any]:
    """Which model made a role's vectors, said plainly when it is a CPU baseline."""
    from actionlens.lenses.backends import LENS_BACKENDS

    cls = LENS_BACKENDS.get(spec.backend)
    baseline = bool(getattr(cls, "baseline", False))
    text = (
        f"{SAMPLE_FIELDS[role]}: the notebook's {NOTEBOOK_MODELS[role]} lens, filled by "
        f"lens {spec.lens!r} with {spec.model_id} (backend {spec.backend})"
    )
    if baseline:
        text += f": a CPU baseline, NOT {NOTEBOOK_MODELS[role]}"
    return {
        "role": role,
        "field": SAMPLE_FIELDS[role],
        "lens": spec.lens,
        "backend": spec.backend,
        "model_id": spec.model_id,
        "baseline": baseline,
        "notebook_model": NOTEBOOK_MODELS[role],
        "description": text,
    }


@dataclass
class LensVectors:
    """A lens's usable unit vectors by video, and why the others were rejected."""

    lens: str
    model_id: str
    dim: int | None
    vectors: dict[str, np.ndarray]
    rejected: dict[str, str]


def check_vectors(lens: str, model_id: str, docs: list[dict]) -> LensVectors:
    """Each stored vector checked on its own: the lens's dimension (the one most of its
    vectors have, which must match the document's `dim`), finite values and a non-zero
    length. Good vectors come back unit-length; a bad one rejects its video only."""
    lengths = [len(d["vector"]) for d in docs if isinstance(d.get("vector"), list)]
    dim = max(set(lengths), key=lengths.count) if lengths else None
    vectors: dict[str, np.ndarray] = {}
    rejected: dict[str, str] = {}
    fix = "re-embed it: python -m actionlens lenses --videos {vid} --lenses {lens} --force"
    for d in docs:
        vid = d["video_id"]
        raw = d.get("vector")
        where = f"[{vid}] lens {lens} ({model_id})"
        if not isinstance(raw, list) or not raw:
            rejected[vid] = f"{where}: no vector stored; {fix.format(vid=vid, lens=lens)}"
            continue
        v = np.asarray(raw, dtype=np.float64)
        if len(v) != dim or (d.get("dim") is not None and d["dim"] != len(v)):
            rejected[vid] = (
                f"{where}: vector has {len(v)} dimensions (document says {d.get('dim')}), "
                f"the lens's vectors have {dim}; {fix.format(vid=vid, lens=lens)}"
            )
            continue
        if not np.all(np.isfinite(v)):
            rejected[vid] = (
                f"{where}: vector has {int((~np.isfinite(v)).sum())} NaN or infinite "
                f"values; {fix.format(vid=vid, lens=lens)}"
            )
            continue
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            rejected[vid] = f"{where}: vector is all zeros; {fix.format(vid=vid, lens=lens)}"
            continue
        vectors[vid] = (v / norm).astype(np.float32)
    return LensVectors(lens, model_id, dim, vectors, rejected)


def load_lens_vectors(db, spec: LensSpec, video_ids: list[str] | None = None) -> LensVectors:
    """The lens's stored vectors made by its configured model, checked."""
    query: dict[str, Any] = {"lens": spec.lens, "model_id": spec.model_id, "status": "ok"}
    if video_ids is not None:
        query["video_id"] = {"$in": list(video_ids)}
    docs = list(db[LENSES].find(query, {"video_id": 1, "vector": 1, "dim": 1}))
    return check_vectors(spec.lens, spec.model_id, docs)
