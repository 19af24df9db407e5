"""A quiet static HTTP server on loopback: the demo's stand-in for YouTube."""

from __future__ import annotations

import functools
import http.server
import threading
from collections import Counter
from pathlib import Path


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        super().do_GET()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    hits: Counter

    def handle_error(self, request, client_address) -> None:
        # yt-dlp opens a URL, reads its head and hangs up: not an error worth printing.
        pass


class StaticServer:
    """Serves `root` at http://127.0.0.1:<port>/ from a background thread."""

    def __init__(self, root: Path, port: int = 0):
        handler = functools.partial(_Handler, directory=str(root))
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.hits = Counter()  # GET requests by path, to prove what was fetched
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def hits(self) -> Counter:
        return self.httpd.hits

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    """`python -m actionlens.serve ROOT [--port N]`: serve until SIGTERM or Ctrl-C
    (`make up` runs the demo's synthetic source this way)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="actionlens.serve", description=main.__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a directory")
    server = StaticServer(args.root, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.httpd.shutdown).start())
    print(f"serving {args.root} at {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
