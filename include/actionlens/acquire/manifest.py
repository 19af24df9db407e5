"""The HowTo100M manifest: read, validate, filter, and pick tonight's ids.

Bad rows are skipped and counted by reason, never fatal, and the first of them are kept
with their line number (`Manifest.rejected`); a file that lacks a required column, or
cannot be read, is an InputError naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from actionlens.errors import InputError
from actionlens.records import VIDEO_ID_PATTERN, SourceRow, TranscriptSegment

COLUMNS = ["video_id", "category_1", "category_2", "rank", "task_id"]
# Ranks are small positions in a search result; anything past int32 is a corrupt field
# (it used to wrap around in int64 and pass `max_rank`).
MAX_RANK = 2**31 - 1
# Rejected rows kept with their line for the report (counts stay exact beyond it).
KEEP_REJECTED = 200


def decode_lines(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The file's lines as (line number, text); lines that are not UTF-8 are returned apart
    as (line number, reason naming the byte and its column), so one bad byte costs one row."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc})") from exc
    good: list[tuple[int, str]] = []
    bad: list[tuple[int, str]] = []
    try:  # the common case, decoded whole at C speed
        good = [(n, t.rstrip("\r")) for n, t in enumerate(data.decode("utf-8").split("\n"), 1)]
    except UnicodeDecodeError:
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                good.append((number, raw.decode("utf-8").rstrip("\r")))
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                bad.append((number, f"byte 0x{byte:02x} at column {exc.start + 1} is not UTF-8"))
    if good and good[0][1].startswith("\ufeff"):
        good[0] = (good[0][0], good[0][1][1:])
    return good, bad


@dataclass
class Manifest:
    """Valid rows in file order (video_id unique) and what was skipped, by reason."""

    rows: pd.DataFrame
    skipped: Counter = field(default_factory=Counter)
    # The first rejected rows: (line number in the file, reason).
    rejected: list[tuple[int, str]] = field(default_factory=list)

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


def read_task_names(path: Path, skipped: Counter | None = None) -> dict[str, str]:
    """`task_ids.csv`: task id, a tab, the WikiHow task name (a header line is allowed).

    A line that is not UTF-8 or not `<digits>\t<name>` is skipped (counted in `skipped`
    as `bad_task_line`); a file with no such line at all is an InputError naming the file
    and its first bad line."""
    good, bad = decode_lines(path)
    names: dict[str, str] = {}
    problems = list(bad)
    for number, line in good:
        task_id, sep, name = line.partition("\t")
        if sep and task_id.strip().isdigit() and name.strip():
            names[task_id.strip()] = name.strip()
        elif number == 1 and sep:
            continue  # a header line
        elif line.strip():
            problems.append((number, f"expected '<task id>\\t<task name>', got {line[:60]!r}"))
    problems.sort()
    if problems and not names:
        number, reason = problems[0]
        raise InputError(
            f"task_ids {path}, line {number}: {reason}; no valid line in the file. Point "
            "acquire.task_ids at HowTo100M's task_ids.csv (id, a tab, the task name)"
        )
    if skipped is not None and problems:
        skipped["bad_task_line"] += len(problems)
    return names


def _reject(rejected: list, skipped: Counter, reason: str, lines: pd.Series, why: str) -> None:
    skipped[reason] += len(lines)
    room = KEEP_REJECTED - len(rejected)
    rejected.extend((int(n), why) for n in lines.iloc[: max(room, 0)])


def read_manifest(path: Path, task_ids: Path | None = None) -> Manifest:
    """Read `HowTo100M_v1.csv` (header `video_id,category_1,category_2,rank,task_id`)."""
    lines, undecodable = decode_lines(path)
    skipped: Counter = Counter()
    rejected: list[tuple[int, str]] = []
    if undecodable:
        skipped["bad_encoding"] += len(undecodable)
        rejected.extend(undecodable[:KEEP_REJECTED])
    lines = [(n, text) for n, text in lines if text.strip()]
    if not lines:
        raise InputError(f"manifest {path}: empty; expected header {','.join(COLUMNS)}")
    try:
        header = next(csv.reader(io.StringIO(lines[0][1])))
    except csv.Error as exc:
        raise InputError(f"manifest {path}, line {lines[0][0]}: bad header ({exc})") from exc
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"manifest {path}: missing column(s) {missing}; expected header {','.join(COLUMNS)}"
        )
    where = [header.index(c) for c in COLUMNS]
    records: list[list] = []
    for number, text in lines[1:]:
        if '"' in text:
            try:
                fields = next(csv.reader(io.StringIO(text)))
            except csv.Error:
                fields = []
        else:
            fields = text.split(",")
        if 0 < len(fields) < len(header):
            fields += [""] * (len(header) - len(fields))  # missing values, counted below
        if len(fields) != len(header):
            skipped["malformed_line"] += 1
            if len(rejected) < KEEP_REJECTED:
                rejected.append((number, f"{len(fields)} fields, the header has {len(header)}"))
            continue
        records.append([number, *(fields[i].strip() for i in where)])
    frame = pd.DataFrame(records, columns=["line", *COLUMNS])
    frame = frame.astype({c: str for c in COLUMNS})

    empty = (frame[COLUMNS] == "").any(axis=1)
    _reject(rejected, skipped, "missing_value", frame["line"][empty], "an empty field")
    frame = frame[~empty]

    bad_id = ~frame["video_id"].str.fullmatch(VIDEO_ID_PATTERN)
    _reject(rejected, skipped, "bad_video_id", frame["line"][bad_id], "not a YouTube id")
    frame = frame[~bad_id]

    rank = pd.to_numeric(frame["rank"], errors="coerce")
    bad_rank = rank.isna() | (rank < 0) | (rank > MAX_RANK) | (rank != rank.round())
    _reject(
        rejected,
        skipped,
        "bad_rank",
        frame["line"][bad_rank],
        f"rank is not a whole number in [0, {MAX_RANK}]",
    )
    frame = frame[~bad_rank].assign(rank=rank[~bad_rank].astype("int64"))

    dup = frame["video_id"].duplicated(keep="first")
    _reject(rejected, skipped, "duplicate_id", frame["line"][dup], "video id listed before")
    frame = frame[~dup]

    if task_ids is not None:
        names = read_task_names(task_ids, skipped)
        frame = frame.assign(task_name=frame["task_id"].map(names))
    else:
        frame = frame.assign(task_name=pd.NA)
    rejected.sort()
    return Manifest(
        frame.drop(columns="line").reset_index(drop=True),
        Counter({k: v for k, v in skipped.items() if v}),
        rejected,
    )


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


def clean_segments(
    starts: Sequence, ends: Sequence, texts: Sequence
) -> tuple[list[TranscriptSegment], Counter]:
    """Transcript entries that can be used, and the others counted by reason: a null text,
    a time that is not a finite number, or an end before its start is dropped (never
    stored as "None" or NaN); blank texts are dropped too."""
    kept: list[TranscriptSegment] = []
    dropped: Counter = Counter()
    for s, e, t in zip(starts, ends, texts, strict=True):
        if t is None or not isinstance(t, str | int | float) or isinstance(t, bool):
            dropped["null_text"] += 1
            continue
        try:
            start, end = float(s), float(e)
        except (TypeError, ValueError):
            dropped["bad_time"] += 1
            continue
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
            dropped["bad_time"] += 1
            continue
        if end < start:
            dropped["end_before_start"] += 1
            continue
        text = str(t).strip()
        if not text:
            dropped["blank_text"] += 1
            continue
        kept.append(TranscriptSegment(start=start, end=end, text=text))
    return kept, dropped


def read_transcripts(
    path: Path,
    ids: Iterable[str] | None = None,
    dropped: dict[str, dict[str, int]] | None = None,
) -> tuple[dict[str, list[TranscriptSegment]], Counter]:
    """`raw_caption.json`: id -> {"start": [...], "end": [...], "text": [...]} in seconds.

    Returns the transcripts of `ids` (all if None) and a count of skipped videos and
    dropped entries by reason; `dropped`, when given, receives each video's dropped
    entries by reason (recorded on its ledger document).
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
            segments, bad = clean_segments(starts, ends, texts)
        except (KeyError, TypeError, ValueError):
            skipped["malformed_transcript"] += 1
            continue
        for reason, n in bad.items():
            skipped[f"transcript_{reason}"] += n
        if bad and dropped is not None:
            dropped[vid] = dict(bad)
        out[vid] = segments
    return out, skipped
