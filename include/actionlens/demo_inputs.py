"""Generated inputs that give `make demo` a confidence map.

Per demo clip (one story each, in order): what its narrator says (the ASR transcript the
source serves) and how its generated Action100M-schema reference (`gpt`, with actions)
is written. The opinion baselines stay functions of their input (frames, speech); the
variety of the workshop's tags comes from these inputs:

| story | speech | reference root | expected workshop tags |
|---|---|---|---|
| pictures / task talk | a recipe step, unrelated to the picture | the picture in plain words | qwen_agrees, qwen_only |
| speech / task talk | a gardening step | the narration, nearly as spoken | molmo_agrees, molmo_only |
| paraphrase / scene talk | the picture, briefly | the picture at length, reworded | triple_agreement, paraphrase |
| elsewhere / small talk | greetings | an unrelated kitchen scene | triple_disagreement |
| pictures / scene talk | the picture, briefly | the picture in plain words | triple_agreement, qwen_agrees |
| pictures / music | only "[Music]" (as ASR writes it) | the picture in plain words | qwen_agrees, qwen_only |

No HowTo100M or Action100M text is used: everything here is generated.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionlens.opinions.baseline import colour_name, spoken_action
from actionlens.testing.media import Scene

FPS = 30


@dataclass(frozen=True)
class Story:
    reference: str  # pictures | speech | paraphrase | elsewhere
    speech: str  # task | garden | scene | chat | music


STORIES = [
    Story("pictures", "task"),
    Story("speech", "garden"),
    Story("paraphrase", "scene"),
    Story("elsewhere", "chat"),
    Story("pictures", "scene"),
    Story("pictures", "music"),
]
TASK_TALK = [
    "first whisk the eggs with the milk until the batter is smooth",
    "then pour a ladle of batter into the hot buttered pan",
    "flip the pancake when bubbles form on top",
]
GARDEN_TALK = [
    "dig a hole twice as deep as the root ball of the tomato seedling",
    "place the seedling in the hole and press the soil around the stem",
    "water the plant well and tie the stem to a wooden stake",
]
MUSIC = ["[Music]"] * 8  # no words: a stage-3 caption baseline still has text to read
CHAT_TALK = [
    "hi everyone and welcome back to the channel",
    "thanks so much for watching and see you next week",
]
ELSEWHERE = (
    "A woman in a flowery apron kneads bread dough on a floured wooden board in a sunny "
    "kitchen, folds it over several times, shapes it into a loaf and places it into a "
    "greased tin before covering it with a towel."
)


def colours_of(scenes: Sequence[Scene]) -> list[str]:
    """The scenes' colours by name, consecutive repeats merged."""
    names: list[str] = []
    for scene in scenes:
        name = colour_name(np.array(scene.colour, dtype=np.float32))
        if not names or names[-1] != name:
            names.append(name)
    return names


def duration_of(scenes: Sequence[Scene], fps: int = FPS) -> float:
    """The rendered clip's length (render_clip writes round(seconds * fps) frames per scene)."""
    return sum(max(1, round(s.seconds * fps)) for s in scenes) / fps


def speech_lines(story: Story, scenes: Sequence[Scene]) -> list[str]:
    """One line per scene ("" where nobody speaks)."""
    if story.speech == "scene":
        said = [f"watch the screen turn {' then '.join(colours_of(scenes))} as a square slides"]
    else:
        talk = {"task": TASK_TALK, "garden": GARDEN_TALK, "chat": CHAT_TALK, "music": MUSIC}
        said = talk.get(story.speech, [])
    return [said[k] if k < len(said) else "" for k in range(len(scenes))]


def _pictures(colours: Sequence[str], seconds: float) -> str:
    return (
        f"The frames show a picture that is {', then '.join(colours)}, with a small square "
        f"sliding over {seconds:.0f} seconds."
    )


def _paraphrase(colours: Sequence[str], seconds: float) -> str:
    shades = " and afterwards ".join(colours)
    return (
        f"Over some {seconds:.0f} seconds the picture changes colour, {shades}, each hue "
        "filling the entire screen, while a little square slides steadily across it; the only "
        "motion in these frames is that sliding square, and no person, tool or object ever "
        f"appears on the evenly coloured screen that changes from {' to '.join(colours)}."
    )


