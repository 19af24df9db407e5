"""The `transformers` backend: the real Qwen3-VL code on a tiny random-weight checkpoint,
from frames to decoded text, loaded offline from a local directory like real weights."""

from __future__ import annotations

import numpy as np
import pytest

from actionlens.models import ChatRequest, Image, Video, assistant, load_model, user
from actionlens.settings import ModelSettings, ModelSpec


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    from actionlens.testing.tiny import save_tiny_qwen3vl

    path = save_tiny_qwen3vl(tmp_path_factory.mktemp("weights") / "tiny-qwen3-vl")
    spec = ModelSpec(backend="transformers", model_id="tiny-qwen3-vl", weights=str(path))
    return load_model(spec, ModelSettings(device="cpu", batch_size=4))


def test_frames_to_decoded_text_in_one_batch(tiny_qwen):
    rng = np.random.default_rng(0)
    image = Image(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    video = Video(
        rng.integers(0, 255, (32, 320, 320, 3), dtype=np.uint8), tuple(i / 8 for i in range(32))
    )
    gens = tiny_qwen.generate(
        [
            ChatRequest([user(image, "describe this image in detail")], max_new_tokens=6),
            ChatRequest([user(video, "describe this video in detail")], max_new_tokens=6),
        ]
    )
    assert [g.ok for g in gens] == [True, True]
    assert all(isinstance(g.text, str) for g in gens)
    # 32 frames become 16 temporal patches, each with its own vision tokens and timestamp.
    assert gens[1].usage.prompt_tokens > 16 * 4 + gens[0].usage.prompt_tokens
    assert all(1 <= g.usage.completion_tokens <= 6 for g in gens)


def test_text_only_multi_turn_conversation_runs(tiny_qwen):
    request = ChatRequest([user("draft"), assistant('{"a": 1}'), user("revise")], max_new_tokens=3)
    [gen] = tiny_qwen.generate([request])
    assert gen.ok and gen.finish_reason in ("stop", "length")
    assert gen.usage.completion_tokens <= 3


def test_each_request_keeps_its_own_token_budget(tiny_qwen):
    gens = tiny_qwen.generate([ChatRequest([user("a")], max_new_tokens=n) for n in (2, 9, 2)])
    assert [g.usage.completion_tokens <= n for g, n in zip(gens, (2, 9, 2), strict=True)] == [
        True
    ] * 3


def test_missing_weights_directory_is_a_configuration_error(tmp_path):
    from actionlens.errors import ConfigurationError

    spec = ModelSpec(backend="transformers", model_id="Qwen/Qwen3-VL-4B-Instruct")
    with pytest.raises(ConfigurationError, match="no weights for"):
        load_model(spec, ModelSettings(weights_dir=str(tmp_path)))
