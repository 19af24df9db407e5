"""The bad-input suite: one test per class of hostile or malformed input from the issue-12
campaign. Each ends in a recorded state (ledger, report or stored object) and an error that
names the input (file, row, video or node) and what to do."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from actionlens.acquire import ledger
from actionlens.cli import build_parser, join_dash_values
from actionlens.records import SourceRow, videos_argument
from actionlens.store.mongo import VIDEOS

pytestmark = pytest.mark.integration

DASH = "-dashstart0"


# ---------------------------------------------------------------- ids that start with "-"


def test_a_batch_argument_with_a_dash_leading_id_parses_as_the_batch():
    # The DAGs build one `--videos=<ids>` argument per batch; argparse takes it whole.
    args = build_parser().parse_args(["acquire", videos_argument([DASH, "AUDIOonly00"])])
    assert args.videos == f"{DASH},AUDIOonly00"


def test_a_person_typing_videos_then_a_dash_leading_id_is_understood_too():
    argv = join_dash_values(["acquire", "--videos", f"{DASH},AUDIOonly00"])
    assert build_parser().parse_args(argv).videos == f"{DASH},AUDIOonly00"


def test_the_acquire_command_runs_a_dash_leading_batch_instead_of_exiting_2(settings, db):
    # Both ids are unknown to the ledger: the command must reach them and say so per id.
    env = {
        "ACTIONLENS_HOME": str(settings.home),
        "ACTIONLENS_MONGO_URI": settings.mongo_uri,
        "ACTIONLENS_MONGO_DB": settings.mongo_db,
        "ACTIONLENS_BUCKET": settings.bucket,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "actionlens", "acquire", "--videos", f"{DASH},AUDIOonly00"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = {o["video_id"]: o for o in json.loads(done.stdout)["videos"]}
    assert set(outcomes) == {DASH, "AUDIOonly00"}
    assert "plan the run first" in outcomes[DASH]["error"]


def test_an_id_that_keeps_failing_does_not_head_every_nights_first_batch(db):
    from actionlens.acquire.manifest import batches

    videos = db[VIDEOS]
    ids = [DASH, "aaaaaaaaaa1", "bbbbbbbbbb1"]
    ledger.register(
        videos,
        [SourceRow(video_id=v, category_1="A", category_2="B", rank=1, task_id="1") for v in ids],
    )
    now = ledger.now_utc()
    # The dash id failed three nights running; the others once.
    for vid, attempts in ((DASH, 3), ("aaaaaaaaaa1", 1), ("bbbbbbbbbb1", 1)):
        videos.update_one(
            {"_id": vid},
            {"$set": {"state": "failed", "attempts": attempts, "next_attempt_at": now}},
        )
    due = ledger.retry_ids(videos, now + timedelta(seconds=1), 5, 3600)
    assert due[-1] == DASH
    assert DASH not in batches(due, 2)[0]


# ---------------------------------------------------------------- a stale mongod.json


def test_mongo_stop_never_signals_a_pid_that_is_not_our_mongod(tmp_path):
    from actionlens.store.embedded import EmbeddedMongo

    root = tmp_path / "mongo"
    root.mkdir()
    # An unrelated process holds the pid a crash left in the file.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (root / "mongod.json").write_text(json.dumps({"pid": bystander.pid, "port": 1}))
        server = EmbeddedMongo(root)
        assert server.running() is False
        assert server.stop() is False
        time.sleep(0.2)
        assert bystander.poll() is None, "mongo stop killed a process that is not our mongod"
        assert not (root / "mongod.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_mongo_stop_refuses_a_mongod_of_another_data_directory(tmp_path):
    from actionlens.store.embedded import EmbeddedMongo

    other = EmbeddedMongo(tmp_path / "other")
    other.start()
    try:
        state = json.loads(other.state_file.read_text())
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "mongod.json").write_text(json.dumps(state))
        assert EmbeddedMongo(mine).stop() is False
        assert other.running(), "stopped the mongod of another data directory"
    finally:
        assert other.stop() is True


# ---------------------------------------------------------------- manifest, task ids


HEADER = "video_id,category_1,category_2,rank,task_id\n"


def _write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_a_rank_out_of_range_is_rejected_per_row_not_wrapped_past_max_rank(tmp_path):
    from actionlens.acquire.manifest import apply_filters, read_manifest

    csv = _write(
        tmp_path / "m.csv",
        HEADER + "aaaaaaaaaa1,A,B,3,1\naaaaaaaaaa2,A,B,18446744073709551617,1\n",
    )
    m = read_manifest(csv)
    assert m.rows["video_id"].tolist() == ["aaaaaaaaaa1"]
    assert m.skipped == {"bad_rank": 1}
    assert m.rejected == [(3, "rank is not a whole number in [0, 2147483647]")]
    assert apply_filters(m, max_rank=5).rows["video_id"].tolist() == ["aaaaaaaaaa1"]


def test_one_non_utf8_byte_rejects_only_its_row_with_its_position(tmp_path):
    from actionlens.acquire.manifest import read_manifest

    data = (HEADER + "aaaaaaaaaa1,A,B,1,1\n").encode() + b"aaaaaaaaaa2,Caf\xe9,B,2,1\n"
    data += b"aaaaaaaaaa3,A,B,3,1\n"
    m = read_manifest(_write(tmp_path / "m.csv", data))
    assert m.rows["video_id"].tolist() == ["aaaaaaaaaa1", "aaaaaaaaaa3"]
    assert m.skipped == {"bad_encoding": 1}
    assert m.rejected == [(3, "byte 0xe9 at column 16 is not UTF-8")]


def test_plan_reports_rejected_rows_with_file_and_line(settings, db, tmp_path):
    from actionlens.acquire.run import plan

    csv = _write(tmp_path / "m.csv", HEADER + "aaaaaaaaaa1,A,B,1,1\naaaaaaaaaa2,A,B,-4,1\n")
    tasks = _write(tmp_path / "t.csv", "1\tMake Tea\n")
    cfg = settings.acquire.model_copy(
        update={"manifest": str(csv), "task_ids": str(tasks), "transcripts": None}
    )
    result = plan(settings.model_copy(update={"acquire": cfg})).as_dict()
    assert result["selected"] == 1
    assert result["rejected"] == [
        {"file": str(csv), "line": 3, "reason": "rank is not a whole number in [0, 2147483647]"}
    ]
    assert db[VIDEOS].find_one({"_id": "aaaaaaaaaa1"})["state"] == "pending"


def test_a_task_ids_file_that_is_not_one_names_the_file_and_line(tmp_path):
    from actionlens.acquire.manifest import read_task_names
    from actionlens.errors import InputError

    bad = _write(tmp_path / "task_ids.csv", b"\x89PNG\r\n\x1a\nnot,a,task,file\n")
    with pytest.raises(InputError, match=r"task_ids .*task_ids\.csv, line 1: byte 0x89"):
        read_task_names(bad)


def test_one_bad_task_ids_line_is_skipped_and_counted(tmp_path):
    from collections import Counter

    from actionlens.acquire.manifest import read_task_names

    path = _write(tmp_path / "t.csv", b"1\tMake Tea\n2\tCaf\xe9 au lait\n3 no tab\n4\tFix a Bike\n")
    skipped: Counter = Counter()
    assert read_task_names(path, skipped) == {"1": "Make Tea", "4": "Fix a Bike"}
    assert skipped == {"bad_task_line": 2}


# ---------------------------------------------------------------- transcripts


def test_transcript_entries_with_nan_inf_reversed_times_or_null_text_are_dropped_and_recorded(
    settings, db, tmp_path
):
    from actionlens.acquire.run import plan

    vid, other = "aaaaaaaaaa1", "aaaaaaaaaa2"
    csv = _write(tmp_path / "m.csv", HEADER + f"{vid},A,B,1,1\n{other},A,B,2,1\n")
    tasks = _write(tmp_path / "t.csv", "1\tMake Tea\n")
    # json.loads reads NaN and Infinity: exactly how such values arrive.
    raw = (
        f'{{"{vid}": {{"start": [0, NaN, 3, 5, 6], "end": [2, 4, Infinity, 4, 7],'
        f' "text": ["boil water", "x", "y", "z", null]}},'
        f' "{other}": {{"start": [0], "end": [1], "text": ["fine"]}}}}'
    )
    captions = _write(tmp_path / "raw_caption.json", raw)
    cfg = settings.acquire.model_copy(
        update={"manifest": str(csv), "task_ids": str(tasks), "transcripts": str(captions)}
    )
    result = plan(settings.model_copy(update={"acquire": cfg})).as_dict()
    assert result["skipped"] == {
        "transcript_bad_time": 2,
        "transcript_end_before_start": 1,
        "transcript_null_text": 1,
    }
    doc = db[VIDEOS].find_one({"_id": vid})["transcript"]
    assert doc["segments"] == [{"start": 0.0, "end": 2.0, "text": "boil water"}]
    assert doc["dropped"] == {"bad_time": 2, "end_before_start": 1, "null_text": 1}
    assert db[VIDEOS].find_one({"_id": other})["transcript"]["segments"][0]["text"] == "fine"


def test_an_oversized_transcript_is_kept_whole_in_the_bucket_and_the_night_goes_on(
    settings, db, tmp_path
):
    from actionlens.acquire.run import plan
    from actionlens.store.storage import open_bucket

    big, small = "bigtranscr1", "smalltrans1"
    csv = _write(tmp_path / "m.csv", HEADER + f"{big},A,B,1,1\n{small},A,B,2,1\n")
    tasks = _write(tmp_path / "t.csv", "1\tMake Tea\n")
    n = 180_000  # ~17 MB of segments: more than one MongoDB document may hold
    text = "stir the sauce slowly until it thickens and coats the back of a spoon well"
    entry = {"start": [i * 0.5 for i in range(n)], "end": [i * 0.5 + 0.5 for i in range(n)]}
    entry["text"] = [f"{i} {text}" for i in range(n)]
    raw = {big: entry, small: {"start": [0], "end": [1], "text": ["hello"]}}
    captions = _write(tmp_path / "raw_caption.json", json.dumps(raw))
    assert captions.stat().st_size > 16 * 1024 * 1024
    cfg = settings.acquire.model_copy(
        update={"manifest": str(csv), "task_ids": str(tasks), "transcripts": str(captions)}
    )
    result = plan(settings.model_copy(update={"acquire": cfg})).as_dict()
    assert result["transcripts"] == 2
    doc = db[VIDEOS].find_one({"_id": big})["transcript"]
    assert doc["complete"] is False and doc["full"]["segments"] == n
    assert doc["segments"] == [
        {"start": i * 0.5, "end": i * 0.5 + 0.5, "text": f"{i} {text}"}
        for i in range(len(doc["segments"]))
    ]
    assert doc["inline_until"] >= settings.acquire.clip_seconds
    bucket = open_bucket(settings.bucket_uri())
    key = doc["full"]["uri"][len(bucket.uri) + 1 :]
    whole = json.loads(bucket.download(key, tmp_path / "whole.json").read_text())
    assert len(whole["segments"]) == n and whole["segments"][-1]["text"] == f"{n - 1} {text}"
    assert db[VIDEOS].find_one({"_id": small})["transcript"]["complete"] is True
    # A rerun of the night converges: the same object, the same ledger document.
    plan(settings.model_copy(update={"acquire": cfg}))
    assert db[VIDEOS].find_one({"_id": big})["transcript"] == doc
    assert len(bucket.list("transcripts/")) == 1


# ---------------------------------------------------------------- Action100M files


def test_action100m_columns_of_the_wrong_type_name_file_video_and_node(
    settings, db, tmp_path, monkeypatch
):
    from actionlens.reference.action100m import import_files
    from actionlens.testing import action100m
    from actionlens.testing.action100m import make_record, write_parquet

    good = make_record("goodvideo01", duration=20.0)
    bad = make_record("badvideo001", duration=20.0)
    bad["nodes"][0]["start"] = "zero"
    # A file whose node `start` column is text, not FLOAT.
    monkeypatch.setitem(
        action100m.COLUMNS,
        "nodes",
        action100m.COLUMNS["nodes"].replace('"start" FLOAT', '"start" VARCHAR'),
    )
    path = write_parquet([good, bad], tmp_path / "a100m.parquet")
    report = import_files(settings, [str(path)]).as_dict()
    assert report["videos"] == 0 and db.nodes.count_documents({}) == 0
    first, second = report["skipped"]
    assert (first["file"], first["video_uid"]) == (str(path), "goodvideo01")
    assert (second["file"], second["video_uid"]) == (str(path), "badvideo001")
    node = bad["nodes"][0]["node_id"]
    assert f"node {node}: start is 'zero', expected a finite number" in second["reason"]
    assert second["reason"].count("expected a finite number") == 5
    assert "more" in second["reason"] and "fix the file's column types" in second["reason"]


def test_importing_a_node_id_another_video_uses_reports_it_and_moves_nothing(
    settings, db, tmp_path
):
    from actionlens.reference.action100m import check_tree, import_files
    from actionlens.testing.action100m import make_record, write_parquet

    first = make_record("firstvideo1", duration=20.0)
    import_files(settings, [str(write_parquet([first], tmp_path / "one.parquet"))])
    before = sorted(db.nodes.find({"video_id": "firstvideo1"}), key=lambda d: d["_id"])
    second = make_record("secondvide1", duration=20.0)
    stolen = first["nodes"][2]["node_id"]
    second["nodes"][2]["node_id"] = stolen
    for n in second["nodes"]:
        if n["parent_id"] == first["nodes"][2]["node_id"]:
            n["parent_id"] = stolen
    report = import_files(settings, [str(write_parquet([second], tmp_path / "two.parquet"))])
    out = report.as_dict()
    message = (
        f"node {stolen} already belongs to video firstvideo1 (action100m); not moved to secondvide1"
    )
    assert out["violations"] == {"secondvide1": [message]}
    assert out["videos_with_violations"] == 1
    assert out["skipped"][0]["video_uid"] == "secondvide1"
    after = sorted(db.nodes.find({"video_id": "firstvideo1"}), key=lambda d: d["_id"])
    assert after == before
    tree = [
        {**d, "node_id": d["_id"], "gpt": (d.get("annotations") or {}).get("gpt")}
        for d in sorted(after, key=lambda d: (d["level"], d["start"]))
    ]
    assert not [p for p in check_tree(tree) if "children" in p]


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"acquire": {"budgt": 10}}, "budgt"),
        ({"agreement": {"embeding_model": "x"}}, "embeding_model"),
        ({"acquire": {"budget": -1}}, "budget"),
        ({"acquire": {"lease_seconds": -60}}, "lease_seconds"),
        ({"acquire": {"max_attempts": 0}}, "max_attempts"),
        ({"acquire": {"batch_size": -2}}, "batch_size"),
        ({"acquire": {"url_template": "https://x/{video_id}?t={start}"}}, "start"),
        ({"acquire": {"url_template": "https://x/{video_id!r}"}}, "bare"),
    ],
)
def test_settings_reject_unknown_nested_keys_negative_limits_and_foreign_placeholders(
    values, named
):
    from pydantic import ValidationError

    from actionlens.settings import Settings

    with pytest.raises(ValidationError, match=named):
        Settings(**values)


def test_an_unknown_nested_key_in_the_environment_is_rejected(monkeypatch):
    from pydantic import ValidationError

    from actionlens.settings import Settings

    monkeypatch.setenv("ACTIONLENS_ACQUIRE__BUDGT", "10")
    with pytest.raises(ValidationError, match="budgt"):
        Settings()


def test_a_literal_brace_in_the_url_template_is_allowed():
    from actionlens.settings import AcquireSettings

    assert AcquireSettings(url_template="https://x/{{v}}/{video_id}").url_template


# ---------------------------------------------------------------- direct reruns


def test_a_direct_acquire_rerun_honours_max_attempts(settings, db):
    from actionlens.acquire.run import Acquirer

    vid = "exhausted01"
    db[VIDEOS].insert_one(
        {"_id": vid, "state": "failed", "attempts": 5, "last_error": "[exhausted01] 503"}
    )
    cfg = settings.acquire.model_copy(update={"max_attempts": 5})
    report = Acquirer(settings.model_copy(update={"acquire": cfg}), db=db).run([vid])
    [outcome] = report.videos
    assert outcome.outcome == "failed"
    assert "5 attempts of acquire.max_attempts=5" in outcome.error
    assert "raise acquire.max_attempts" in outcome.error
    doc = db[VIDEOS].find_one({"_id": vid})
    assert doc["attempts"] == 5 and doc["state"] == "failed"


# ---------------------------------------------------------------- a source that trickles


class _Trickle:
    """An HTTP source that serves files from a folder, except ids containing "slow",
    which it announces as a video and sends at ~10 bytes a second."""

    def __init__(self, root: Path):
        import http.server
        import threading

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 - stdlib name
                if "slow" not in self.path:
                    return super().do_GET()
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                try:
                    for _ in range(10_000):
                        self.wfile.write(b"\0" * 10)
                        self.wfile.flush()
                        time.sleep(1.0)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_trickling_source_fails_its_video_at_the_deadline_and_the_batch_goes_on(
    settings, db, tmp_path, ffmpeg
):
    from actionlens.acquire.run import Acquirer
    from actionlens.testing.media import Scene, render_clip

    slow, good = "slowsource1", "goodsource1"
    videos = tmp_path / "videos"
    videos.mkdir()
    render_clip(videos / f"{good}.mp4", [Scene(2.0, (200, 30, 30))], ffmpeg=ffmpeg)
    rows = [
        SourceRow(video_id=v, category_1="A", category_2="B", rank=1, task_id="1")
        for v in (slow, good)
    ]
    ledger.register(db[VIDEOS], rows)
    deadline = 10  # generous for the good clip on a loaded machine; the slow one needs days
    with _Trickle(videos) as url:
        cfg = settings.acquire.model_copy(
            update={
                "url_template": url + "/{video_id}.mp4",
                "clip_seconds": 2.0,
                "download_deadline_seconds": deadline,
            }
        )
        started = time.monotonic()
        report = Acquirer(settings.model_copy(update={"acquire": cfg}), db=db).run([slow, good])
        took = time.monotonic() - started
    outcome, second = report.videos
    assert outcome.outcome == "failed"
    assert f"did not finish within acquire.download_deadline_seconds={deadline}" in outcome.error
    assert slow in outcome.error and "too slow" in outcome.error
    assert (second.outcome, second.state) == ("done", "stored"), second.error
    assert took < deadline + 40, f"the batch took {took:.0f} s"
    doc = db[VIDEOS].find_one({"_id": slow})
    assert doc["state"] == "failed" and doc["next_attempt_at"] is not None


# ---------------------------------------------------------------- mongod down mid-step


def test_mongod_down_mid_batch_names_the_server_records_the_rest_and_prints_a_result(
    tmp_path, ffmpeg, monkeypatch, capsys
):
    from actionlens import cli
    from actionlens.acquire import fetch
    from actionlens.settings import get_settings
    from actionlens.store.embedded import EmbeddedMongo
    from actionlens.store.mongo import connect
    from actionlens.testing.media import Scene, render_clip

    clip = render_clip(tmp_path / "c.mp4", [Scene(1.0, (20, 200, 20))], ffmpeg=ffmpeg)
    server = EmbeddedMongo(tmp_path / "mongo")
    uri = server.start()
    try:
        port = uri.rsplit(":", 1)[1].strip("/")
        for key, value in {
            "ACTIONLENS_HOME": str(tmp_path / "home"),
            "ACTIONLENS_MONGO_URI": uri,
            "ACTIONLENS_BUCKET": str(tmp_path / "bucket"),
        }.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        ids = ["firstvideo1", "secondvide1", "thirdvideo1"]
        ledger.register(
            connect(get_settings())[VIDEOS],
            [
                SourceRow(video_id=v, category_1="A", category_2="B", rank=1, task_id="1")
                for v in ids
            ],
        )

        def download(video_id, url_template, workdir, **kwargs):
            if video_id == ids[1]:
                server.stop()  # mongod dies while the second video is being fetched
            return Path(clip)

        monkeypatch.setattr(fetch, "download", download)
        code = cli.main(["acquire", videos_argument(ids)])
        out, err = capsys.readouterr()
    finally:
        server.stop()
        get_settings.cache_clear()
    assert code == 3
    assert f"MongoDB at 127.0.0.1:{port} did not answer" in err
    assert "python -m actionlens mongo start" in err and "rerun the step" in err
    result = json.loads(out.strip().splitlines()[-1])
    states = {o["video_id"]: (o["outcome"], o["error"] or "") for o in result["videos"]}
    assert states[ids[0]] == ("done", "")
    assert states[ids[1]][0] == "failed" and "not recorded: MongoDB at" in states[ids[1]][1]
    assert states[ids[2]][0] == "failed" and "not attempted: MongoDB at" in states[ids[2]][1]


# ---------------------------------------------------------------- text the model cannot read


def _detector(languages=("en",), scripts=("Latin",)):
    from actionlens.agreement.language import Coverage, LanguageDetector

    return LanguageDetector(Coverage.of(languages, scripts, 0.05))


def test_unrelated_emoji_strings_and_a_chinese_english_pair_are_flagged():
    det = _detector()
    (emoji_a, emoji_b, covered_emoji), (zh, en, covered_zh), (x, y, covered_en) = det.pairs(
        ["🍳🔥👍", "一个人把面粉倒进碗里然后搅拌", "A woman pours flour into a bowl"],
        ["🎉✨", "A person pours flour into a bowl and stirs", "Someone adds flour to the bowl"],
    )
    assert (emoji_a.language, emoji_a.script, emoji_b.language) == ("zxx", "none", "zxx")
    assert (zh.language, zh.script, en.language) == ("zh", "Han", "en")
    assert (x.language, y.language) == ("en", "en")
    assert (covered_emoji, covered_zh, covered_en) == (False, False, True)


def test_a_multilingual_model_setting_reads_chinese_but_never_emoji():
    det = _detector(languages=("*",), scripts=("*",))
    [(_, _, zh_en), (_, _, emoji)] = det.pairs(
        ["一个人把面粉倒进碗里然后搅拌", "🍳🔥👍"], ["A person pours flour into a bowl", "🎉✨"]
    )
    assert zh_en is True and emoji is False


def test_short_and_placeholder_texts_are_judged_by_their_script():
    det = _detector()
    for text in ("N/A", "3 cups", "whisk"):
        lang = det.one(text)
        assert (lang.language, lang.script) == ("und", "Latin"), text
        assert det.coverage.reads(lang)
    assert det.one("").language is None and det.coverage.reads(det.one(""))


def test_scores_of_unreadable_pairs_are_kept_and_flagged_with_their_languages(settings, db):
    from actionlens.agreement.score import score_videos
    from test_agreement_scores import fake_embedder

    def ann(brief):
        return {"summary": {"brief": brief, "detailed": brief}, "action": {"brief": brief}}

    db.nodes.insert_one(
        {
            "_id": "n1",
            "video_id": "langvideo01",
            "segmenter": "action100m",
            "level": 0,
            "start": 0.0,
            "end": 10.0,
            "annotations": {
                "gpt": ann("🍳🔥👍"),
                "qwen3vl": ann("🎉✨"),
                "molmo2": ann("一个人把面粉倒进碗里然后搅拌"),
            },
        }
    )
    cfg = settings.agreement.model_copy(
        update={"pairs": [("gpt", "qwen3vl"), ("qwen3vl", "molmo2")]}
    )
    result = score_videos(
        settings.model_copy(update={"agreement": cfg}), ["langvideo01"], embedder=fake_embedder()
    )
    assert result["node_rows"] == 10  # nothing dropped: 5 fields x 2 pairs
    emoji = db.scores.find_one({"_id": "n1|summary_brief|gpt|qwen3vl"})
    assert emoji["semantic"] == pytest.approx(1.0)  # what the model says, kept as it is
    assert (emoji["language_a"], emoji["language_b"], emoji["model_covers_pair"]) == (
        "zxx",
        "zxx",
        False,
    )
    assert emoji["language_detector"] == "py3langid-0.4.0"
    zh = db.scores.find_one({"_id": "n1|summary_brief|qwen3vl|molmo2"})
    assert (zh["script_b"], zh["language_b"], zh["model_covers_pair"]) == ("Han", "zh", False)
    # Both texts empty (no actor): the empty-text rule applies, not a language flag.
    actor = db.scores.find_one({"_id": "n1|action_actor|gpt|qwen3vl"})
    assert actor["language_a"] is None and actor["model_covers_pair"] is True
