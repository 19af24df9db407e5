"""Text → video search: ranking on real text with the shipped MiniLM (transcript lens),
shapes through a tiny random Qwen3-VL-Embedding's text tower, the CLI's output, and the
errors for an empty query or an unknown lens."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from actionlens.errors import InputError
from actionlens.lenses.backends import LensInput, load_lens
from actionlens.lenses.search import choose_lens, rank, render, search
from actionlens.models.base import Video
from actionlens.settings import LensSpec, environment_for
from actionlens.store.mongo import LENSES, VIDEOS

TRANSCRIPTS = {
    "searchVid01": (
        "Fluffy pancakes",
        "Now pour the batter into the hot pan and wait for bubbles.",
    ),
    "searchVid02": ("Brake pads", "Loosen the caliper bolts and slide out the worn brake pads."),
    "searchVid03": ("Tomato beds", "Dig a hole, set the tomato seedling in and water it well."),
    "searchVid04": ("Dog grooming", "Brush the dog's coat from the neck down to the tail."),
}


def store_vectors(db, spec: LensSpec, vectors: dict[str, np.ndarray], titles: dict[str, str]):
    db[VIDEOS].insert_many([{"_id": v, "metadata": {"title": titles.get(v)}} for v in vectors])
    db[LENSES].insert_many(
        [
            {
                "_id": f"{vid}:{spec.lens}",
                "video_id": vid,
                "lens": spec.lens,
                "model_id": spec.model_id,
                "status": "ok",
                "dim": len(v),
                "vector": [float(x) for x in v],
            }
            for vid, v in vectors.items()
        ]
    )


@pytest.fixture
def transcript_index(settings, db):
    spec = next(s for s in settings.opinions.lenses if s.lens == "transcript")
    backend = load_lens(spec, settings)
    texts = [t for _, t in TRANSCRIPTS.values()]
    vectors = dict(zip(TRANSCRIPTS, backend.embed_texts(texts), strict=True))
    store_vectors(db, spec, vectors, {v: title for v, (title, _) in TRANSCRIPTS.items()})
    return backend


def test_minilm_ranks_the_video_that_talks_about_it_first(settings, db, transcript_index):
    found = search(settings, "pour batter", k=2, db=db, backend=transcript_index)
    assert found["lens"] == "transcript" and found["space"] == "text"
    assert "what is said" in found["searches"]  # the CPU default is named as such
    assert [r["video_id"] for r in found["results"]][0] == "searchVid01"
    assert len(found["results"]) == 2 and found["videos_searched"] == 4
    top, second = found["results"]
    assert top["title"] == "Fluffy pancakes" and top["score"] > second["score"]
    assert top["url"] is None  # not published to FiftyOne in this test
    assert search(settings, "replace worn brakes", k=1, db=db, backend=transcript_index)["results"][
        0
    ]["video_id"] == ("searchVid02")
    text = render(found)
    assert "1. " in text and "Fluffy pancakes" in text and "(not published to FiftyOne)" in text


def test_empty_query_and_unknown_lens_fail_with_the_searchable_lenses(settings, db):
    for query in ("", "   "):
        with pytest.raises(InputError, match=r"query is empty.*transcript \(all-MiniLM-L6-v2"):
            search(settings, query, db=db)
    with pytest.raises(InputError, match=r"unknown lens 'nope'.*transcript \(all-MiniLM-L6-v2"):
        search(settings, "pour batter", lens="nope", db=db)
    with pytest.raises(InputError, match=r"'visual' \(visual has no text side\)"):
        choose_lens(settings, "visual")
    with pytest.raises(InputError, match="--k must be at least 1"):
        search(settings, "pour batter", k=0, db=db)


def test_rank_orders_by_cosine_and_checks_the_dimension():
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    assert [v for v, _ in rank(np.array([0.0, 2.0]), ["a", "b", "c"], vectors, 2)] == ["c", "b"]
    with pytest.raises(InputError, match="query vector has 3 dimensions, the lens's videos 2"):
        rank(np.ones(3), ["a", "b", "c"], vectors, 2)


def _cli(settings, *args):
    env = {**os.environ, **environment_for(settings)}
    env.pop("AIRFLOW_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "actionlens", "search", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.integration
def test_cli_prints_titles_scores_and_links(settings, db, transcript_index):
    from actionlens.publish.dataset import record_samples

    # What publish-fiftyone records for the pancake video.
    record_samples(
        settings, "actionlens", ["searchVid01"], {"searchVid01": "65f0c0ffee00000000000001"}
    )
    done = _cli(settings, "pour batter", "--k", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert "through lens transcript (all-MiniLM-L6-v2; transcript lens" in lines[0]
    assert lines[1].strip().startswith("1. ") and "Fluffy pancakes  [searchVid01]" in lines[1]
    assert lines[1].endswith(
        "http://127.0.0.1:5151/datasets/actionlens?id=65f0c0ffee00000000000001"
    )
    assert "(not published to FiftyOne)" in lines[2]
    assert json.loads(lines[-1])["results"][0]["video_id"] == "searchVid01"
    bad = _cli(settings, "pour batter", "--lens", "nope")
    assert bad.returncode == 2
    assert "unknown lens 'nope'" in bad.stderr and "transcript (all-MiniLM-L6-v2" in bad.stderr


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    from actionlens.testing.tiny import save_tiny_qwen3vl

    return save_tiny_qwen3vl(tmp_path_factory.mktemp("weights") / "tiny-qwen3-vl-embedding")


def test_qwen3vl_text_tower_searches_the_video_space(settings, db, tiny_qwen):
    spec = LensSpec(
        lens="qwen3vl_embedding",
        backend="qwen3vl-embedding",
        model_id="tiny-qwen3-vl-embedding",
        weights=str(tiny_qwen),
    )
    cfg = settings.model_copy(
        update={
            "opinions": settings.opinions.model_copy(
                update={"lenses": [*settings.opinions.lenses, spec]}
            )
        }
    )
    cfg.models.batch_size = 2
    backend = load_lens(spec, cfg)
    rng = np.random.default_rng(0)
    items = [
        LensInput(
            f"qwenSearch{i}",
            "",
            Video(rng.integers(0, 255, (8, 64, 64, 3), dtype=np.uint8), tuple(range(8))),
        )
        for i in range(3)
    ]
    videos = backend.embed(items)
    store_vectors(db, spec, {i.video_id: v for i, v in zip(items, videos, strict=True)}, {})
    assert choose_lens(cfg, None).lens == "qwen3vl_embedding"  # text-video before transcript
    found = search(cfg, "pour batter", k=2, db=db, backend=backend)
    assert found["space"] == "text-video" and "what the videos show" in found["searches"]
    assert len(found["results"]) == 2 and found["videos_searched"] == 3
    query = backend.embed_texts(["pour batter"])
    assert query.shape == (1, videos.shape[1])
    scores = {f"qwenSearch{i}": float(videos[i] @ query[0]) for i in range(3)}
    expected = sorted(scores, key=lambda v: -scores[v])[:2]
    assert [r["video_id"] for r in found["results"]] == expected
    assert all(-1.0 <= r["score"] <= 1.0 for r in found["results"])
