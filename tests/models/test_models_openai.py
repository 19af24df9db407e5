"""The `openai` backend against a chat-completions server on loopback."""

from __future__ import annotations

import time

import numpy as np
import pytest

from actionlens.models import ChatRequest, Image, Video, load_model, user
from actionlens.settings import ModelSettings, ModelSpec
from actionlens.testing.loopback import LoopbackServer, count_images

pytestmark = pytest.mark.integration  # mongod and/or HTTP on loopback


def model_for(url: str, **overrides):
    values = {
        "endpoint": url,
        "api_key": "test-key",
        "retries": 3,
        "backoff_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "timeout_seconds": 5,
        **overrides,
    }
    settings = ModelSettings(**values)
    return load_model(ModelSpec(backend="openai", model_id="org/vlm-1.5"), settings)


def frames(n: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, size, size, 3), dtype=np.uint8)


def test_request_carries_frames_as_jpeg_data_urls_and_usage_is_recorded():
    with LoopbackServer() as srv:
        video = Video(frames(4), times=(0.0, 0.5, 1.0, 1.5))
        request = ChatRequest([user(Image(frames(1)[0]), video, "describe")], max_new_tokens=64)
        [gen] = model_for(srv.url).generate([request])
    assert srv.problems == []
    body = srv.requests[0]
    assert body["model"] == "org/vlm-1.5" and body["max_tokens"] == 64
    assert count_images(body) == 5
    assert gen.ok and gen.text.startswith("echo:")
    assert gen.usage.prompt_tokens > 0 and gen.usage.completion_tokens > 0
    assert gen.finish_reason == "stop"


def test_429_and_500_are_retried_until_success():
    with LoopbackServer(script=["429", "500", "ok"]) as srv:
        [gen] = model_for(srv.url).generate([ChatRequest([user("hi")])])
    assert gen.ok and len(srv.requests) == 3


def test_garbage_answers_are_retried_then_reported_as_errors():
    with LoopbackServer(script=["garbage", "garbled", "garbage", "garbled"]) as srv:
        [gen] = model_for(srv.url).generate([ChatRequest([user("hi")])])
    assert not gen.ok and gen.finish_reason == "error"
    assert "malformed" in gen.error or "not JSON" in gen.error
    assert len(srv.requests) == 4  # first try + 3 retries


def test_a_slow_answer_times_out_and_is_retried():
    with LoopbackServer(script=["slow:1.0"]) as srv:
        [gen] = model_for(srv.url, timeout_seconds=0.3).generate([ChatRequest([user("hi")])])
    assert gen.ok and len(srv.requests) == 2


def test_client_errors_are_not_retried():
    with LoopbackServer() as srv:
        [gen] = model_for(srv.url).generate([ChatRequest([user("hi")], max_new_tokens=0)])
    assert not gen.ok and "HTTP 400" in gen.error and len(srv.requests) == 1


def test_unreachable_endpoint_gives_errors_not_exceptions():
    model = model_for("http://127.0.0.1:9/v1")
    [gen] = model.generate([ChatRequest([user("hi")])])
    assert not gen.ok and "could not reach" in gen.error


def test_requests_overlap_up_to_the_concurrency_limit():
    with LoopbackServer(latency=0.2) as srv:
        started = time.monotonic()
        gens = model_for(srv.url, concurrency=4).generate(
            [ChatRequest([user(f"{i}")]) for i in range(8)]
        )
        elapsed = time.monotonic() - started
    assert all(g.ok for g in gens)
    assert [g.text for g in gens] == [f"echo: {i}" for i in range(8)]  # order kept
    assert srv.max_in_flight == 4
    assert elapsed < 0.2 * 8 * 0.6


@pytest.mark.parametrize("name", ["transcript", "extractive", "openai", "qwen3vl"])
def test_backends_are_registered_by_name(name):
    from actionlens.models.registry import backend_class

    assert backend_class(name).backend == name


def test_the_qwen3vl_backends_old_name_still_loads_it():
    from actionlens.models.registry import backend_class

    assert backend_class("transformers") is backend_class("qwen3vl")


def test_unknown_backend_names_the_known_ones():
    from actionlens.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="openai"):
        load_model(ModelSpec(backend="nope", model_id="x"), ModelSettings())
