"""The workshop's lenses in the FiftyOne App: sample vectors, brain runs, classifications.

Runs once over the whole published dataset after the last publish batch (publishing
replaces samples, so their ids change and every brain run must be rebuilt):

- `qwen_embeddings`, `molmo_embeddings`, `text_embeddings`: each sample's unit vector of
  the lens playing that notebook role (`actionlens.lenses.workshop`). When a CPU
  baseline fills one, the field's description, each brain run's config and the dataset's
  info (`info["actionlens_lenses"]`) say which model did.
- `compute_visualization` (UMAP; PCA below `opinions.umap_min_samples` samples, said
  so) under `qwen_viz`, `molmo_viz`, `transcript_viz`; `compute_similarity` (sklearn,
  cosine) under `qwen_sim`, `molmo_sim`, `text_sim`; `compute_uniqueness` and
  `compute_representativeness` on the visual lens (`qwen_uniqueness`, `qwen_rep`).
- `predicted_class`: the category lens's zero-shot class with its confidence;
  `text_predicted_class`: title + description through the text lens against the same
  classes; `evaluate_classifications` of the second against the first (`simple_cls_eval`).

Every run is deleted and recomputed, so a rerun replaces and never duplicates. Samples
without a lens's vector are left out of that lens's runs and counted. Runs as the
`brain-fiftyone` command (FiftyOne cannot share a process with Airflow).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from actionlens.errors import InputError
from actionlens.lenses import (
    SAMPLE_FIELDS,
    SIM_KEYS,
    VIZ_KEYS,
    load_lens_vectors,
    provenance,
    workshop_lenses,
)
from actionlens.settings import Settings

log = logging.getLogger(__name__)

UNIQUENESS_FIELD = "qwen_uniqueness"
REPRESENTATIVENESS_FIELD = "qwen_rep"
PREDICTED = "predicted_class"
TEXT_PREDICTED = "text_predicted_class"
EVAL_KEY = "simple_cls_eval"
# fiftyone.brain's representativeness clusters with KMeans(n_clusters=20).
REPRESENTATIVENESS_MIN_SAMPLES = 20
INFO_LENSES = "actionlens_lenses"
INFO_BRAIN = "actionlens_brain"


def projection_method(n: int, umap_min: int) -> tuple[str | None, str | None]:
    """UMAP, or PCA (with the reason) on too few samples, or nothing below two."""
    if n >= umap_min:
        return "umap", None
    if n >= 2:
        return "pca", f"PCA instead of UMAP: {n} samples < {umap_min}"
    return None, f"no projection: {n} sample(s)"


def title_text(title: str | None, description: str | None) -> str:
    """The notebook's `t + " " + d`, tolerating a missing side."""
    return f"{title or ''} {description or ''}".strip()


def _drop_runs(dataset, keys: list[str]) -> None:
    existing = set(dataset.list_brain_runs())
    for key in keys:
        if key in existing:
            dataset.delete_brain_run(key)
    if EVAL_KEY in dataset.list_evaluations():
        dataset.delete_evaluation(EVAL_KEY)


def _set_or_clear(dataset, field: str, values: list) -> None:
    """One value per sample; with none at all the field is emptied, not invented."""
    if any(v is not None for v in values):
        dataset.set_values(field, values)
    elif dataset.has_field(field):
        dataset.set_field(field, None).save()


def _describe(dataset, field: str, description: str, info: dict) -> None:
    fld = dataset.get_field(field)
    if fld is not None:
        fld.description = description
        fld.info = info
        fld.save()


