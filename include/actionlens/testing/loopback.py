"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It checks the shape of every request (model, messages, roles, text and JPEG data-URL
parts, max_tokens) and answers with 400 when it is wrong. A script of actions makes it
answer slowly, with 429/500, or with garbage; `respond(body)` chooses the text.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]


def request_problems(body: Any) -> list[str]:
    """What is wrong with a chat-completions request body (empty when it is well formed)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = []
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model must be a non-empty string")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        problems.append("max_tokens must be a positive integer")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages must be a non-empty list"]
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            problems.append(f"messages[{i}] needs a role of system/user/assistant")
            continue
        content = m.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            problems.append(f"messages[{i}].content must be a string or a list of parts")
            continue
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind == "image_url":
                url = (part.get("image_url") or {}).get("url", "")
                prefix = "data:image/jpeg;base64,"
                if not url.startswith(prefix):
                    problems.append(f"messages[{i}].content[{j}] is not a JPEG data URL")
                    continue
                try:
                    raw = base64.b64decode(url[len(prefix) :], validate=True)
                except ValueError:
                    problems.append(f"messages[{i}].content[{j}] is not valid base64")
                    continue
                if raw[:2] != b"\xff\xd8":
                    problems.append(f"messages[{i}].content[{j}] is not a JPEG")
                continue
            problems.append(f"messages[{i}].content[{j}] has an unknown part {kind!r}")
    return problems


def count_images(body: dict[str, Any]) -> int:
    return sum(
        1
        for m in body.get("messages", [])
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if p.get("type") == "image_url"
    )


def echo(body: dict[str, Any]) -> str:
    last = body["messages"][-1]["content"]
    text = last if isinstance(last, str) else " ".join(p.get("text", "") for p in last)
    return f"echo: {text[:80]}"


class LoopbackServer:
    """`with LoopbackServer(latency=0.2) as srv: srv.url` → "http://127.0.0.1:<port>/v1".

    `script` holds actions consumed one per request ("ok", "429", "500", "garbage",
    "garbled", "slow:<seconds>"); when it is empty every request is "ok".
    """

    def __init__(self, respond: Responder = echo, *, latency: float = 0.0, script=()):
        self.respond = respond
        self.latency = latency
        self.script: deque[str] = deque(script)
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> LoopbackServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's
            # algorithm and delayed ACKs would add ~40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                owner._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_action(self) -> str:
        with self._lock:
            return self.script.popleft() if self.script else "ok"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            length = int(h.headers.get("Content-Length") or 0)
            raw = h.rfile.read(length)
            if h.path != "/v1/chat/completions":
                return self._send(h, 404, {"error": {"message": f"no route {h.path}"}})
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                return self._send(h, 400, {"error": {"message": "body is not JSON"}})
            problems = request_problems(body)
            with self._lock:
                self.requests.append(body)
                self.problems += problems
            if problems:
                return self._send(h, 400, {"error": {"message": "; ".join(problems)}})
            action = self._next_action()
            delay = self.latency
            if action.startswith("slow:"):
                delay, action = float(action.split(":", 1)[1]), "ok"
            if delay:
                time.sleep(delay)
            if action in ("429", "500", "503"):
                headers = {"Retry-After": "0"} if action == "429" else {}
                return self._send(
                    h, int(action), {"error": {"message": f"scripted {action}"}}, headers
                )
            if action == "garbage":
                return self._send_raw(h, 200, b"<html>upstream proxy error</html>", "text/html")
            if action == "garbled":
                return self._send(h, 200, {"id": "x", "object": "chat.completion"})
            text = self.respond(body)
            words = len(text.split())
            finish = "length" if words >= body["max_tokens"] else "stop"
            prompt_tokens = sum(len(json.dumps(m["content"])) // 4 for m in body["messages"])
            self._send(
                h,
                200,
                {
                    "id": "chatcmpl-loopback",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": finish,
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": words,
                        "total_tokens": prompt_tokens + words,
                    },
                },
            )
        finally:
            with self._lock:
                self.in_flight -= 1

    def _send(self, h, status: int, data: dict, headers: dict | None = None) -> None:
        self._send_raw(h, status, json.dumps(data).encode(), "application/json", headers)

    @staticmethod
    def _send_raw(h, status: int, raw: bytes, ctype: str, headers: dict | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)
