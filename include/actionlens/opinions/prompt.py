"""What an opinion model is told, and the hash that versions it (with the frame sampling)."""

from __future__ import annotations

import hashlib

from actionlens.annotations import SCHEMA_TEXT, repair_prompt
from actionlens.caption.frames import FRAME_SIZE, FRAMES_PER_SEGMENT

PROMPT_VERSION = "opinion-v1"  # bump when how inputs are presented changes

INSTRUCTIONS = f"""You watch one segment of an instructional video, given as \
{FRAMES_PER_SEGMENT} frames evenly spaced over the segment, and describe it.

1. Describe only what can be seen: actions, objects, people and the setting. Do not add \
intentions, results or anything you cannot observe.
2. Describe this segment only, not what may happen before or after it.
3. Do not name people, channels or brands; refer to people by what they look like or do \
("a woman in an apron").
4. Output JSON only, in exactly this shape:
{SCHEMA_TEXT}

About the fields:
- summary.brief: one sentence that captions the segment.
- summary.detailed: a complete description of what is seen in the segment, in order.
- action.brief: the main physical action as one short verb phrase, verb in the base form \
("whisk eggs", not "whisking eggs").
- action.detailed: one imperative sentence on how the action is done.
- action.actor: who performs the action ("a man in a blue shirt", "a pair of hands").
- If no actor is visible or no physical action happens, set all three action fields to "N/A".
"""


def prompt_hash() -> str:
    """Changes whenever the instructions, the repair turn or the frame sampling change."""
    parts = [
        INSTRUCTIONS,
        repair_prompt("{error}"),
        PROMPT_VERSION,
        f"frames={FRAMES_PER_SEGMENT}",
        f"size={FRAME_SIZE}",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def render_prompt(start: float, end: float) -> str:
    """The text that follows the frames in the single user turn."""
    return f"{INSTRUCTIONS}\nThe segment lasts from {start:.2f} s to {end:.2f} s. Write its JSON annotation."
