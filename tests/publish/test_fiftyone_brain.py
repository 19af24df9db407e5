"""The workshop's lenses in FiftyOne: sample vectors with their provenance, brain runs
(real UMAP on 60 generated samples, PCA below 15), uniqueness, representativeness, the
two zero-shot classifications and their evaluation; bad vectors rejected per video; a
republished batch (new sample ids) and a rerun replace the runs. FiftyOne runs in
subprocesses, as in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

from actionlens.lenses.workshop import (
    check_vectors,
    provenance,
    workshop_lenses,
)
from actionlens.publish.brain import projection_method, title_text
from actionlens.settings import LensSpec, environment_for
from actionlens.store.mongo import LENSES, VIDEOS

TOPICS = {
    "Cooking and Food": ("How to make fluffy pancakes", "Whisk flour, eggs and milk, then fry."),
    "Automotive": ("Replace the brake pads on your car", "Jack up the car and swap the pads."),
    "Gardening": ("Planting tomatoes in raised beds", "Dig, water and stake tomato seedlings."),
}


def _ids(n: int) -> list[str]:
    return [f"brain{i:06d}" for i in range(n)]


def _vectors(rng, n: int, dim: int, topics: list[int]) -> np.ndarray:
    centres = rng.normal(size=(len(TOPICS), dim))
    v = centres[topics] + 0.3 * rng.normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def seed_lenses(db, n: int, *, seed: int = 0, bad: bool = False) -> list[str]:
    """n videos in three topics with title, description and a vector per default lens."""
    rng = np.random.default_rng(seed)
    ids = _ids(n)
    topics = [i % len(TOPICS) for i in range(n)]
    names = list(TOPICS)
    db[VIDEOS].insert_many(
        [
            {
                "_id": vid,
                "metadata": {"title": TOPICS[names[t]][0], "description": TOPICS[names[t]][1]},
            }
            for vid, t in zip(ids, topics, strict=True)
        ]
    )
    docs = []
    for lens, model, dim in (
        ("transcript", "all-MiniLM-L6-v2", 384),
        ("visual", "frame-histogram-baseline", 256),
        ("motion", "frame-motion-baseline", 96),
    ):
        vectors = _vectors(rng, n, dim, topics)
        for vid, t, v in zip(ids, topics, vectors, strict=True):
            doc = {
                "_id": f"{vid}:{lens}",
                "video_id": vid,
                "lens": lens,
                "model_id": model,
                "status": "ok",
                "dim": dim,
                "vector": [float(x) for x in v],
            }
            if lens == "transcript":
                doc["category"] = {
                    "label": names[t],
                    "score": 0.5,
                    "lens": lens,
                    "model_id": model,
                    "method": "transcript text-space baseline",
                    "baseline": True,
                }
            docs.append(doc)
    db[LENSES].insert_many(docs)
    if bad:
        # One wrong dimension, one NaN, one video without a transcript vector.
        db[LENSES].update_one({"_id": f"{ids[1]}:visual"}, {"$push": {"vector": 0.5}})
        db[LENSES].update_one({"_id": f"{ids[2]}:motion"}, {"$set": {"vector.3": float("nan")}})
        db[LENSES].delete_one({"_id": f"{ids[3]}:transcript"})
    return ids


CREATE = """
import json, os, sys
from actionlens.publish.brain import run_brain
from actionlens.publish.dataset import _fiftyone
from actionlens.settings import get_settings
from actionlens.store.mongo import VIDEOS, connect
s = get_settings()
fo = _fiftyone(s)
from fiftyone import ViewField as F
reports = []
for step in sys.argv[1:]:
    if step == "brain":  # what `python -m actionlens brain-fiftyone` runs
        reports.append(run_brain(s))
        continue
    ids = json.loads(step)
    name = s.fiftyone.dataset
    ds = fo.load_dataset(name) if fo.dataset_exists(name) else fo.Dataset(name, persistent=True)
    # What publish does to a batch: its videos' samples are replaced (new sample ids).
    ds.delete_samples(ds.match(F("video_id").is_in(ids)))
    meta = {d["_id"]: d["metadata"] for d in connect(s)[VIDEOS].find({"_id": {"$in": ids}})}
    ds.add_samples([fo.Sample(filepath=f"/clips/{v}.mp4", video_id=v, title=meta[v]["title"],
        description=meta[v]["description"]) for v in ids], progress=False)
print(json.dumps(reports))
"""

INSPECT = """
import json, os
from actionlens.publish.dataset import _fiftyone
from actionlens.settings import get_settings
s = get_settings()
fo = _fiftyone(s)
ds = fo.load_dataset(s.fiftyone.dataset)
runs = {}
for key in ds.list_brain_runs():
    info = ds.get_brain_info(key)
    cfg = info.config.serialize()
    runs[key] = {"method": cfg.get("method"), "lens_model_id": cfg.get("lens_model_id"),
                 "lens_baseline": cfg.get("lens_baseline"), "note": cfg.get("projection_note"),
                 "embeddings_field": cfg.get("embeddings_field")}
