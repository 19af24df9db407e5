"""What the aggregating LLM is told: the instructions, the inputs rendered as YAML and
Markdown, the revision turn, and a hash that versions all of it."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml

from actionlens.annotations import FIELD_GUIDE, SCHEMA_TEXT, repair_prompt
from actionlens.tree import TreeNode, caption_texts

MIN_SECONDS = 4.0  # only non-leaf nodes at least this long are annotated
GLOBAL_DEPTH = 2  # the global tree shows the root and this many levels below it
# A long video's root subtree has hundreds of nodes: the subtree is rendered only as deep
# as keeps it within this many nodes, so every prompt fits a model's context.
SUBTREE_MAX_NODES = 127
ROUNDS = 3  # a draft and two revisions
RENDER_VERSION = "render-v1"

INSTRUCTIONS = f"""You annotate one segment of an instructional video. You cannot see the video. \
What you have are captions written by small vision-language models for the segment and for \
the shorter segments inside it, plus the video's title, description and speech transcript.

How to work:
1. The captions were written by small models and often contain mistakes or invented \
details. Be conservative: keep a detail only when most captions that cover it agree, and \
leave out anything only one caption claims.
2. Describe only what can be seen happening: actions, objects, people and the setting. \
Do not add intentions, results or anything you infer but cannot observe.
3. Times come from the headings ([start s - end s]). Ignore any time or time-like number \
written inside a caption.
4. The global tree and the metadata are context. Use them only to settle what an unclear \
caption means (for example which object or task is involved), never as content of their own.
5. Describe the current segment only, not what happens before or after it.
6. Ignore short pieces at the very start or end of the segment that do not continue the \
main activity: they are usually the tail of the previous shot or the start of the next.
7. Do not report what is said in the transcript, and do not name people, channels or \
brands. Refer to people by what they look like or do ("a woman in an apron").
8. Output JSON only, in exactly this shape:
{SCHEMA_TEXT}

{FIELD_GUIDE}"""

REVISION = """Analyse your previous draft, verify every statement in it against the captions \
of the current segment and the instructions (majority support, visible only, this segment \
only, no speech or names, the exact field formats), and revise it. Reply with the revised \
JSON object only."""


def prompt_hash() -> str:
    """Changes whenever anything the model is told, or how inputs are rendered, changes."""
    parts = [
        INSTRUCTIONS,
        REVISION,
        repair_prompt("{error}"),
        RENDER_VERSION,
        f"min={MIN_SECONDS}",
        f"depth={GLOBAL_DEPTH}",
        f"rounds={ROUNDS}",
        f"subtree={SUBTREE_MAX_NODES}",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def span(node: TreeNode) -> str:
    return f"[{node.start:.2f} s - {node.end:.2f} s]"


def render_metadata(video: dict[str, Any]) -> str:
    """Title, description and transcript as YAML."""
    meta = video.get("metadata") or {}
    segments = (video.get("transcript") or {}).get("segments") or []
    data = {
        "title": _one_line(meta.get("title") or video.get("task_name") or ""),
        "description": _one_line(meta.get("description") or ""),
        "transcript": [
            {
                "time": f"{float(s['start']):.1f}-{float(s['end']):.1f} s",
                "text": _one_line(str(s["text"])),
            }
            for s in segments
            if str(s.get("text", "")).strip()
        ],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).rstrip()


def render_tree(node: TreeNode, source: str, max_depth: int | None = None, _depth: int = 0) -> str:
    """Depth-first Markdown: one heading per node with its time span, its segment caption,
    and for leaves the middle-frame caption quoted under its timestamp."""
    lines = [f"{'#' * min(2 + _depth, 6)} {span(node)}"]
    video, frame = caption_texts(node, source)
    lines.append(f"Caption: {_one_line(video)}" if video else "Caption: (none)")
    if node.is_leaf and frame:
        lines.append(f"> [{node.middle:.2f} s] {_one_line(frame)}")
    text = "\n".join(lines)
    if max_depth is not None and _depth >= max_depth:
        return text
    for child in node.children:
        text += "\n\n" + render_tree(child, source, max_depth, _depth + 1)
    return text


def subtree_depth(node: TreeNode, max_nodes: int) -> int | None:
    """The deepest level below `node` whose subtree has at most `max_nodes` nodes
    (None: the whole subtree fits)."""
    level, count, depth = [node], 0, 0
    while level:
        count += len(level)
        if count > max_nodes:
            return max(depth - 1, 0)
        level = [c for n in level for c in n.children]
        depth += 1
    return None


def render_prompt(video: dict[str, Any], root: TreeNode, node: TreeNode, source: str) -> str:
    """The first user turn for `node`."""
    return (
        f"{INSTRUCTIONS}\n"
        f"# Video metadata\n\n```yaml\n{render_metadata(video)}\n```\n\n"
        f"# Global tree (root and top levels, context only)\n\n"
        f"{render_tree(root, source, GLOBAL_DEPTH)}\n\n"
        f"# Current segment {span(node)} and the segments inside it\n\n"
        f"{render_tree(node, source, subtree_depth(node, SUBTREE_MAX_NODES))}\n\n"
        f"Write the JSON annotation of the current segment {span(node)}."
    )


def subtree_captions(node: TreeNode, source: str) -> list[str]:
    """The subtree's captions depth-first (segment caption, then frame caption)."""
    out = []
    for n in node.depth_first():
        video, frame = caption_texts(n, source)
        out += [t for t in (video, frame) if t]
    return out