def root_summary(story: Story, colours: Sequence[str], seconds: float, speech: str) -> str:
    """The reference's root summary.detailed for a story."""
    if story.reference == "pictures":
        return _pictures(colours, seconds)
    if story.reference == "speech" and speech:
        return f"{speech[0].upper()}{speech[1:]}."
    if story.reference == "paraphrase":
        return _paraphrase(colours, seconds)
    if story.reference == "elsewhere":
        return ELSEWHERE
    return _pictures(colours, seconds)  # a speech story's span where nobody speaks


def annotation(story: Story, colours: Sequence[str], seconds: float, speech: str) -> dict:
    """A `gpt` annotation (summary and action) for a span."""
    detailed = root_summary(story, colours, seconds, speech)
    if story.reference == "elsewhere":
        action = {
            "brief": "knead bread dough",
            "detailed": "Knead the dough on a floured board, then shape it into a loaf.",
            "actor": "a woman in a flowery apron",
        }
    elif story.reference == "speech" and speech:
        action = spoken_action(speech)
    else:
        action = {
            "brief": "slide a square across the screen",
            "detailed": f"Slide a small square across the {colours[0]} screen from left to right.",
            "actor": "an unseen hand",
        }
    brief = detailed.split(". ")[0].rstrip(".") + "."
    return {"summary": {"brief": brief, "detailed": detailed}, "action": action}


def _spoken(lines: Sequence[str], starts: Sequence[float], a: float, b: float) -> str:
    ends = [*starts[1:], float("inf")]
    return " ".join(t for t, s, e in zip(lines, starts, ends, strict=True) if t and s < b and e > a)


def record(video_id: str, title: str, story: Story, scenes: Sequence[Scene], seed: int = 0):
    """One Action100M-schema row for a demo clip: its tree tiles the clip, `gpt` sits on
    every non-leaf node of ≥ 4 s, written in the story's style for that node's span."""
    from actionlens.testing.action100m import make_tree, sentence

    rng = random.Random(f"{video_id}:{seed}")
    seconds = duration_of(scenes)
    lines = speech_lines(story, scenes)
    starts = list(np.cumsum([0.0, *[s.seconds for s in scenes[:-1]]]))
    bounds = [*starts, seconds]
    nodes = []
    tree = make_tree(rng, seconds)
    for n in tree:
        leaf = n.pop("leaf")
        a, b = n["start"], n["end"]
        inside = [
            sc for sc, s, e in zip(scenes, bounds, bounds[1:], strict=False) if s < b and e > a
        ]
        speech = _spoken(lines, starts, a, b)
        gpt = None
        if not leaf and b - a >= 4.0:
            gpt = annotation(story, colours_of(inside) or ["unseen"], b - a, speech)
        nodes.append(
            {
                **n,
                "plm_action": "slide a square",
                "plm_caption": f"A {', '.join(colours_of(inside))} screen with a moving square.",
                "llama3_caption": sentence(rng, 12) if leaf else None,
                "gpt": gpt,
            }
        )
    return {
        "video_uid": video_id,
        "metadata": {
            "title": title,
            "description": f"A generated demo clip ({story.reference} reference, {story.speech}).",
            "view_count": rng.randint(0, 10**5),
            "like_count": rng.randint(0, 10**3),
            "duration": int(round(seconds)),
            "upload_date": "20240105",
            "transcript": [
                {"time": f"{s:.2f}", "text": t} for t, s in zip(lines, starts, strict=True) if t
            ],
        },
        "nodes": nodes,
    }


def write_reference(source_root: Path, out: Path) -> Path:
    """The demo source's generated reference (scenes.json, manifest titles) as parquet."""
    import csv

    from actionlens.testing.action100m import write_parquet

    scenes = {
        vid: [Scene(s["seconds"], tuple(s["colour"])) for s in rows]
        for vid, rows in json.loads((source_root / "scenes.json").read_text()).items()
    }
    tasks = dict(
        line.rstrip("\n").split("\t", 1)
        for line in (source_root / "task_ids.csv").read_text().splitlines()
        if line
    )
    with open(source_root / "HowTo100M_v1.csv", newline="") as fh:
        titles = {r["video_id"]: f"How to {tasks[r['task_id']]}" for r in csv.DictReader(fh)}
    records = [
        record(vid, titles.get(vid, vid), STORIES[i % len(STORIES)], scenes[vid])
        for i, vid in enumerate(scenes)
    ]
    return write_parquet(records, out)
