"""`make demo`: the platform end to end on the embedded default, offline.

Generates six synthetic clips with distinct scenes plus a HowTo100M-shaped manifest and
transcripts, serves them on loopback as the video source, runs every DAG through Airflow
(`airflow dags test`) in pipeline order, imports a generated Action100M-schema reference
(`gpt`, with actions) for the clips before the second opinions, and prints what each
stage stored, the workshop's tag counts and the results of one text search. What the
clips' narrators say and how their references are written varies per clip
(`actionlens.demo_inputs`), so every workshop tag appears.

It works in the same home as `make up` (`var/` unless ACTIONLENS_HOME says otherwise) and
writes its settings (source, reference, pairs) to the home's settings file, so `make up`
afterwards shows its runs, marts and FiftyOne samples, and serves its source.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from actionlens.airflow_env import airflow_environment
from actionlens.demo_inputs import STORIES, speech_lines, write_reference
from actionlens.devstack import Stack, home_settings, port_free, preflight, write_home_settings
from actionlens.media import ffmpeg_binary
from actionlens.serve import StaticServer
from actionlens.settings import REPO_ROOT, child_environment, get_settings
from actionlens.telemetry import TELEMETRY_OFF
from actionlens.testing.media import make_source

# In pipeline order; each is skipped if its DAG file is not there.
DEMO_DAGS = ["howto100m_acquire", "tree_of_captions", "second_opinions", "agreement"]
IMPORT_BEFORE = "second_opinions"
WORKSHOP_TAGS = [
    "qwen_agrees",
    "molmo_agrees",
    "triple_agreement",
    "triple_disagreement",
    "qwen_only",
    "molmo_only",
    "paraphrase",
]
SEARCH_QUERY = "a square sliding across a coloured screen"
SHOWN = ("actionlens.progress", "plan:", "ERROR", "Error", "Traceback")


def _run(cmd: list[str], env: dict[str, str], log: Path) -> int:
    """Run a command, keep its whole output in `log`, echo the lines a person wants."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            if any(s in line for s in SHOWN):
                print("   ", line.rstrip(), flush=True)
        return proc.wait()