def run_brain(settings: Settings, *, db=None, text_backend=None) -> dict[str, Any]:
    """Vectors, brain runs and classifications over every sample of the dataset."""
    from actionlens.publish.dataset import _fiftyone
    from actionlens.store.mongo import LENSES, connect

    started = time.monotonic()
    db = db if db is not None else connect(settings)
    fo = _fiftyone(settings)
    import fiftyone.brain as fob

    name = settings.fiftyone.dataset
    if not fo.dataset_exists(name):
        raise InputError(
            f"brain-fiftyone: FiftyOne dataset {name!r} does not exist; run publish-fiftyone first"
        )
    dataset = fo.load_dataset(name)
    video_ids = dataset.values("video_id")
    total = len(video_ids)
    roles = workshop_lenses(settings)
    _drop_runs(
        dataset,
        [
            *VIZ_KEYS.values(),
            *SIM_KEYS.values(),
            UNIQUENESS_FIELD,
            REPRESENTATIVENESS_FIELD,
        ],
    )
    report: dict[str, Any] = {"dataset": name, "samples": total, "lenses": {}, "rejected": {}}
    info_lenses: dict[str, Any] = {}
    for role, spec in roles.items():
        t0 = time.monotonic()
        field = SAMPLE_FIELDS[role]
        stored = load_lens_vectors(db, spec, video_ids)
        for vid, why in stored.rejected.items():
            log.warning("%s", why)
            report["rejected"].setdefault(vid, []).append(why)
        _set_or_clear(dataset, field, [stored.vectors.get(v) for v in video_ids])
        prov = provenance(role, spec)
        _describe(dataset, field, prov["description"], prov)
        view = dataset.exists(field) if dataset.has_field(field) else dataset.limit(0)
        n = len(view)
        method, note = projection_method(n, settings.opinions.umap_min_samples)
        if note:
            log.warning("%s (%s): %s", VIZ_KEYS[role], spec.lens, note)
        tags = {
            "lens": spec.lens,
            "lens_model_id": spec.model_id,
            "lens_backend": spec.backend,
            "lens_baseline": prov["baseline"],
            "lens_description": prov["description"],
        }
        if method is not None:
            kwargs = {"seed": 51} if method == "umap" else {}
            fob.compute_visualization(
                view,
                embeddings=field,
                brain_key=VIZ_KEYS[role],
                method=method,
                num_dims=2,
                progress=False,
                projection_note=note,
                **kwargs,
                **tags,
            )
        if n:
            fob.compute_similarity(
                view,
                embeddings=field,
                brain_key=SIM_KEYS[role],
                backend="sklearn",
                metric="cosine",
                progress=False,
                **tags,
            )
        entry = {
            **{k: prov[k] for k in ("lens", "model_id", "backend", "baseline", "description")},
            "dim": stored.dim,
            "samples_with_vector": n,
            "missing": total - n,
            "rejected": len(stored.rejected),
            "visualization": VIZ_KEYS[role] if method else None,
            "projection": method,
            "projection_note": note,
            "similarity": SIM_KEYS[role] if n else None,
        }
        if role == "qwen":
            entry.update(_qwen_scores(fob, dataset, view, field, n, prov))
        entry["seconds"] = round(time.monotonic() - t0, 3)
        report["lenses"][field] = entry
        info_lenses[field] = {k: v for k, v in entry.items() if k != "seconds"}
    for role, field in SAMPLE_FIELDS.items():
        if role not in roles:
            note = f"no configured lens plays the notebook's {role} lens"
            report["lenses"][field] = {"missing": total, "note": note}
            info_lenses[field] = {"note": note}
    t0 = time.monotonic()
    report["classification"] = _classify(settings, db, dataset, video_ids, LENSES, text_backend)
    report["classification"]["seconds"] = round(time.monotonic() - t0, 3)
    dataset.info[INFO_LENSES] = info_lenses
    dataset.info[INFO_BRAIN] = {
        "visualization": {f: e.get("visualization") for f, e in info_lenses.items()},
        "projection": {
            f: e.get("projection_note") or e.get("projection") for f, e in info_lenses.items()
        },
        "classification": {
            k: v for k, v in report["classification"].items() if k not in ("seconds",)
        },
    }
    dataset.save()
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def _qwen_scores(fob, dataset, view, field: str, n: int, prov: dict) -> dict[str, Any]:
    """Uniqueness and representativeness on the visual lens (where it has vectors)."""
    for stale in (UNIQUENESS_FIELD, REPRESENTATIVENESS_FIELD):
        if dataset.has_field(stale) and dataset.has_field(field):
            dataset.exists(field, False).set_field(stale, None).save()
    out: dict[str, Any] = {"uniqueness": None, "representativeness": None}
    # Both scores say which vectors they come from, and when those are a CPU baseline's.
    baseline = ", a CPU baseline" if prov["baseline"] else ""
    source = f"from {field} ({prov['model_id']}{baseline})"
    if n:
        fob.compute_uniqueness(
            view, uniqueness_field=UNIQUENESS_FIELD, embeddings=field, progress=False
        )
        _describe(dataset, UNIQUENESS_FIELD, f"uniqueness {source}", prov)
        out["uniqueness"] = UNIQUENESS_FIELD
    if n >= REPRESENTATIVENESS_MIN_SAMPLES:
        fob.compute_representativeness(
            view,
            representativeness_field=REPRESENTATIVENESS_FIELD,
            embeddings=field,
            progress=False,
        )
        _describe(dataset, REPRESENTATIVENESS_FIELD, f"representativeness {source}", prov)
        out["representativeness"] = REPRESENTATIVENESS_FIELD
    else:
        out["representativeness_note"] = (
            f"not computed: {n} samples < {REPRESENTATIVENESS_MIN_SAMPLES} "
            "(fiftyone.brain clusters them into 20)"
        )
        log.warning("%s %s", REPRESENTATIVENESS_FIELD, out["representativeness_note"])
    return out


