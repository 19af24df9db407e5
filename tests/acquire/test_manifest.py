"""Manifest reading, filtering and selection: pure logic, no services."""

from __future__ import annotations

from pathlib import Path

import pytest

from actionlens.acquire.manifest import (
    Manifest,
    apply_filters,
    batches,
    read_manifest,
    read_task_names,
    read_transcripts,
    select_ids,
)
from actionlens.errors import InputError
from actionlens.records import validate_video_id

HEADER = "video_id,category_1,category_2,rank,task_id\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_rows_are_read_with_task_names(tmp_path):
    csv = write(
        tmp_path, "m.csv", HEADER + "nVbIUDjzWY4,Cars & Other Vehicles,Motorcycles,27,52907\n"
    )
    tasks = write(tmp_path, "t.csv", "52907\tRepair a Motorcycle\n")
    m = read_manifest(csv, tasks)
    assert m.rows.to_dict("records") == [
        {
            "video_id": "nVbIUDjzWY4",
            "category_1": "Cars & Other Vehicles",
            "category_2": "Motorcycles",
            "rank": 27,
            "task_id": "52907",
            "task_name": "Repair a Motorcycle",
        }
    ]
    assert not m.skipped


def test_bad_rows_are_skipped_and_counted_by_reason(tmp_path):
    rows = [
        "goodid00001,A,B,1,1",
        "short,A,B,2,1",  # 5 characters
        "bad/id/0001,A,B,3,1",  # a path separator must never reach a path
        "goodid00002,A,B,,1",  # missing rank
        "goodid00003,A,B",  # missing columns
        "goodid00004,A,B,notanumber,1",
        "goodid00001,A,B,5,1",  # duplicate
        "goodid0000$,A,B,6,1",
    ]
    m = read_manifest(write(tmp_path, "m.csv", HEADER + "\n".join(rows) + "\n"))
    assert m.rows["video_id"].tolist() == ["goodid00001"]
    assert dict(m.skipped) == {
        "bad_video_id": 3,
        "missing_value": 2,
        "bad_rank": 1,
        "duplicate_id": 1,
    }


def test_lines_with_extra_fields_are_counted_as_malformed(tmp_path):
    text = HEADER + "goodid00001,A,B,1,1\ngoodid00002,A,B,2,1,extra,fields\n"
    m = read_manifest(write(tmp_path, "m.csv", text))
    assert m.rows["video_id"].tolist() == ["goodid00001"]
    assert m.skipped["malformed_line"] == 1


def test_missing_header_column_names_the_file_and_column(tmp_path):
    path = write(tmp_path, "m.csv", "video_id,category_1,rank,task_id\nabcdefghijk,A,1,1\n")
    with pytest.raises(InputError, match=r"m\.csv.*category_2"):
        read_manifest(path)


def test_unreadable_manifest_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.csv"):
        read_manifest(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "bad", ["", "abc", "abcdefghijkl", "../etc/pass", "abc def ghi", None, 12345678901]
)
def test_invalid_video_ids_are_rejected(bad):
    with pytest.raises(InputError):
        validate_video_id(bad)


def test_task_names_accept_a_header_line(tmp_path):
    path = write(tmp_path, "t.csv", "task_id\ttask_name\n1\tMake Tea\n2\tFix a Bike\n")
    assert read_task_names(path) == {"1": "Make Tea", "2": "Fix a Bike"}


def _manifest(tmp_path) -> Manifest:
    rows = [
        "aaaaaaaaaa1,Food,Recipes,1,1",
        "aaaaaaaaaa2,Home,Garden,5,2",
        "aaaaaaaaaa3,Food,Baking,9,3",
        "aaaaaaaaaa4,Cars,Motorcycles,2,4",
    ]
    return read_manifest(write(tmp_path, "m.csv", HEADER + "\n".join(rows) + "\n"))


def test_filters_match_either_category_and_max_rank(tmp_path):
    m = _manifest(tmp_path)
    assert apply_filters(m, ["Food"]).rows["video_id"].tolist() == ["aaaaaaaaaa1", "aaaaaaaaaa3"]
    assert apply_filters(m, ["Garden"]).rows["video_id"].tolist() == ["aaaaaaaaaa2"]
    assert apply_filters(m, max_rank=2).rows["video_id"].tolist() == ["aaaaaaaaaa1", "aaaaaaaaaa4"]


def test_selection_puts_retries_first_skips_known_and_respects_budget(tmp_path):
    m = _manifest(tmp_path)
    known = {"aaaaaaaaaa1", "aaaaaaaaaa9"}
    chosen = select_ids(m, known, retry=["aaaaaaaaaa9"], budget=3)
    assert chosen == ["aaaaaaaaaa9", "aaaaaaaaaa2", "aaaaaaaaaa3"]
    assert select_ids(m, known, retry=[], budget=0) == []
    assert select_ids(m, set(), retry=["x1", "x2", "x3"], budget=2) == ["x1", "x2"]


def test_batches_cover_every_id_once():
    ids = [f"id{i}" for i in range(7)]
    assert batches(ids, 3) == [["id0", "id1", "id2"], ["id3", "id4", "id5"], ["id6"]]
    with pytest.raises(InputError):
        batches(ids, 0)


def test_transcripts_are_parsed_and_malformed_entries_counted(tmp_path):
    path = write(
        tmp_path,
        "raw_caption.json",
        '{"aaaaaaaaaa1": {"start": [0, 2.5], "end": [2.5, 4], "text": ["hello", "world"]},'
        ' "aaaaaaaaaa2": {"start": [0], "end": [], "text": ["x"]},'
        ' "aaaaaaaaaa3": {"text": ["no times"]},'
        ' "aaaaaaaaaa4": {"start": [0], "end": [1], "text": ["not wanted"]}}',
    )
    got, skipped = read_transcripts(path, ["aaaaaaaaaa1", "aaaaaaaaaa2", "aaaaaaaaaa3"])
    assert list(got) == ["aaaaaaaaaa1"]
    assert [(s.start, s.end, s.text) for s in got["aaaaaaaaaa1"]] == [
        (0, 2.5, "hello"),
        (2.5, 4, "world"),
    ]
    assert skipped["malformed_transcript"] == 2


def test_transcripts_file_that_is_not_json_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="raw_caption.json"):
        read_transcripts(write(tmp_path, "raw_caption.json", "{nope"))