viz = {}
for key in ("qwen_viz", "molmo_viz", "transcript_viz"):
    if key in runs:
        r = ds.load_brain_results(key)
        viz[key] = {"points": len(r.points), "finite": bool(__import__("numpy").isfinite(r.points).all()),
                    "ids": sorted(r.sample_ids) == sorted(ds.exists(runs[key]["embeddings_field"]).values("id"))}
sim = ds.load_brain_results("text_sim") if "text_sim" in runs else None
first = ds.exists("qwen_embeddings").first()
near = [] if sim is None else ds.sort_by_similarity(first.id, brain_key="text_sim", k=4).values("video_id")
vec = first["qwen_embeddings"]
out = {
    "samples": len(ds), "runs": runs, "viz": viz, "evals": ds.list_evaluations(),
    "with": {f: len(ds.exists(f)) for f in ("qwen_embeddings", "molmo_embeddings", "text_embeddings",
             "qwen_uniqueness", "qwen_rep", "predicted_class", "text_predicted_class")},
    "norm": float(__import__("numpy").linalg.norm(vec)),
    "description": ds.get_field("qwen_embeddings").description,
    "info": ds.info.get("actionlens_lenses"),
    "pred": ds.values("predicted_class.label"), "text_pred": ds.values("text_predicted_class.label"),
    "videos": ds.values("video_id"), "near": near, "first": first["video_id"],
    "agree": ds.values("simple_cls_eval"),
}
if os.environ.get("DROP"):
    ds.delete()
print(json.dumps(out))
"""


def _run(settings, args, *, code: str | None = None, extra_env=None):
    env = {**os.environ, **environment_for(settings), **(extra_env or {})}
    env.pop("AIRFLOW_HOME", None)
    cmd = (
        [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "actionlens", *args]
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One home for the module's runs, so MiniLM is exported to ONNX once."""
    return tmp_path_factory.mktemp("brain-home")


def _own_dataset(settings, home):
    name = f"t_brain_{uuid.uuid4().hex[:10]}"
    return settings.model_copy(
        update={
            "home": home,
            "fiftyone": settings.fiftyone.model_copy(update={"dataset": name}),
        }
    )


def test_roles_pick_the_real_model_first_and_say_when_a_baseline_fills_one(settings):
    roles = workshop_lenses(settings)
    assert {r: s.lens for r, s in roles.items()} == {
        "qwen": "visual",
        "molmo": "motion",
        "text": "transcript",
    }
    prov = provenance("qwen", roles["qwen"])
    assert prov["baseline"] is True and "NOT Qwen3-VL-Embedding" in prov["description"]
    assert provenance("text", roles["text"])["baseline"] is False
    production = settings.model_copy(
        update={
            "opinions": settings.opinions.model_copy(
                update={
                    "lenses": [
                        *settings.opinions.lenses,
                        LensSpec(
                            lens="molmo2", backend="mean-pooled", model_id="allenai/Molmo2-4B"
                        ),
                        LensSpec(
                            lens="qwen3vl_embedding",
                            backend="qwen3vl-embedding",
                            model_id="Qwen/Qwen3-VL-Embedding-2B",
                        ),
                    ]
                }
            )
        }
    )
    assert {r: s.lens for r, s in workshop_lenses(production).items()} == {
        "qwen": "qwen3vl_embedding",
        "molmo": "molmo2",
        "text": "transcript",
    }
    assert "NOT" not in provenance("qwen", workshop_lenses(production)["qwen"])["description"]


def test_bad_vectors_are_rejected_per_video_with_the_reason():
    good = [0.6, 0.8, 0.0]
    docs = [
        {"video_id": "a", "vector": good, "dim": 3},
        {"video_id": "b", "vector": [3.0, 4.0, 0.0], "dim": 3},
        {"video_id": "c", "vector": [1.0, 0.0], "dim": 2},
        {"video_id": "d", "vector": [float("nan"), 1.0, 0.0], "dim": 3},
        {"video_id": "e", "vector": [0.0, 0.0, 0.0], "dim": 3},
        {"video_id": "f", "vector": [1.0, 0.0, 0.0], "dim": 4},
    ]
    found = check_vectors("visual", "m", docs)
    assert found.dim == 3 and sorted(found.vectors) == ["a", "b"]
    assert np.allclose(found.vectors["b"], good)  # normalised on the way
    assert "[c] lens visual (m): vector has 2 dimensions" in found.rejected["c"]
    assert "the lens's vectors have 3" in found.rejected["c"]
    assert "1 NaN or infinite values" in found.rejected["d"]
    assert "all zeros" in found.rejected["e"] and "document says 4" in found.rejected["f"]
    assert "--videos d --lenses visual --force" in found.rejected["d"]