def _classify(settings, db, dataset, video_ids, lenses_collection, text_backend) -> dict:
    """predicted_class from the category lens, text_predicted_class from title +
    description through the text lens, and the evaluation of one against the other."""
    import fiftyone as fo

    from actionlens.lenses import load_lens, text_side, zero_shot

    opinions = settings.opinions
    out: dict[str, Any] = {"classes": list(opinions.categories)}
    category_lens = opinions.category_lens
    cats = {
        d["video_id"]: d["category"]
        for d in db[lenses_collection].find(
            {
                "lens": category_lens,
                "video_id": {"$in": video_ids},
                "status": "ok",
                "category": {"$exists": True},
            },
            {"video_id": 1, "category": 1},
        )
    }

    def label(c: dict):
        return fo.Classification(
            label=c["label"],
            confidence=float(c["score"]),
            lens=c.get("lens"),
            model_id=c.get("model_id"),
            method=c.get("method"),
            baseline=bool(c.get("baseline")),
        )

    labels = [label(cats[vid]) if vid in cats else None for vid in video_ids]
    _set_or_clear(dataset, PREDICTED, labels)
    first = next(iter(cats.values()), {})
    out[PREDICTED] = {
        "samples": len(cats),
        "lens": category_lens,
        "model_id": first.get("model_id"),
        "method": first.get("method"),
        "baseline": first.get("baseline"),
    }
    _describe(
        dataset,
        PREDICTED,
        f"zero-shot class through lens {category_lens} ({first.get('method') or 'no category'})",
        out[PREDICTED],
    )

    spec = workshop_lenses(settings).get("text")
    if spec is None or text_side(spec) is None:
        out[TEXT_PREDICTED] = {"samples": 0, "note": "no text lens configured"}
        return out
    backend = text_backend or load_lens(spec, settings)
    # A video without metadata (no title or description anywhere) leaves the field unset.
    fields = dataset.get_field_schema()
    titles = dataset.values("title") if "title" in fields else [None] * len(dataset)
    descriptions = (
        dataset.values("description") if "description" in fields else [None] * len(dataset)
    )
    texts = [title_text(t, d) for t, d in zip(titles, descriptions, strict=True)]
    usable = [i for i, t in enumerate(texts) if t]
    text_labels: list[Any] = [None] * len(video_ids)
    if usable:
        prompt = opinions.title_category_prompt
        found = zero_shot(
            backend.embed_texts([texts[i] for i in usable]),
            opinions.categories,
            backend.embed_texts([prompt + c for c in opinions.categories]),
        )
        for i, c in zip(usable, found, strict=True):
            text_labels[i] = fo.Classification(
                label=c["label"],
                confidence=c["score"],
                lens=spec.lens,
                model_id=spec.model_id,
            )
    _set_or_clear(dataset, TEXT_PREDICTED, text_labels)
    out[TEXT_PREDICTED] = {"samples": len(usable), "lens": spec.lens, "model_id": spec.model_id}
    _describe(
        dataset,
        TEXT_PREDICTED,
        f"zero-shot class of title + description through lens {spec.lens} ({spec.model_id})",
        out[TEXT_PREDICTED],
    )
    both = (
        dataset.exists(PREDICTED).exists(TEXT_PREDICTED)
        if dataset.has_field(PREDICTED) and dataset.has_field(TEXT_PREDICTED)
        else dataset.limit(0)
    )
    if len(both):
        results = both.evaluate_classifications(
            TEXT_PREDICTED, gt_field=PREDICTED, eval_key=EVAL_KEY, progress=False
        )
        correct = int(np.sum(both.values(f"{EVAL_KEY}")))
        out[EVAL_KEY] = {
            "samples": len(both),
            "agree": correct,
            "accuracy": round(correct / len(both), 6),
            "report_classes": len(results.classes),
        }
    else:
        out[EVAL_KEY] = {"samples": 0, "note": "no sample has both classifications"}
    return out
