"""The HowTo100M manifest: read, validate, filter, and pick tonight's ids.

Bad rows are skipped and counted by reason, never fatal; a file that lacks a required
column, or cannot be read, is an InputError naming the file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from actionlens.errors import InputError
from actionlens.records import VIDEO_ID_PATTERN, SourceRow, TranscriptSegment

COLUMNS = ["video_id", "category_1", "category_2", "rank", "task_id"]


@dataclass
class Manifest:
    """Valid rows in file order (video_id unique) and what was skipped, by reason."""

    rows: pd.DataFrame
    skipped: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.rows)

    def source_rows(self, ids: Iterable[str]) -> list[SourceRow]:
        table = self.rows.set_index("video_id", drop=False)
        wanted = [i for i in ids if i in table.index]
        out = []
        for rec in table.loc[wanted].to_dict("records"):
            task_name = rec.get("task_name")
            out.append(
                SourceRow(
                    video_id=rec["video_id"],
                    category_1=rec["category_1"],
                    category_2=rec["category_2"],
                    rank=int(rec["rank"]),
                    task_id=rec["task_id"],
                    task_name=None if pd.isna(task_name) else task_name,
                )
            )
        return out


def read_task_names(path: Path) -> dict[str, str]:
    """`task_ids.csv`: task id, a tab, the WikiHow task name (a header line is allowed)."""
    names: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            task_id, sep, name = line.rstrip("\n").partition("\t")
            if sep and task_id.strip().isdigit():
                names[task_id.strip()] = name.strip()
    return names


def read_manifest(path: Path, task_ids: Path | None = None) -> Manifest:
    """Read `HowTo100M_v1.csv` (header `video_id,category_1,category_2,rank,task_id`)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="skip", engine="c")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest {path}: cannot read it as CSV ({exc})") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"manifest {path}: missing column(s) {missing}; expected header {','.join(COLUMNS)}"
        )
    skipped: Counter = Counter()
    with open(path, "rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    if (malformed := lines - 1 - len(frame)) > 0:
        skipped["malformed_line"] += malformed

    frame = frame[COLUMNS]
    for col in COLUMNS:
        frame[col] = frame[col].str.strip()
    empty = (frame == "").any(axis=1)
    skipped["missing_value"] += int(empty.sum())
    frame = frame[~empty]

    bad_id = ~frame["video_id"].str.fullmatch(VIDEO_ID_PATTERN)
    skipped["bad_video_id"] += int(bad_id.sum())
    frame = frame[~bad_id]

    rank = pd.to_numeric(frame["rank"], errors="coerce")
    bad_rank = rank.isna() | (rank < 0) | (rank != rank.round())
    skipped["bad_rank"] += int(bad_rank.sum())
    frame = frame[~bad_rank].assign(rank=rank[~bad_rank].astype("int64"))

    dup = frame["video_id"].duplicated(keep="first")
    skipped["duplicate_id"] += int(dup.sum())
    frame = frame[~dup]

    if task_ids is not None:
        names = read_task_names(task_ids)
        frame = frame.assign(task_name=frame["task_id"].map(names))
    else:
        frame = frame.assign(task_name=pd.NA)
    return Manifest(frame.reset_index(drop=True), Counter({k: v for k, v in skipped.items() if v}))


def apply_filters(
    manifest: Manifest, categories: Sequence[str] = (), max_rank: int | None = None
) -> Manifest:
    """Keep rows whose first or second category is listed, with rank ≤ max_rank."""
    rows = manifest.rows
    if categories:
        wanted = set(categories)
        rows = rows[rows["category_1"].isin(wanted) | rows["category_2"].isin(wanted)]
    if max_rank is not None:
        rows = rows[rows["rank"] <= max_rank]
    return Manifest(rows.reset_index(drop=True), manifest.skipped)


def select_ids(manifest: Manifest, known: set[str], retry: Sequence[str], budget: int) -> list[str]:
    """Tonight's work: due retries first, then ids never seen, in manifest order."""
    if budget <= 0:
        return []
    chosen = list(dict.fromkeys(retry))[:budget]
    room = budget - len(chosen)
    if room > 0:
        ids = manifest.rows["video_id"]
        exclude = known | set(chosen)
        fresh = ids[~ids.isin(exclude)] if exclude else ids
        chosen.extend(fresh.iloc[:room].tolist())
    return chosen


def batches(ids: Sequence[str], size: int) -> list[list[str]]:
    if size <= 0:
        raise InputError(f"batch size {size} must be positive")
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def read_transcripts(
    path: Path, ids: Iterable[str] | None = None
) -> tuple[dict[str, list[TranscriptSegment]], Counter]:
    """`raw_caption.json`: id -> {"start": [...], "end": [...], "text": [...]} in seconds.

    Returns the transcripts of `ids` (all if None) and a count of skipped entries by reason.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"transcripts {path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"transcripts {path}: expected an object of video id -> captions")
    wanted = set(ids) if ids is not None else None
    out: dict[str, list[TranscriptSegment]] = {}
    skipped: Counter = Counter()
    for vid, entry in data.items():
        if wanted is not None and vid not in wanted:
            continue
        try:
            starts, ends, texts = entry["start"], entry["end"], entry["text"]
            if not (len(starts) == len(ends) == len(texts)):
                raise ValueError("start, end and text differ in length")
            out[vid] = [
                TranscriptSegment(start=float(s), end=float(e), text=str(t))
                for s, e, t in zip(starts, ends, texts, strict=True)
            ]
        except (KeyError, TypeError, ValueError):
            skipped["malformed_transcript"] += 1
    return out, skipped
