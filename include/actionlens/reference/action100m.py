"""Action100M parquet rows → ledger documents and tree nodes, with the tree invariants.

Plain functions (`video_document`, `node_documents`, `check_tree`) take one parquet row
as a dict and return plain data; `import_files` reads files and writes MongoDB. Parquet
is read with DuckDB (typed nested structs, streamed), so no Arrow dependency is needed.
"""

from __future__ import annotations

import logging
import math
import numbers
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from actionlens.errors import InputError
from actionlens.records import new_video_fields, validate_video_id
from actionlens.settings import Settings

log = logging.getLogger(__name__)

SEGMENTER = "action100m"
REFERENCE_SOURCE = "gpt"
NA = "N/A"
GPT_MIN_SECONDS = 4.0
# float32 boundaries: equal within float32 rounding of values up to hours.
TOLERANCE = 1e-3


@dataclass
class VideoReport:
    video_id: str
    nodes: int = 0
    violations: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    files: list[str] = field(default_factory=list)
    videos: int = 0
    nodes: int = 0
    videos_upserted: int = 0
    nodes_written: int = 0
    skipped: list[dict] = field(default_factory=list)
    violations: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "videos": self.videos,
            "nodes": self.nodes,
            "videos_upserted": self.videos_upserted,
            "nodes_written": self.nodes_written,
            "skipped": self.skipped,
            "videos_with_violations": len(self.violations),
            "violations": self.violations,
        }


# ---------------------------------------------------------------- reading parquet


def read_rows(path: str | Path, chunk: int = 256) -> Iterator[dict[str, Any]]:
    """Rows of one Action100M parquet file as dicts (structs → dicts, lists → lists)."""
    import duckdb

    con = duckdb.connect()
    try:
        cur = con.execute("select * from read_parquet(?)", [str(path)])
        names = [d[0] for d in cur.description]
        missing = {"video_uid", "metadata", "nodes"} - set(names)
        if missing:
            raise InputError(f"{path}: not an Action100M file, columns {sorted(missing)} missing")
        while batch := cur.fetchmany(chunk):
            for row in batch:
                yield dict(zip(names, row, strict=True))
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot read as parquet ({exc})") from exc
    finally:
        con.close()


def _local_copy(uri: str, settings: Settings, tmp: Path) -> Path:
    """A local path for `uri`: itself, or a download of a gs:// object."""
    if not uri.startswith("gs://"):
        path = settings.path(uri)
        if not path.is_file():
            raise InputError(f"{uri}: no such file")
        return path
    from actionlens.store.storage import GCSBucket

    bucket, _, key = uri[len("gs://") :].partition("/")
    if not bucket or not key:
        raise InputError(f"{uri}: expected gs://bucket/path/to/file.parquet")
    store = GCSBucket(
        f"gs://{bucket}", endpoint=settings.gcs_endpoint, project=settings.gcs_project
    )
    try:
        return store.download(key, tmp / Path(key).name)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from exc


# ---------------------------------------------------------------- pure conversions


def transcript_segments(entries: list[dict] | None, duration: float | None) -> list[dict]:
    """Start-only transcript entries → {start, end, text}; an entry ends where the next begins."""
    rows = []
    for entry in entries or []:
        if not entry or entry.get("text") is None or entry.get("time") is None:
            continue
        try:
            start = float(entry["time"])
        except (TypeError, ValueError):
            continue
        if not math.isfinite(start) or start < 0:
            continue
        rows.append((start, str(entry["text"])))
    rows.sort(key=lambda r: r[0])
    out = []
    for i, (start, text) in enumerate(rows):
        end = rows[i + 1][0] if i + 1 < len(rows) else max(start, float(duration or start))
        out.append({"start": start, "end": end, "text": text})
    return out


def video_document(row: dict[str, Any]) -> dict[str, Any]:
    """The metadata part of a ledger document for one parquet row."""
    meta = dict(row.get("metadata") or {})
    duration = meta.get("duration")
    return {
        "metadata": {
            "title": meta.get("title"),
            "description": meta.get("description"),
            "view_count": meta.get("view_count"),
            "like_count": meta.get("like_count"),
            "duration": duration,
            "upload_date": meta.get("upload_date"),
        },
        "transcript": {
            "source": SEGMENTER,
            "segments": transcript_segments(meta.get("transcript"), duration),
        },
    }


