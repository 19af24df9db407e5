"""The demo's generated inputs give a confidence map: with the opinion baselines answering
from the clips and transcripts, every workshop tag appears on at least one demo video."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actionlens.demo_inputs import STORIES, duration_of, speech_lines, write_reference
from actionlens.media.frames import FRAME_SIZE, FrameRequest, decode_at, segment_times
from actionlens.models import ChatRequest, Video, user
from actionlens.opinions.baseline import (
    FramesOpinionBaseline,
    TranscriptOpinionBaseline,
    spoken_action,
)
from actionlens.reference.action100m import check_tree, read_rows
from actionlens.settings import ModelSpec
from actionlens.testing.media import make_source
from test_dbt_build import workshop_tags

WORKSHOP_TAGS = {
    "qwen_agrees",
    "molmo_agrees",
    "triple_agreement",
    "triple_disagreement",
    "qwen_only",
    "molmo_only",
    "paraphrase",
}


def test_spoken_action_is_the_first_instruction_or_na():
    assert spoken_action("so first whisk the eggs with a fork, then fry them") == {
        "brief": "whisk the eggs",
        "detailed": "Whisk the eggs with a fork.",
        "actor": "the person speaking",
    }
    assert spoken_action("hello and welcome back")["brief"] == "N/A"


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory, ffmpeg):
    root = tmp_path_factory.mktemp("demo-source")
    src = make_source(
        root,
        ffmpeg=ffmpeg,
        n_videos=len(STORIES),
        seconds=20.0,
        speech=lambda i, scenes: speech_lines(STORIES[i % len(STORIES)], scenes),
    )
    return src, write_reference(root, root / "reference.parquet")


def test_generated_reference_follows_the_action100m_tree_rules(demo_source):
    src, parquet = demo_source
    rows = list(read_rows(parquet))
    assert [r["video_uid"] for r in rows] == src.ids
    for row in rows:
        assert check_tree(row["nodes"]) == []
        root = next(n for n in row["nodes"] if n["parent_id"] is None)
        assert root["end"] == pytest.approx(duration_of(src.scenes[row["video_uid"]]), abs=1e-3)
        assert root["gpt"]["action"]["brief"] != "N/A"  # the reference has actions


def _request(clip, seconds: float, transcript: list[dict]) -> ChatRequest:
    frames = decode_at(
        clip, [FrameRequest(t, (FRAME_SIZE, FRAME_SIZE)) for t in segment_times(0, seconds)]
    )
    video = Video(np.stack(frames))
    return ChatRequest(
        [user(video, "describe")], 256, {"span": (0.0, seconds), "transcript": transcript}
    )


def test_every_workshop_tag_appears_on_a_demo_video(demo_source):
    from actionlens.agreement.lexical import lexical_similarity
    from actionlens.agreement.semantic import Embedder

    src, parquet = demo_source
    captions = json.loads(src.transcripts.read_text())
    qwen = FramesOpinionBaseline(ModelSpec(backend="opinion-frames", model_id="f-baseline"))
    molmo = TranscriptOpinionBaseline(
        ModelSpec(backend="opinion-transcript", model_id="t-baseline")
    )
    embedder = Embedder()
    seen, answered_actions = set(), 0
    for row in read_rows(parquet):
        vid = row["video_uid"]
        root = next(n for n in row["nodes"] if n["parent_id"] is None)
        c = captions[vid]
        transcript = [
            {"start": s, "end": e, "text": t}
            for s, e, t in zip(c["start"], c["end"], c["text"], strict=True)
        ]
        # The baselines see what the opinion stage shows them: frames and the ASR text.
        request = _request(src.videos_dir / f"{vid}.mp4", float(root["end"]), transcript)
        q, m = qwen.answer(request), molmo.answer(request)
        answered_actions += sum(a["action"]["brief"] != "N/A" for a in (q, m))
        ref = root["gpt"]["summary"]["detailed"]
        texts = [q["summary"]["detailed"], m["summary"]["detailed"]]
        (lex_q, lex_m) = (lexical_similarity(ref, t) for t in texts)
        sem_q, sem_m = embedder.similarity([ref, ref], texts).tolist()
        seen |= workshop_tags(lex_q, sem_q, lex_m, sem_m)
    assert seen == WORKSHOP_TAGS
    assert answered_actions >= len(STORIES)  # the baselines answer actions too