def _command(args: list[str], env: dict[str, str], pretty: bool = False) -> str:
    """Run `python -m actionlens <args>` and return its JSON result as text."""
    done = subprocess.run(
        [sys.executable, "-m", "actionlens", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        return f"(actionlens {args[0]} failed: {done.stderr.strip()[-500:]})"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return json.dumps(result, indent=2 if pretty else None)


def demo_settings(home: Path, source_dir: Path, reference: str = "gpt") -> dict:
    """What the demo sets in the home's settings file (a person's edits there win).

    The demo imports a generated Action100M reference (`gpt`) and scores against it with
    the default pairs; `reference="ours"` checks our own stage 3 against the two opinions
    instead, for a home that has no reference (the scheduler test).
    """
    agreement: dict = {"reference_source": reference}
    if reference == "ours":
        agreement["pairs"] = [["ours", "qwen3vl"], ["ours", "molmo2"], ["qwen3vl", "molmo2"]]
    return {
        "home": str(home),
        "bucket": str(home / "bucket"),
        "duckdb_path": str(home / "warehouse.duckdb"),
        "acquire": {
            "manifest": str(source_dir / "HowTo100M_v1.csv"),
            "task_ids": str(source_dir / "task_ids.csv"),
            "transcripts": str(source_dir / "raw_caption.json"),
            "batch_size": 2,
        },
        "agreement": agreement,
    }


def print_tag_counts(summary: str) -> None:
    """The workshop's seven tags with their video counts, zeros included."""
    try:
        tags = json.loads(summary)["tags"]
    except (ValueError, KeyError):
        return
    print("\nworkshop tags (videos per tag):")
    for tag in WORKSHOP_TAGS:
        print(f"    {tag:<20} {tags.get(tag, 0)}")


def print_search(env: dict[str, str]) -> None:
    """One text search over the published videos, once the `search` command exists."""
    from actionlens import cli

    cli.build_parser()  # registers every command module's commands
    if "search" not in cli.COMMANDS:
        print("\n(text search: the `search` command is not in this build yet)")
        return
    print(f"\nsearch {SEARCH_QUERY!r}:\n" + _command(["search", SEARCH_QUERY], env, pretty=True))


def _source_port(template: str) -> int:
    """The port the home's settings already name for the source, when it is free."""
    url = urlsplit(template)
    if url.hostname == "127.0.0.1" and url.port and port_free("127.0.0.1", url.port):
        return url.port
    return 0


def main() -> int:
    from actionlens.store.embedded import EmbeddedMongo
    from actionlens.store.mongo import mongo_uri

    settings = home_settings()
    home = settings.home
    if running := Stack(settings).running():
        print(
            f"`make up` runs on {home} ({', '.join(running)}): trigger howto100m_acquire in its "
            "UI, or stop it with `make down` before `make demo`",
            file=sys.stderr,
        )
        return 1
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    source_dir = home / "source"
    src = None
    # scenes.json marks a source made by this demo (an older demo's four clips lack it).
    if not (source_dir / "scenes.json").exists():
        print("generating synthetic clips, manifest and transcripts ...", flush=True)
        src = make_source(
            source_dir,
            ffmpeg=ffmpeg_binary(),
            n_videos=len(STORIES),
            seconds=20.0,
            extra_manifest_ids=1,
            speech=lambda i, scenes: speech_lines(STORIES[i % len(STORIES)], scenes),
        )
    config = write_home_settings(home, demo_settings(home, source_dir), overwrite=False)
    mongo_was_running = settings.mongo_uri or EmbeddedMongo(home / "mongo").running()
    with StaticServer(source_dir / "videos", _source_port(settings.acquire.url_template)) as server:
        template = server.url + "/{video_id}.mp4"
        write_home_settings(home, {"acquire": {"url_template": template}})
        get_settings.cache_clear()
        home_settings()  # ACTIONLENS_CONFIG names it from here on, for this process and children
        env = child_environment(
            TELEMETRY_OFF,
            airflow_environment(home / "airflow"),
            {"ACTIONLENS_HOME": str(home), "ACTIONLENS_MONGO_URI": mongo_uri(get_settings())},
        )
        try:
            code = _pipeline(env, logs, home, source_dir)
        finally:
            if not mongo_was_running:  # leave nothing running that the demo started
                EmbeddedMongo(home / "mongo").stop()
    if src is not None:
        print(f"source videos: {', '.join(src.ids)}")
    if code == 0:
        print(
            f"\nEverything above lives in {home} (settings: {config}). `make up` serves it: "
            "the Airflow UI with these runs, the dashboard, the FiftyOne App and this source."
        )
    return code


def _pipeline(env: dict[str, str], logs: Path, home: Path, source_dir: Path) -> int:
    airflow = [sys.executable, "-m", "airflow"]
    print("migrating the Airflow metadata database ...", flush=True)
    if _run([*airflow, "db", "migrate"], env, logs / "db-migrate.log"):
        print(f"airflow db migrate failed: see {logs / 'db-migrate.log'}")
        return 1
    preflight(env)
    for dag_id in DEMO_DAGS:
        if not (REPO_ROOT / "dags" / f"{dag_id}.py").exists():
            continue
        if dag_id == IMPORT_BEFORE:
            reference = write_reference(source_dir, home / "reference.parquet")
            print("\n== generated Action100M reference (gpt) ==", flush=True)
            print("   ", _command(["import-action100m", str(reference)], env), flush=True)
        print(f"\n== {dag_id} ==", flush=True)
        started = time.monotonic()
        code = _run([*airflow, "dags", "test", dag_id], env, logs / f"{dag_id}.log")
        print(
            f"   {'ok' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f}s "
            f"(full log: {logs / f'{dag_id}.log'})",
            flush=True,
        )
        if code:
            return code
    print("\nledger:", _command(["ledger"], env))
    confidence = _command(["confidence-summary"], env, pretty=True)
    print("\nconfidence summary (warehouse marts):\n" + confidence)
    print_tag_counts(confidence)
    print_search(env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
