"""Text → video search through a lens with a text side.

The query is embedded by the lens's own model and ranked by cosine against every stored
vector of that lens. Qwen3-VL-Embedding (`qwen3vl-embedding`) puts text and video in one
space, so its text tower searches what is *seen*; the CPU default's only text side is the
transcript lens (a sentence model over the ASR text), which searches what is *said* and
is named as such in every result. Shared by `python -m actionlens search` and the
FiftyOne App operator (`actionlens.publish.app`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from actionlens.errors import InputError
from actionlens.lenses.workshop import load_lens_vectors
from actionlens.settings import LensSpec, Settings

log = logging.getLogger(__name__)

SPACES = {
    "text-video": "text-video space: the query is matched against what the videos show",
    "text": "transcript lens: the query is matched against what is said in the videos "
    "(ASR text), not what they show",
}


def text_side(spec: LensSpec) -> str | None:
    from actionlens.lenses.backends import LENS_BACKENDS

    return getattr(LENS_BACKENDS.get(spec.backend), "text_space", None)


def searchable_lenses(settings: Settings) -> dict[str, LensSpec]:
    """Configured lenses with a text side, text-video ones first."""
    specs = [s for s in settings.opinions.lenses if text_side(s)]
    specs.sort(key=lambda s: text_side(s) != "text-video")
    return {s.lens: s for s in specs}


def describe_lenses(settings: Settings) -> str:
    lenses = searchable_lenses(settings)
    if not lenses:
        return "no configured lens has a text side"
    return ", ".join(f"{n} ({s.model_id}, {text_side(s)} space)" for n, s in lenses.items())


def choose_lens(settings: Settings, lens: str | None) -> LensSpec:
    lenses = searchable_lenses(settings)
    if lens is None:
        if not lenses:
            raise InputError(
                "search: no configured lens has a text side; configure a qwen3vl-embedding "
                "or sentence lens in opinions.lenses"
            )
        return next(iter(lenses.values()))
    if lens not in lenses:
        others = sorted(s.lens for s in settings.opinions.lenses if s.lens not in lenses)
        why = f" ({lens} has no text side)" if lens in others else ""
        raise InputError(
            f"search: unknown lens {lens!r}{why}; lenses you can search: "
            f"{describe_lenses(settings)}"
        )
    return lenses[lens]


_ENCODERS: dict[tuple, Any] = {}


def text_encoder(spec: LensSpec, settings: Settings):
    """The lens's model, loaded once per process (the App answers many queries)."""
    from actionlens.lenses.backends import load_lens

    key = (spec.lens, spec.backend, spec.model_id, spec.weights)
    if key not in _ENCODERS:
        _ENCODERS.clear()  # one model held at a time
        _ENCODERS[key] = load_lens(spec, settings)
    return _ENCODERS[key]


def rank(query_vector: np.ndarray, ids: list[str], vectors: np.ndarray, k: int):
    """The k best (video id, cosine) by descending score, ties by id."""
    if not ids:
        return []
    q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    if vectors.shape[1] != q.shape[0]:
        raise InputError(
            f"search: the query vector has {q.shape[0]} dimensions, the lens's videos "
            f"{vectors.shape[1]}: re-embed the lens with its configured model"
        )
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    scores = vectors @ q
    order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i]))[:k]
    return [(ids[i], float(scores[i])) for i in order]


def search(
    settings: Settings,
    query: str,
    *,
    k: int = 10,
    lens: str | None = None,
    db=None,
    backend=None,
    links: bool = True,
) -> dict[str, Any]:
    """Rank videos for a text query; each result has title, score and FiftyOne link."""
    if not (query or "").strip():
        raise InputError(
            f"search: the query is empty; give some words to look for. Lenses you can "
            f"search: {describe_lenses(settings)}"
        )
    if k < 1:
        raise InputError(f"search: --k must be at least 1, got {k}")
    spec = choose_lens(settings, lens)
    from actionlens.store.mongo import VIDEOS, connect

    db = db if db is not None else connect(settings)
    stored = load_lens_vectors(db, spec)
    ids = sorted(stored.vectors)
    matrix = np.stack([stored.vectors[v] for v in ids]) if ids else np.zeros((0, 0), np.float32)
    backend = backend or text_encoder(spec, settings)
    query_vector = backend.embed_texts([query])[0]
    found = rank(query_vector, ids, matrix, k)
    titles = {
        d["_id"]: (d.get("metadata") or {}).get("title")
        for d in db[VIDEOS].find({"_id": {"$in": [v for v, _ in found]}}, {"metadata.title": 1})
    }
    results = []
    for n, (vid, score) in enumerate(found, start=1):
        results.append(
            {
                "rank": n,
                "video_id": vid,
                "title": titles.get(vid),
                "score": round(score, 6),
                "url": _link(settings, vid) if links else None,
            }
        )
    space = text_side(spec)
    return {
        "query": query,
        "lens": spec.lens,
        "model_id": spec.model_id,
        "space": space,
        "searches": SPACES.get(space or "", space),
        "videos_searched": len(ids),
        "rejected": len(stored.rejected),
        "results": results,
    }


def _link(settings: Settings, video_id: str) -> str | None:
    from actionlens.warehouse import fiftyone_sample_url

    try:
        return fiftyone_sample_url(settings, video_id)
    except Exception as exc:  # no warehouse yet: the search still answers
        log.warning("no FiftyOne link for %s (%s)", video_id, exc)
        return None


def render(result: dict[str, Any]) -> str:
    """The results as lines a person reads."""
    lines = [
        f"{result['query']!r} through lens {result['lens']} ({result['model_id']}; "
        f"{result['searches']}), {result['videos_searched']} videos:"
    ]
    if not result["results"]:
        lines.append("  no videos have this lens's vectors yet (run the lenses step)")
    for r in result["results"]:
        lines.append(
            f"{r['rank']:>3}. {r['score']:.3f}  {r['title'] or '(no title)'}  [{r['video_id']}]"
            f"  {r['url'] or '(not published to FiftyOne)'}"
        )
    return "\n".join(lines)
