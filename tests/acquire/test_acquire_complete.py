"""A download cut short is never stored as a complete clip (issue 12, item 1).

A source that hangs up after 40 % of a 20 s clip (no Content-Length: the client cannot
tell) and a file cut after its moov atom both leave a container that claims 20 s and
holds about 8; acquisition must end them `failed` (retryable) with the reason, nothing in
the bucket, and still store the whole clip beside them."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from actionlens.acquire.run import Acquirer
from actionlens.media import decoded_duration, probe
from actionlens.records import SourceRow
from actionlens.store.mongo import VIDEOS
from actionlens.store.storage import LocalBucket
from actionlens.testing.media import Scene, render_clip

pytestmark = pytest.mark.integration

WHOLE, HANGUP, CUT = "wholeclip01", "hangup40pct", "cutaftermoo"
SECONDS = 20.0


class _HangUp(http.server.SimpleHTTPRequestHandler):
    """Serves /<id>.mp4 from `root`; the HANGUP id gets 40 % of its bytes with no
    Content-Length, then the connection closes (a transfer the client cannot check)."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        name = self.path.lstrip("/").split("?")[0]
        if name != f"{HANGUP}.mp4":
            return super().do_GET()
        data = (Path(self.directory) / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.end_headers()
        self.wfile.write(data[: int(len(data) * 0.4)])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="module")
def cut_source(tmp_path_factory, ffmpeg):
    root = tmp_path_factory.mktemp("cut-source")
    scenes = [Scene(SECONDS / 2, (200, 40, 40)), Scene(SECONDS / 2, (40, 70, 200))]
    whole = render_clip(root / f"{WHOLE}.mp4", scenes, ffmpeg=ffmpeg, size=(160, 120))
    data = whole.read_bytes()
    (root / f"{HANGUP}.mp4").write_bytes(data)
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: moov first
    (root / f"{CUT}.mp4").write_bytes(data[: int(len(data) * 0.4)])  # cut after its moov
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_HangUp, directory=str(root))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_cut_downloads_fail_retryable_and_leave_nothing_stored(settings, db, cut_source):
    root, url = cut_source
    # The cut file still *claims* the whole duration: metadata is not the check.
    assert probe(root / f"{CUT}.mp4").duration == pytest.approx(SECONDS, abs=0.1)
    cfg = settings.acquire.model_copy(
        update={"url_template": url + "/{video_id}.mp4", "clip_seconds": 90.0}
    )
    acq = settings.model_copy(update={"acquire": cfg})
    ids = [HANGUP, CUT, WHOLE]
    from actionlens.acquire import ledger

    rows = [SourceRow(video_id=v, category_1="A", category_2="B", rank=1, task_id="1") for v in ids]
    ledger.register(db[VIDEOS], rows)

    report = Acquirer(acq, db=db).run(ids)

    states = {v.video_id: v.state for v in report.videos}
    assert states == {HANGUP: "failed", CUT: "failed", WHOLE: "stored"}, report.videos
    docs = {d["_id"]: d for d in db[VIDEOS].find()}
    for vid in (HANGUP, CUT):
        doc = docs[vid]
        assert doc["state"] == "failed" and doc["next_attempt_at"] is not None, doc
        assert vid in doc["last_error"] and "incomplete" in doc["last_error"]
        assert "20.0" in doc["last_error"], doc["last_error"]  # what the source claimed
        assert "clip" not in doc
    bucket = LocalBucket(acq.bucket_uri())
    assert bucket.list("clips/") == [f"clips/{WHOLE}.mp4"]  # nothing half-stored
    stored = bucket.download(f"clips/{WHOLE}.mp4", root / "stored.mp4")
    assert decoded_duration(stored) == pytest.approx(SECONDS, abs=1.0)


def test_decoded_duration_counts_frames_not_metadata(cut_source):
    root, _ = cut_source
    assert decoded_duration(root / f"{WHOLE}.mp4") == pytest.approx(SECONDS, abs=0.05)
    cut = decoded_duration(root / f"{CUT}.mp4")
    assert cut < 0.5 * SECONDS  # 40 % of the bytes: about 8 of the 20 claimed seconds
