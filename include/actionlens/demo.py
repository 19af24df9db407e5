"""`make demo`: the platform end to end on the embedded default, offline.

Generates six synthetic clips with distinct scenes plus a HowTo100M-shaped manifest and
transcripts, serves them on loopback as the video source, runs every DAG through Airflow
(`airflow dags test`) in pipeline order, imports a generated Action100M-schema reference
(`gpt`, with actions) for the clips before the second opinions, and prints what each
stage stored, the workshop's tag counts and (once the `search` command exists) the
results of one text search. What the clips' narrators say and how their references are
written varies per clip (`actionlens.demo_inputs`), so every workshop tag appears.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from actionlens.airflow_env import airflow_environment
from actionlens.demo_inputs import STORIES, speech_lines, write_reference
from actionlens.media import ffmpeg_binary
from actionlens.serve import StaticServer
from actionlens.settings import REPO_ROOT, child_environment
from actionlens.synthetic import make_source

# In pipeline order; each is skipped if its DAG file is not there.
DEMO_DAGS = ["howto100m_acquire", "tree_of_captions", "second_opinions", "agreement"]
# The reference is imported just before this DAG runs, as an Action100M import would be.
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
                print("   ", line.rstrip()[-220:], flush=True)
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


def main() -> int:
    home = REPO_ROOT / "var" / "demo"
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    source_dir = home / "source"
    if not (source_dir / "HowTo100M_v1.csv").exists():
        print("generating synthetic clips, manifest and transcripts ...", flush=True)
    src = (
        make_source(
            source_dir,
            ffmpeg=ffmpeg_binary(),
            n_videos=len(STORIES),
            seconds=20.0,
            extra_manifest_ids=1,
            speech=lambda i, scenes: speech_lines(STORIES[i % len(STORIES)], scenes),
        )
        if not (source_dir / "scenes.json").exists()
        else None
    )
    with StaticServer(source_dir / "videos") as server:
        env = child_environment(
            airflow_environment(home / "airflow"),
            {
                "ACTIONLENS_HOME": str(home),
                "ACTIONLENS_BUCKET": str(home / "bucket"),
                "ACTIONLENS_DUCKDB_PATH": str(home / "warehouse.duckdb"),
                "ACTIONLENS_ACQUIRE__MANIFEST": str(source_dir / "HowTo100M_v1.csv"),
                "ACTIONLENS_ACQUIRE__TASK_IDS": str(source_dir / "task_ids.csv"),
                "ACTIONLENS_ACQUIRE__TRANSCRIPTS": str(source_dir / "raw_caption.json"),
                "ACTIONLENS_ACQUIRE__URL_TEMPLATE": server.url + "/{video_id}.mp4",
                "ACTIONLENS_ACQUIRE__BATCH_SIZE": "2",
                "HF_HUB_OFFLINE": "1",
            },
        )
        airflow = [sys.executable, "-m", "airflow"]
        print("migrating the Airflow metadata database ...", flush=True)
        if _run([*airflow, "db", "migrate"], env, logs / "db-migrate.log"):
            print(f"airflow db migrate failed: see {logs / 'db-migrate.log'}")
            return 1
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
        print("\nThe dashboard_url above is a page of the Airflow UI: `make up` serves it.")
    if src is not None:
        print(f"source videos: {', '.join(src.ids)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
