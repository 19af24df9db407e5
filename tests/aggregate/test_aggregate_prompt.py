"""Stage-3 prompt rendering against golden files for a small tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from actionlens.aggregate import prompt as P
from actionlens.testing.trees import small_tree
from actionlens.tree import build_tree

GOLDEN = Path(__file__).parent / "golden" / "aggregate"
VID = "abcDEF12345"
SOURCE = "cap-model"

VIDEO = {
    "_id": VID,
    "task_name": "Make Pancakes",
    "metadata": {
        "title": "Fluffy pancakes in 5 minutes",
        "description": "My  grandma's recipe.\nEnjoy!",
    },
    "transcript": {
        "segments": [
            {"start": 0.0, "end": 5.0, "text": "hi everyone, today pancakes"},
            {"start": 5.0, "end": 12.0, "text": "first   whisk the eggs"},
        ]
    },
}
VIDEO_CAPTIONS = {
    (0.0, 12.0): "A person makes pancake batter in a kitchen.",
    (0.0, 5.0): "A woman talks to the camera.",
    (5.0, 12.0): "Eggs are whisked in a red bowl.",
    (5.0, 8.0): "Hands crack eggs\ninto a bowl.",
    (8.0, 12.0): "A whisk beats eggs at 10 seconds.",
    (5.0, 6.5): "An egg is cracked.",
    (6.5, 8.0): "A second egg is cracked.",
}
FRAME_CAPTIONS = {
    (0.0, 5.0): "A smiling woman in an apron.",
    (8.0, 12.0): "A red bowl with yellow liquid.",
    (5.0, 6.5): "A hand holding an egg.",
    (6.5, 8.0): "Egg shells on a counter.",
}


def captioned_tree():
    docs = small_tree(VID)
    for d in docs:
        key = (d["start"], d["end"])
        entry = {"video": {"text": VIDEO_CAPTIONS[key]}}
        if key in FRAME_CAPTIONS:
            entry["frame"] = {"text": FRAME_CAPTIONS[key]}
        d["captions"] = {SOURCE: entry}
    return build_tree(VID, "synthetic-v1", docs)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), (
        f"{name} differs from its golden file (set UPDATE_GOLDEN=1 to accept)"
    )


def node_at(tree, start, end):
    return next(n for n in tree.depth_first() if (n.start, n.end) == (start, end))


def test_metadata_renders_as_golden_yaml():
    check_golden("metadata.yaml", P.render_metadata(VIDEO) + "\n")


def test_global_tree_renders_as_golden_markdown():
    check_golden(
        "global_tree.md", P.render_tree(captioned_tree().root, SOURCE, P.GLOBAL_DEPTH) + "\n"
    )


def test_full_prompt_for_a_mid_node_matches_golden():
    tree = captioned_tree()
    check_golden(
        "prompt_5_12.md", P.render_prompt(VIDEO, tree.root, node_at(tree, 5.0, 12.0), SOURCE) + "\n"
    )


def test_leaf_frame_captions_are_quoted_under_their_timestamp():
    text = P.render_tree(node_at(captioned_tree(), 5.0, 8.0), SOURCE)
    assert (
        "### [5.00 s - 6.50 s]\nCaption: An egg is cracked.\n> [5.75 s] A hand holding an egg."
        in text
    )
    assert "Hands crack eggs into a bowl." in text  # newlines inside captions are flattened


def test_global_tree_stops_at_its_depth():
    text = P.render_tree(captioned_tree().root, SOURCE, max_depth=1)
    assert "[5.00 s - 8.00 s]" not in text and "[5.00 s - 12.00 s]" in text


@pytest.mark.parametrize(
    "point",
    [
        "small models",
        "most captions",
        "can be seen",
        "headings",
        "settle what an unclear",
        "current segment only",
        "very start or end",
        "transcript",
        "do not name people",
        "Output JSON only",
        '"N/A"',
        "base form",
        "imperative",
        "actor",
    ],
)
def test_instructions_cover_every_point(point):
    assert point in P.INSTRUCTIONS


def test_prompt_hash_changes_with_the_instructions(monkeypatch):
    before = P.prompt_hash()
    monkeypatch.setattr(P, "INSTRUCTIONS", P.INSTRUCTIONS + " ")
    assert P.prompt_hash() != before and len(before) == 12


def test_a_large_subtree_is_cut_at_the_depth_that_fits_the_budget():
    tree = captioned_tree()  # 1 + 2 + 2 + 2 nodes by level
    assert P.subtree_depth(tree.root, 7) is None
    assert P.subtree_depth(tree.root, 6) == 2 and P.subtree_depth(tree.root, 4) == 1
    assert P.subtree_depth(tree.root, 1) == 0