def _gpt(value: dict | None) -> dict | None:
    if not value:
        return None
    summary = value.get("summary") or {}
    action = value.get("action") or {}
    return {
        "summary": {"brief": summary.get("brief"), "detailed": summary.get("detailed")},
        "action": {
            "brief": action.get("brief"),
            "detailed": action.get("detailed"),
            "actor": action.get("actor"),
        },
    }


def node_documents(video_id: str, nodes: list[dict] | None) -> list[dict[str, Any]]:
    """Tree nodes as `nodes` documents: captions and annotations keyed by source.

    Null texts are left out, so a rerun or another source's write never erases one.
    """
    docs = []
    for node in nodes or []:
        captions = {
            k: v
            for k, v in (("plm", node.get("plm_caption")), ("llama3", node.get("llama3_caption")))
            if v is not None
        }
        actions = {"plm": node["plm_action"]} if node.get("plm_action") is not None else {}
        gpt = _gpt(node.get("gpt"))
        docs.append(
            {
                "_id": node.get("node_id"),
                "video_id": video_id,
                "segmenter": SEGMENTER,
                "parent_id": node.get("parent_id"),
                "level": node.get("level"),
                "start": None if node.get("start") is None else round(float(node["start"]), 4),
                "end": None if node.get("end") is None else round(float(node["end"]), 4),
                "captions": captions,
                "actions": actions,
                "annotations": {REFERENCE_SOURCE: gpt} if gpt else {},
            }
        )
    return docs


