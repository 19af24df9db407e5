"""A crashed worker's videos come back within one lease, and nothing it started outlives
it (issue 12, item 5).

Real workers: `python -m actionlens acquire --videos …` subprocesses against the test's
mongod, a local bucket and a loopback source that can hold a download open (it trickles
until the test opens its gate), killed with SIGKILL once they are seen downloading or
normalising. Leases are 3 s here (120 s by default)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from actionlens.acquire import ledger
from actionlens.acquire.run import Acquirer
from actionlens.lifetime import scratch, sweep_scratch
from actionlens.records import SourceRow
from actionlens.runtime import Outcome, Result, VideoStage, run_stage
from actionlens.settings import child_environment, environment_for
from actionlens.store.mongo import VIDEOS
from actionlens.store.storage import LocalBucket, clip_key
from actionlens.testing.media import Scene, render_clip

pytestmark = pytest.mark.integration

LEASE = 3
HOST = socket.gethostname()


# ------------------------------------------------------------------------ helpers


class _Source:
    """Serves /<id>.mp4 from a folder. An id in `held` is sent at 200 bytes a second
    (with its real Content-Length) until `release(id)`, then the rest at once."""

    def __init__(self, root: Path):
        import http.server

        self.held: dict[str, threading.Event] = {}
        source = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 - stdlib name
                vid = self.path.lstrip("/").split("?")[0].removesuffix(".mp4")
                gate = source.held.get(vid)
                if gate is None or gate.is_set():
                    return super().do_GET()
                data = (root / f"{vid}.mp4").read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                sent = 0
                try:
                    while not gate.is_set() and sent < len(data) - 200:
                        self.wfile.write(data[sent : sent + 200])
                        self.wfile.flush()
                        sent += 200
                        gate.wait(1.0)
                    self.wfile.write(data[sent:])
                except OSError:
                    pass  # the client went away (killed)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hold(self, vid: str) -> None:
        self.held[vid] = threading.Event()

    def release(self, vid: str) -> None:
        self.held[vid].set()

    def __enter__(self):
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        for gate in self.held.values():
            gate.set()
        self.server.shutdown()
        self.server.server_close()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_for(what, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{message} (waited {timeout:g} s)")


def worker(settings, video_id: str, tmpdir: Path) -> subprocess.Popen:
    """A real acquire worker: the CLI in a process of its own, its scratch under tmpdir."""
    env = child_environment(environment_for(settings), {"TMPDIR": str(tmpdir)})
    return subprocess.Popen(
        [sys.executable, "-m", "actionlens", "acquire", "--videos", video_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def scratch_dirs(tmpdir: Path) -> list[Path]:
    return sorted(p for p in tmpdir.iterdir() if p.name.startswith("actionlens-"))


def register(db, *ids: str) -> None:
    rows = [SourceRow(video_id=v, category_1="A", category_2="B", rank=1, task_id="1") for v in ids]
    ledger.register(db[VIDEOS], rows)


def stray_parts(bucket_root: Path) -> list[Path]:
    return sorted(bucket_root.rglob("*.part")) if bucket_root.exists() else []


@pytest.fixture(scope="module")
def clips(tmp_path_factory, ffmpeg):
    root = tmp_path_factory.mktemp("lease-source")
    for vid, seconds in (("killdownld1", 4.0), ("killencode1", 12.0), ("heartbeat01", 4.0)):
        scenes = [Scene(seconds / 2, (200, 40, 40)), Scene(seconds / 2, (40, 70, 200))]
        render_clip(root / f"{vid}.mp4", scenes, ffmpeg=ffmpeg, size=(160, 120))
    return root


@pytest.fixture
def source(clips):
    with _Source(clips) as src:
        yield src


def lease_settings(settings, url: str, **acquire):
    cfg = settings.acquire.model_copy(
        update={
            "url_template": url + "/{video_id}.mp4",
            "clip_seconds": 90.0,
            "lease_seconds": LEASE,
            **acquire,
        }
    )
    return settings.model_copy(update={"acquire": cfg})


def clean_clip(settings, tmp_path: Path, url: str, vid: str) -> dict:
    """The clip facts of an undisturbed run of `vid` (own database and bucket)."""
    import uuid

    from actionlens.store.mongo import connect

    clean = lease_settings(
        settings.model_copy(
            update={"mongo_db": f"t_{uuid.uuid4().hex[:12]}", "bucket": str(tmp_path / "clean")}
        ),
        url,
    )
    db = connect(clean)
    try:
        register(db, vid)
        line = Acquirer(clean, db=db).run([vid]).videos[0]
        assert line.outcome == "done", line.error
        return line.clip
    finally:
        db.client.drop_database(db.name)


# ------------------------------------------------------------------------ kill -9 mid-acquire


def test_a_worker_killed_mid_download_is_taken_over_after_its_lease(settings, db, source, tmp_path):
    vid = "killdownld1"
    register(db, vid)
    source.hold(vid)
    cfg = lease_settings(settings, source.url)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    w1 = worker(cfg, vid, tmpdir)
    try:
        # Seen downloading: its lease on the ledger, bytes in its scratch folder, its
        # download child running.
        doc = wait_for(
            lambda: db[VIDEOS].find_one({"_id": vid, "state": "downloading"}), 60, "no claim"
        )
        assert doc["lease"]["holder"] == f"{HOST}:{w1.pid}"
        folder = wait_for(lambda: scratch_dirs(tmpdir), 30, "no scratch folder")[0]
        assert folder.name.startswith(f"actionlens-w{w1.pid}-{vid}-")
        wait_for(
            lambda: any(f.stat().st_size > 0 for f in folder.rglob("*") if f.is_file()),
            30,
            "no bytes downloaded",
        )
        fetchers = wait_for(lambda: children(w1.pid), 10, "no download child")
    finally:
        w1.send_signal(signal.SIGKILL)
        w1.wait()
    killed = time.monotonic()
    # The download child (and whatever it started) dies with the worker.
    wait_for(lambda: not any(alive(p) for p in fetchers), 5, f"download child {fetchers} lives")
    assert folder.exists()  # nothing ran at the kill: the next batch removes it

    # The lease runs out on its own; the planner's selection and a direct rerun see it.
    videos = db[VIDEOS]
    wait_for(
        lambda: vid in ledger.retry_ids(videos, ledger.now_utc(), 5, LEASE),
        LEASE + 5,
        "the dead worker's video never became retryable",
    )
    retryable_after = time.monotonic() - killed
    source.release(vid)
    t0 = time.monotonic()
    report = finish(worker(cfg, vid, tmpdir))
    rerun = time.monotonic() - t0
    (line,) = report["videos"]
    assert (line["outcome"], line["state"]) == ("done", "stored"), line
    assert line["taken_over_from"] == f"{HOST}:{w1.pid}"
    doc = videos.find_one({"_id": vid})
    assert doc["state"] == "stored" and doc["attempts"] == 2 and "lease" not in doc
    clean = clean_clip(settings, tmp_path, source.url, vid)
    assert (doc["clip"]["sha256"], doc["clip"]["size_bytes"]) == (
        clean["sha256"],
        clean["size_bytes"],
    )
    assert scratch_dirs(tmpdir) == [], "a dead worker's scratch folder outlived the takeover"
    assert stray_parts(Path(cfg.bucket)) == []
    print(f"\nkill -> retryable {retryable_after:.1f} s (lease {LEASE} s); rerun {rerun:.1f} s")


def _slow_ffmpeg(tmp_path: Path, real: str) -> tuple[Path, Path]:
    """The real ffmpeg, reading its input at its native rate (`-re`) when it encodes, so a
    worker can be caught normalising; each encoding ffmpeg writes its pid first."""
    marks = tmp_path / "ffmpeg.pids"
    wrapper = tmp_path / "ffmpeg-slow"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "args = sys.argv[1:]\n"
        "if '-i' in args:\n"
        f"    with open({str(marks)!r}, 'a') as fh:\n"
        "        fh.write(f'{os.getpid()}\\n')\n"
        "    args.insert(args.index('-i'), '-re')\n"
        f"os.execv({real!r}, [{real!r}, *args])\n"
    )
    wrapper.chmod(0o755)
    return wrapper, marks


def test_a_worker_killed_while_ffmpeg_encodes_leaves_no_ffmpeg_folder_or_part(
    settings, db, source, tmp_path, ffmpeg
):
    vid = "killencode1"
    register(db, vid)
    wrapper, marks = _slow_ffmpeg(tmp_path, ffmpeg)
    cfg = lease_settings(settings, source.url)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    w1 = worker(cfg.model_copy(update={"ffmpeg": str(wrapper)}), vid, tmpdir)
    try:
        pids = wait_for(
            lambda: marks.exists() and [int(p) for p in marks.read_text().split()], 60, "no ffmpeg"
        )
        assert all(alive(p) for p in pids)
        assert w1.pid in {int(Path(f"/proc/{p}/stat").read_text().split()[3]) for p in pids}
    finally:
        w1.send_signal(signal.SIGKILL)
        w1.wait()
    wait_for(lambda: not any(alive(p) for p in pids), 5, f"ffmpeg {pids} outlived its worker")
    assert [p.name.split("-")[1] for p in scratch_dirs(tmpdir)] == [f"w{w1.pid}"]
    # What an upload killed between its temp copy and its link leaves in a local bucket
    # (a copy of a few kB cannot be caught half-way on cue, so it is made here as
    # LocalBucket.upload makes it).
    bucket = Path(cfg.bucket)
    part = bucket / "clips" / f".{vid}.mp4.x1y2z3.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"")

    wait_for(
        lambda: vid in ledger.retry_ids(db[VIDEOS], ledger.now_utc(), 5, LEASE),
        LEASE + 5,
        "never retryable",
    )
    report = finish(worker(cfg, vid, tmpdir))
    (line,) = report["videos"]
    assert (line["outcome"], line["state"]) == ("done", "stored"), line
    assert line["taken_over_from"] == f"{HOST}:{w1.pid}"
    assert stray_parts(bucket) == [] and scratch_dirs(tmpdir) == []
    clean = clean_clip(settings, tmp_path, source.url, vid)
    doc = db[VIDEOS].find_one({"_id": vid})
    assert (doc["clip"]["sha256"], doc["clip"]["size_bytes"]) == (
        clean["sha256"],
        clean["size_bytes"],
    )


# ------------------------------------------------------------------------ a live worker


def test_a_live_worker_keeps_its_lease_past_lease_seconds_and_a_second_worker_skips(
    settings, db, source, tmp_path
):
    vid = "heartbeat01"
    register(db, vid)
    source.hold(vid)
    cfg = lease_settings(settings, source.url)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    w1 = worker(cfg, vid, tmpdir)
    try:
        first = wait_for(
            lambda: db[VIDEOS].find_one({"_id": vid, "state": "downloading"}), 60, "no claim"
        )
        time.sleep(3 * LEASE)  # three leases: only the heartbeat keeps it
        doc = db[VIDEOS].find_one({"_id": vid})
        assert doc["state"] == "downloading"
        assert doc["lease"]["token"] == first["lease"]["token"]
        assert doc["lease"]["until"] > ledger.now_utc()
        assert doc["lease"]["heartbeat_at"] > first["lease"]["heartbeat_at"]
        assert vid not in ledger.retry_ids(db[VIDEOS], ledger.now_utc(), 5, LEASE)
        # A second worker meanwhile: skipped, naming the holder.
        t0 = time.monotonic()
        line = Acquirer(cfg, db=db).run([vid]).videos[0]
        print(f"\nrerun meeting a live lease: skipped in {time.monotonic() - t0:.2f} s")
        assert line.outcome == Outcome.SKIPPED
        assert line.holder == f"{HOST}:{w1.pid}"
        assert f"held by {HOST}:{w1.pid}" in line.error
        source.release(vid)
        report = finish(w1)
    finally:
        if w1.poll() is None:
            w1.kill()
            w1.wait()
    (done,) = report["videos"]
    assert (done["outcome"], done["state"]) == ("done", "stored"), done
    assert "taken_over_from" not in done
    doc = db[VIDEOS].find_one({"_id": vid})
    assert doc["state"] == "stored" and doc["attempts"] == 1 and "lease" not in doc


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_holder(settings, db, tmp_path):
    vid = "lostlease01"
    register(db, vid)
    cfg = lease_settings(settings, "http://127.0.0.1:9")
    slow, quick = Acquirer(cfg, db=db), Acquirer(cfg, db=db)
    slow.worker, quick.worker = "node-a:1", "node-b:2"
    assert slow.claim(vid) is None
    # The slow worker's store stopped answering for longer than a lease: it expired.
    past = ledger.now_utc() - timedelta(seconds=1)
    db[VIDEOS].update_one({"_id": vid}, {"$set": {"lease.until": past}})
    assert quick.claim(vid) is None
    assert slow.renew(vid) is False
    lost = slow.release(vid, Result(Outcome.FAILED, "boom", {"state": "failed"}))
    assert lost.outcome == Outcome.SKIPPED and lost.facts["holder"] == "node-b:2"
    assert "taken over by node-b:2" in lost.error
    doc = db[VIDEOS].find_one({"_id": vid})
    assert doc["state"] == "downloading" and doc["lease"]["holder"] == "node-b:2"
    assert doc["attempts"] == 2
    assert quick.renew(vid) is True


# ------------------------------------------------------------------------ pieces


def test_claim_takes_over_only_an_expired_lease_and_renew_keeps_it(db):
    videos = db[VIDEOS]
    register(db, "aaaaaaaaaa1")
    now = ledger.now_utc()
    first = ledger.claim(videos, "aaaaaaaaaa1", now, 60, holder="host-a:10")
    assert "taken_over" not in first and first["lease"]["holder"] == "host-a:10"
    assert ledger.claim(videos, "aaaaaaaaaa1", now + timedelta(seconds=59), 60) is None
    # Renewed at 50 s: live until 110 s, not 60.
    token = first["lease"]["token"]
    assert ledger.renew(videos, "aaaaaaaaaa1", token, 60, now + timedelta(seconds=50))
    assert ledger.retry_ids(videos, now + timedelta(seconds=100), 5, 60) == []
    assert ledger.claim(videos, "aaaaaaaaaa1", now + timedelta(seconds=100), 60) is None
    later = now + timedelta(seconds=111)
    assert ledger.retry_ids(videos, later, 5, 60) == ["aaaaaaaaaa1"]
    second = ledger.claim(videos, "aaaaaaaaaa1", later, 60, holder="host-b:20")
    assert second["taken_over"]["holder"] == "host-a:10" and second["attempts"] == 2
    assert not ledger.renew(videos, "aaaaaaaaaa1", token, 60, later)
    with pytest.raises(ledger.LeaseLost, match="host-b:20"):
        ledger.mark_stored(videos, "aaaaaaaaaa1", _clip(), token=token)
    ledger.mark_unavailable(videos, "aaaaaaaaaa1", "404", token=second["lease"]["token"])
    doc = videos.find_one({"_id": "aaaaaaaaaa1"})
    assert doc["state"] == "unavailable" and "lease" not in doc


def _clip():
    from actionlens.records import ClipFacts

    return ClipFacts(
        uri="clips/x.mp4",
        sha256="0" * 64,
        size_bytes=1,
        duration=1.0,
        fps=30.0,
        width=2,
        height=2,
        video_codec="h264",
        pix_fmt="yuv420p",
    )


class _Leased(VideoStage):
    name = "leased"
    version = "1"
    heartbeat_seconds = 0.05

    def __init__(self, keep: bool = True):
        self.keep = keep
        self.renewals: list[tuple[str, float]] = []
        self.released_at: dict[str, float] = {}

    def renew(self, video_id):
        self.renewals.append((video_id, time.monotonic()))
        return self.keep

    def process(self, video_id):
        time.sleep(0.4)
        return Result(Outcome.DONE)

    def release(self, video_id, result):
        self.released_at[video_id] = time.monotonic()


def test_the_runner_renews_a_claim_while_its_video_works_and_stops_at_release():
    stage = _Leased()
    run_stage(stage, ["aaaaaaaaaa1", "aaaaaaaaaa2"])
    for vid in ("aaaaaaaaaa1", "aaaaaaaaaa2"):
        beats = [t for v, t in stage.renewals if v == vid]
        assert len(beats) >= 3, stage.renewals
        assert max(beats) <= stage.released_at[vid]


def test_a_lost_lease_is_not_renewed_again(caplog):
    stage = _Leased(keep=False)
    with caplog.at_level(logging.WARNING):
        run_stage(stage, ["aaaaaaaaaa1"])
    assert len(stage.renewals) == 1
    assert "lease lost to another worker" in caplog.text


def test_scratch_folders_of_dead_workers_are_swept(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"actionlens-w{dead.pid}-abcdefghijk-x1"
    (gone / "sub").mkdir(parents=True)
    (gone / "sub" / "source.mp4.part").write_bytes(b"x" * 10)
    other = tmp_path / "actionlens-plan-x1"  # not a worker's scratch folder: left alone
    other.mkdir()
    with scratch("abcdefghijk") as mine:
        assert Path(mine).name.startswith(f"actionlens-w{os.getpid()}-abcdefghijk-")
        assert sweep_scratch() == [gone]
        assert Path(mine).exists() and other.exists()


def test_a_reused_pid_does_not_keep_a_dead_workers_folder(tmp_path):
    # A live process (this test's parent) and a folder carrying its pid: made after the
    # process started, it may be its own; made before, the pid was reused after the
    # folder's real owner died.
    folder = tmp_path / f"actionlens-w{os.getppid()}-abcdefghijk-x1"
    folder.mkdir()
    made = time.time() + 3600
    os.utime(folder, (made, made))
    assert sweep_scratch(tmp_path) == []
    os.utime(folder, (1, 1))
    assert sweep_scratch(tmp_path) == [folder]


def test_local_bucket_discards_only_the_keys_partial_copies(tmp_path):
    bucket = LocalBucket(tmp_path / "b")
    key = clip_key("abcdefghijk")
    parts = tmp_path / "b" / "clips"
    parts.mkdir(parents=True)
    mine = parts / ".abcdefghijk.mp4.q1w2e3.part"
    other = parts / ".zzzzzzzzzzz.mp4.q1w2e3.part"
    mine.write_bytes(b"")
    other.write_bytes(b"12")
    assert bucket.discard_partial(key) == [str(mine)]
    assert not mine.exists() and other.exists()


def test_a_process_group_leader_takes_its_group_down_with_its_parent(tmp_path):
    """The download child's guard: when the worker dies, the child (leader of its own
    group, so the deadline can kill it whole) kills its group, grandchildren included —
    the ffmpeg yt-dlp starts for a site's section download is one."""
    pids = tmp_path / "pids"
    child = (
        "import os, subprocess, sys\n"
        "from actionlens.lifetime import group_dies_with_parent\n"
        "group_dies_with_parent(int(sys.argv[1]))\n"
        "grand = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{grand.pid}}')\n"
        "grand.wait()\n"
    )
    parent = (
        "import os, subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', sys.argv[1], str(os.getpid())],"
        " start_new_session=True)\n"
        "time.sleep(300)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", parent, child])
    try:
        found = wait_for(
            lambda: pids.exists() and len(pids.read_text().split()) == 2 and pids.read_text(),
            30,
            "no child",
        ).split()
        started = [int(p) for p in found]
        assert all(alive(p) for p in started)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    wait_for(lambda: not any(alive(p) for p in started), 5, f"{started} outlived the worker")
