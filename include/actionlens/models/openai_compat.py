"""Any OpenAI-compatible chat-completions endpoint (vLLM, TGI, SGLang, hosted APIs).

Frames go as base64 JPEG data URLs (a video as its frames, each preceded by its time),
requests overlap up to `concurrency`, and 429/5xx/timeouts/garbled answers are retried
with exponential backoff (honouring Retry-After). A request that still fails returns a
Generation with `error` set, so one bad node never stops a batch.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from actionlens.models.base import ChatRequest, Generation, Image, Message, Usage, Video
from actionlens.settings import ModelSettings, ModelSpec

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class Retryable(Exception):
    """A failure worth another attempt after `delay` seconds (None: use backoff)."""

    def __init__(self, message: str, delay: float | None = None):
        super().__init__(message)
        self.delay = delay


def jpeg_data_url(pixels, quality: int = 90) -> str:
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def content_parts(message: Message) -> str | list[dict[str, Any]]:
    """A message in the chat-completions wire format."""
    if isinstance(message.content, str):
        return message.content
    if all(isinstance(p, str) for p in message.content):
        return "".join(message.content)  # text-only turns as plain strings, as every server takes
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, str):
            parts.append({"type": "text", "text": part})
        elif isinstance(part, Image):
            parts.append({"type": "image_url", "image_url": {"url": jpeg_data_url(part.pixels)}})
        elif isinstance(part, Video):
            times = part.times or tuple(float(i) for i in range(len(part.frames)))
            for t, frame in zip(times, part.frames, strict=True):
                parts.append({"type": "text", "text": f"<{t:.1f} seconds>"})
                parts.append({"type": "image_url", "image_url": {"url": jpeg_data_url(frame)}})
        else:
            raise TypeError(f"unsupported message part {type(part).__name__}")
    return parts


def payload(request: ChatRequest, model_id: str, reasoning_effort: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model_id,
        "messages": [{"role": m.role, "content": content_parts(m)} for m in request.messages],
        "max_tokens": request.max_new_tokens,
        "temperature": 0.0,
    }
    if reasoning_effort:
        body["reasoning_effort"] = reasoning_effort
    return body


def parse_response(data: Any) -> Generation:
    """The text, usage and finish reason of a chat-completions answer; Retryable if garbled."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise TypeError(f"content is {type(text).__name__}")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise Retryable(f"malformed chat-completions answer ({exc!r})") from None
    usage = data.get("usage") or {}
    return Generation(
        text=text,
        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
        finish_reason=choice.get("finish_reason"),
    )


class OpenAIChat:
    """Chat completions over HTTP with bounded concurrency, timeouts and retries."""

    backend = "openai"
    baseline = False
    needs_gpu = False  # the endpoint holds the model
    needs_frames = True

    def __init__(self, spec: ModelSpec, models: ModelSettings):
        self.model_id = spec.model_id
        self.url = (spec.endpoint or models.endpoint).rstrip("/") + "/chat/completions"
        self.api_key = models.api_key
        self.concurrency = models.concurrency
        self.timeout = models.timeout_seconds
        self.retries = models.retries
        self.backoff = models.backoff_seconds
        self.backoff_max = models.backoff_max_seconds
        self.reasoning_effort = models.reasoning_effort
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = None

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        if not requests:
            return []
        # JPEG encoding is CPU work: done once, before the event loop overlaps the waits.
        bodies = [payload(r, self.model_id, self.reasoning_effort) for r in requests]
        if self._loop is None:
            # One loop and one client for the model's life: connections are kept alive
            # across calls (e.g. the turns of a Self-Refine conversation).
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._all(bodies))

    def close(self) -> None:
        if self._loop is not None:
            if self._client is not None:
                self._loop.run_until_complete(self._client.aclose())
            self._loop.close()
        self._loop = self._client = None

    def _http(self):
        import httpx

        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(
                headers=headers,
                limits=httpx.Limits(
                    max_connections=self.concurrency, max_keepalive_connections=self.concurrency
                ),
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 30.0)),
            )
        return self._client

    async def _all(self, bodies: list[dict[str, Any]]) -> list[Generation]:
        client = self._http()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(body: dict[str, Any]) -> Generation:
            async with gate:
                return await self._with_retries(client, body)

        return list(await asyncio.gather(*(one(b) for b in bodies)))

    async def _with_retries(self, client, body: dict[str, Any]) -> Generation:
        started = time.monotonic()
        last = ""
        for attempt in range(self.retries + 1):
            try:
                gen = await self._once(client, body)
                gen.seconds = time.monotonic() - started
                return gen
            except Retryable as exc:
                last = str(exc)
                if attempt == self.retries:
                    break
                delay = exc.delay
                if delay is None:
                    delay = min(self.backoff_max, self.backoff * 2**attempt) * (
                        0.5 + random.random() / 2
                    )
                log.info(
                    "%s: attempt %d failed (%s); retrying in %.2fs",
                    self.url,
                    attempt + 1,
                    last,
                    delay,
                )
                await asyncio.sleep(min(delay, self.backoff_max))
            except _Fatal as exc:
                last = str(exc)
                break
        return Generation(
            text="", finish_reason="error", error=last, seconds=time.monotonic() - started
        )

    async def _once(self, client, body: dict[str, Any]) -> Generation:
        import httpx

        try:
            resp = await client.post(self.url, json=body)
        except httpx.TimeoutException as exc:
            raise Retryable(f"timed out after {self.timeout}s ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Retryable(f"could not reach {self.url} ({type(exc).__name__}: {exc})") from None
        if resp.status_code in RETRY_STATUS:
            raise Retryable(f"HTTP {resp.status_code}: {resp.text[:200]}", _retry_after(resp))
        if resp.status_code >= 400:
            raise _Fatal(f"HTTP {resp.status_code} from {self.url}: {resp.text[:300]}")
        try:
            data = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Retryable(f"answer is not JSON: {resp.text[:120]!r}") from None
        return parse_response(data)


class _Fatal(Exception):
    """A failure another attempt will not fix (4xx other than 408/409/425/429)."""


def _retry_after(resp) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