_TEXT_FIELDS = ("plm_action", "plm_caption", "llama3_caption")
MAX_PROBLEMS = 5


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def type_problems(row: dict[str, Any]) -> list[str]:
    """Columns of one parquet row whose type is not the released schema's, each naming the
    node and field (checked before anything else reads them)."""
    problems: list[str] = []
    meta = row.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        problems.append(f"metadata is {type(meta).__name__}, expected a struct")
    nodes = row.get("nodes")
    if nodes is None:
        return problems
    if not isinstance(nodes, list | tuple):
        return [*problems, f"nodes is {type(nodes).__name__}, expected a list of structs"]
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            problems.append(f"node #{i} is {type(node).__name__}, expected a struct")
            continue
        name = node.get("node_id")
        where = f"node {name}" if isinstance(name, str) and name else f"node #{i}"
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: node_id is {name!r}, expected text")
        parent = node.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            problems.append(f"{where}: parent_id is {type(parent).__name__}, expected text")
        level = node.get("level")
        if level is not None and (
            not isinstance(level, numbers.Integral) or isinstance(level, bool)
        ):
            problems.append(f"{where}: level is {level!r}, expected an integer")
        for key in ("start", "end"):
            value = node.get(key)
            if value is not None and not _is_number(value):
                problems.append(f"{where}: {key} is {value!r}, expected a finite number")
        for key in _TEXT_FIELDS:
            value = node.get(key)
            if value is not None and not isinstance(value, str):
                problems.append(f"{where}: {key} is {type(value).__name__}, expected text")
        gpt = node.get("gpt")
        if gpt is None:
            continue
        if not isinstance(gpt, dict):
            problems.append(f"{where}: gpt is {type(gpt).__name__}, expected a struct")
            continue
        for group in ("summary", "action"):
            part = gpt.get(group)
            if part is not None and not isinstance(part, dict):
                problems.append(f"{where}: gpt.{group} is {type(part).__name__}, expected a struct")
                continue
            for key, value in (part or {}).items():
                if value is not None and not isinstance(value, str):
                    problems.append(
                        f"{where}: gpt.{group}.{key} is {type(value).__name__}, expected text"
                    )
    if len(problems) > MAX_PROBLEMS:  # a column typed wrong file-wide: say it once per video
        problems = [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more"]
    return problems


def check_tree(nodes: list[dict] | None) -> list[str]:
    """Every violation of the released-tree invariants, as readable sentences."""
    nodes = list(nodes or [])
    if not nodes:
        return ["no nodes"]
    problems: list[str] = []
    by_id: dict[str, dict] = {}
    for i, n in enumerate(nodes):
        nid = n.get("node_id")
        if not nid:
            problems.append(f"node #{i} has no node_id")
            continue
        if nid in by_id:
            problems.append(f"node {nid} is listed twice")
        by_id[nid] = n
        if n.get("start") is None or n.get("end") is None or n.get("level") is None:
            problems.append(f"node {nid} lacks start, end or level")
        elif n["end"] <= n["start"]:
            problems.append(
                f"node {nid} ends at {n['end']:.3f} before it starts at {n['start']:.3f}"
            )
    roots = [n for n in nodes if n.get("parent_id") is None]
    if len(roots) != 1:
        problems.append(f"{len(roots)} roots (nodes without parent_id), expected 1")
    for r in roots:
        if r.get("level") != 0:
            problems.append(f"root {r.get('node_id')} has level {r.get('level')}, expected 0")
        if r.get("start") is not None and abs(r["start"]) > TOLERANCE:
            problems.append(f"root {r.get('node_id')} starts at {r['start']:.3f}, expected 0")
    children: dict[str, list[dict]] = {}
    for n in nodes:
        pid = n.get("parent_id")
        if pid is None:
            continue
        parent = by_id.get(pid)
        if parent is None:
            problems.append(f"node {n.get('node_id')} has unknown parent {pid}")
            continue
        children.setdefault(pid, []).append(n)
        if None not in (n.get("level"), parent.get("level")) and n["level"] != parent["level"] + 1:
            problems.append(
                f"node {n.get('node_id')} has level {n['level']} under a level-{parent['level']} parent"
            )
    for pid, kids in children.items():
        parent = by_id[pid]
        if len(kids) != 2:
            problems.append(f"node {pid} has {len(kids)} children, expected 2")
            continue
        a, b = sorted(kids, key=lambda k: k.get("start") or 0.0)
        if None in (a.get("start"), a.get("end"), b.get("start"), b.get("end")):
            continue
        if (
            abs(a["start"] - parent["start"]) > TOLERANCE
            or abs(a["end"] - b["start"]) > TOLERANCE
            or abs(b["end"] - parent["end"]) > TOLERANCE
        ):
            problems.append(
                f"children of {pid} do not tile [{parent['start']:.3f}, {parent['end']:.3f}]: "
                f"[{a['start']:.3f}, {a['end']:.3f}] + [{b['start']:.3f}, {b['end']:.3f}]"
            )
    keys = [(n.get("level") or 0, n.get("start") or 0.0) for n in nodes]
    if keys != sorted(keys):
        problems.append("nodes are not listed by (level, start)")
    for n in nodes:
        nid = n.get("node_id")
        leaf = nid not in children
        span = (n.get("end") or 0.0) - (n.get("start") or 0.0)
        gpt = n.get("gpt")
        if leaf and gpt:
            problems.append(f"leaf {nid} carries a gpt annotation")
        if not leaf and span >= GPT_MIN_SECONDS and not gpt:
            problems.append(f"node {nid} ({span:.2f} s, not a leaf) has no gpt annotation")
        if not leaf and span < GPT_MIN_SECONDS - TOLERANCE and gpt:
            problems.append(f"node {nid} lasts {span:.2f} s < 4 s but carries a gpt annotation")
        if not leaf and n.get("llama3_caption") is not None:
            problems.append(f"internal node {nid} carries a llama3 caption (leaves only)")
        action = (gpt or {}).get("action") or {}
        na = [action.get(k) == NA for k in ("brief", "detailed", "actor")]
        if any(na) and not all(na):
            problems.append(f"node {nid}: gpt action is 'N/A' in some fields but not all")
    return problems


# ---------------------------------------------------------------- writing


def _write_video(db, video_id: str, row: dict, now: datetime) -> tuple[int, int]:
    from pymongo import UpdateOne

    from actionlens.store.mongo import NODES, VIDEOS

    doc = video_document(row)
    videos = db[VIDEOS]
    upsert = videos.update_one(
        {"_id": video_id},
        {
            "$set": {"metadata": doc["metadata"]},
            # A new id enters the ledger as pending (so acquisition fetches its clip);
            # a known id keeps its state, attempts and clip.
            "$setOnInsert": new_video_fields(now),
        },
        upsert=True,
    )
    # An ASR transcript already attached by acquisition is kept.
    videos.update_one(
        {"_id": video_id, "transcript": {"$exists": False}},
        {"$set": {"transcript": doc["transcript"]}},
    )
    ops = []
    for node in node_documents(video_id, row.get("nodes")):
        if not node["_id"]:
            continue
        fields = {
            k: v for k, v in node.items() if k not in ("_id", "captions", "actions", "annotations")
        }
        for group in ("captions", "actions", "annotations"):
            for source, value in node[group].items():
                fields[f"{group}.{source}"] = value
        ops.append(UpdateOne({"_id": node["_id"]}, {"$set": fields}, upsert=True))
    written = 0
    if ops:
        result = db[NODES].bulk_write(ops, ordered=False)
        written = result.upserted_count + result.modified_count
    return int(upsert.upserted_id is not None), written


def claimed_elsewhere(db, video_id: str, nodes: list[dict]) -> list[str]:
    """Node ids of this tree that another video's tree already uses, as sentences naming
    the node and both videos. Writing them would move the node to this video and cut it
    out of the other tree, so such a video is not written."""
    from actionlens.store.mongo import NODES

    ids = [n.get("node_id") for n in nodes if isinstance(n.get("node_id"), str)]
    if not ids:
        return []
    taken = db[NODES].find(
        {"_id": {"$in": ids}, "video_id": {"$nin": [video_id, None]}},
        {"video_id": 1, "segmenter": 1},
    )
    return [
        f"node {d['_id']} already belongs to video {d['video_id']} "
        f"({d.get('segmenter')}); not moved to {video_id}"
        for d in taken
    ]


def _skip(report: ImportReport, source: str, video_id: str, reasons: list[str], fix: str) -> None:
    report.skipped.append(
        {"file": source, "video_uid": video_id, "reason": "; ".join(reasons) + f" ({fix})"}
    )
    for reason in reasons:
        log.error("%s [%s] %s", source, video_id, reason)


def import_rows(
    db, rows: Iterable[dict[str, Any]], report: ImportReport, source: str = "<rows>"
) -> ImportReport:
    """Upsert each row's video and nodes; violations are reported, never fatal. A row whose
    columns have the wrong types, or whose node ids another video owns, is skipped and
    reported with the file, video and node."""
    now = datetime.now(UTC)
    for row in rows:
        raw_id = row.get("video_uid")
        try:
            video_id = validate_video_id(raw_id)
        except InputError as exc:
            report.skipped.append({"file": source, "video_uid": raw_id, "reason": str(exc)})
            continue
        if wrong := type_problems(row):
            fix = "fix the file's column types to the released schema and import it again"
            _skip(report, source, video_id, wrong, fix)
            continue
        nodes = list(row.get("nodes") or [])
        if taken := claimed_elsewhere(db, video_id, nodes):
            report.violations[video_id] = taken
            fix = "node ids must be unique across videos; fix the file and import it again"
            _skip(report, source, video_id, taken, fix)
            continue
        problems = check_tree(nodes)
        if problems:
            report.violations[video_id] = problems
            for p in problems:
                log.warning("[%s] %s", video_id, p)
        upserted, written = _write_video(db, video_id, row, now)
        report.videos += 1
        report.nodes += len(nodes)
        report.videos_upserted += upserted
        report.nodes_written += written
    return report


def import_files(settings: Settings, uris: list[str]) -> ImportReport:
    """Import Action100M parquet files (local paths or gs:// URIs) into MongoDB."""
    from actionlens.store.mongo import connect

    db = connect(settings)
    report = ImportReport()
    with tempfile.TemporaryDirectory(prefix="actionlens-a100m-") as tmp:
        for uri in uris:
            path = _local_copy(uri, settings, Path(tmp))
            import_rows(db, read_rows(path), report, uri)
            report.files.append(uri)
            log.info("imported %s: %d videos so far", uri, report.videos)
    return report
