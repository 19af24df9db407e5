"""What an opinion model is told, and the hash that versions it (with the frame sampling)."""

from __future__ import annotations

import hashlib

from actionlens.annotations import FIELD_GUIDE, SCHEMA_TEXT, repair_prompt
from actionlens.media.frames import FRAME_SIZE, FRAMES_PER_SEGMENT

PROMPT_VERSION = "opinion-v2"  # bump when how inputs are presented changes (v2: shared field guide)

INSTRUCTIONS = f"""You watch one segment of an instructional video, given as \
{FRAMES_PER_SEGMENT} frames evenly spaced over the segment, and describe it.

1. Describe only what can be seen: actions, objects, people and the setting. Do not add \
intentions, results or anything you cannot observe.
2. Describe this segment only, not what may happen before or after it.
3. Do not name people, channels or brands; refer to people by what they look like or do \
("a woman in an apron").
4. Output JSON only, in exactly this shape:
{SCHEMA_TEXT}

{FIELD_GUIDE}"""


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