def test_projection_falls_back_to_pca_below_the_umap_minimum():
    assert projection_method(15, 15) == ("umap", None)
    assert projection_method(14, 15) == ("pca", "PCA instead of UMAP: 14 samples < 15")
    assert projection_method(1, 15)[0] is None
    assert title_text("Pancakes", None) == "Pancakes" and title_text("A", "b") == "A b"


@pytest.mark.integration
def test_brain_runs_cover_the_dataset_with_real_umap_and_reruns_replace(settings, db, shared_home):
    cfg = _own_dataset(settings, shared_home)
    ids = seed_lenses(db, 60, bad=True)
    # Publish all, brain, publish a batch again (its samples get new ids), brain again: in
    # one process, so numba compiles UMAP once.
    first, again = _run(cfg, [json.dumps(ids), "brain", json.dumps(ids[:10]), "brain"], code=CREATE)
    lenses = first["lenses"]
    assert lenses["qwen_embeddings"]["projection"] == "umap"
    assert (lenses["qwen_embeddings"]["missing"], lenses["qwen_embeddings"]["rejected"]) == (1, 1)
    assert (lenses["molmo_embeddings"]["missing"], lenses["molmo_embeddings"]["rejected"]) == (1, 1)
    assert (lenses["text_embeddings"]["missing"], lenses["text_embeddings"]["rejected"]) == (1, 0)
    assert "vector has 257 dimensions" in first["rejected"][ids[1]][0]
    assert "NaN" in first["rejected"][ids[2]][0]
    assert lenses["qwen_embeddings"]["representativeness"] == "qwen_rep"

    assert again["lenses"]["qwen_embeddings"]["samples_with_vector"] == 59
    seen = _run(cfg, [], code=INSPECT, extra_env={"DROP": "1"})
    assert seen["samples"] == 60
    assert set(seen["runs"]) == {
        "qwen_viz",
        "molmo_viz",
        "transcript_viz",
        "qwen_sim",
        "molmo_sim",
        "text_sim",
        "qwen_uniqueness",
        "qwen_rep",
    }  # replaced, not duplicated
    assert seen["evals"] == ["simple_cls_eval"]
    for key in ("qwen_viz", "molmo_viz", "transcript_viz"):
        assert seen["runs"][key]["method"] == "umap" and seen["viz"][key] == {
            "points": 59,
            "finite": True,
            "ids": True,
        }
    assert seen["runs"]["qwen_viz"]["lens_model_id"] == "frame-histogram-baseline"
    assert seen["runs"]["qwen_sim"]["lens_baseline"] is True
    assert seen["with"] == {
        "qwen_embeddings": 59,
        "molmo_embeddings": 59,
        "text_embeddings": 59,
        "qwen_uniqueness": 59,
        "qwen_rep": 59,
        "predicted_class": 59,
        "text_predicted_class": 60,
    }
    assert seen["norm"] == pytest.approx(1.0, abs=1e-5)
    assert "CPU baseline, NOT Qwen3-VL-Embedding" in seen["description"]
    assert seen["info"]["qwen_embeddings"]["model_id"] == "frame-histogram-baseline"
    # Nearest neighbours in the transcript space share the first video's topic.
    topic = {v: i % 3 for i, v in enumerate(ids)}
    assert seen["near"][0] == seen["first"]
    assert {topic[v] for v in seen["near"]} == {topic[seen["first"]]}
    # MiniLM reads the generated titles into the workshop's classes, and the evaluation
    # compares them with the category lens's classes.
    by_video = dict(zip(seen["videos"], seen["text_pred"], strict=True))
    assert by_video[ids[0]] == "Cooking and Food" and by_video[ids[1]] == "Automotive"
    assert by_video[ids[2]] == "Gardening"
    truth = dict(zip(seen["videos"], seen["pred"], strict=True))
    agree = dict(zip(seen["videos"], seen["agree"], strict=True))
    assert all(agree[v] == (truth[v] == by_video[v]) for v in seen["videos"] if truth[v])


@pytest.mark.integration
def test_few_samples_project_with_pca_and_say_so(settings, db, shared_home):
    cfg = _own_dataset(settings, shared_home)
    ids = seed_lenses(db, 6)
    _run(cfg, [json.dumps(ids)], code=CREATE)
    report = _run(cfg, ["brain-fiftyone"])
    qwen = report["lenses"]["qwen_embeddings"]
    assert qwen["projection"] == "pca"
    assert qwen["projection_note"] == "PCA instead of UMAP: 6 samples < 15"
    assert "6 samples < 20" in qwen["representativeness_note"]
    seen = _run(cfg, [], code=INSPECT, extra_env={"DROP": "1"})
    assert seen["runs"]["qwen_viz"]["method"] == "pca"
    assert seen["runs"]["qwen_viz"]["note"] == "PCA instead of UMAP: 6 samples < 15"
    assert "qwen_rep" not in seen["runs"] and seen["with"]["qwen_uniqueness"] == 6
