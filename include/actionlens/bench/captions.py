"""Benchmarks of stages 2 and 3: `python -m actionlens.bench.captions`.

1. Aggregation (Self-Refine, 3 turns per node) against the loopback chat-completions
   server answering with a fixed latency: nodes/s with `--concurrency` requests in flight
   vs one at a time, and their ratio (goal ≥ 8x at concurrency 16, 200 ms).
2. Frame extraction for captioning: nodes/s (and frames/s) for the tree of a 90 s
   480p clip: 32 frames at 320x320 per node plus the middle frame of every leaf.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ANSWER = {
    "summary": {
        "brief": "A person whisks eggs in a bowl.",
        "detailed": "A person cracks eggs and whisks them.",
    },
    "action": {
        "brief": "whisk eggs",
        "detailed": "Whisk the eggs with a fork.",
        "actor": "a person",
    },
}


def _tree(video_id: str, seconds: float, seed: int = 0):
    from actionlens.testing.trees import tree_docs
    from actionlens.tree import build_tree

    docs = tree_docs(video_id, seconds, seed=seed)
    for d in docs:
        d["captions"] = {
            "bench": {
                "video": {
                    "text": f"A person works at a kitchen table between {d['start']:.1f} and {d['end']:.1f} seconds, "
                    "moving a bowl, a whisk and a plate while the camera stays still."
                },
                "frame": {"text": "A close view of hands holding a whisk over a red bowl."},
            }
        }
    return build_tree(video_id, "bench", docs)


def aggregation(
    nodes: int, latency: float, concurrency: int, sequential_nodes: int
) -> dict[str, Any]:
    """nodes/s of the full Self-Refine conversation, concurrent vs one request at a time."""
    from actionlens.aggregate import prompt as P
    from actionlens.annotations import converse
    from actionlens.models import ChatRequest, load_model, user
    from actionlens.settings import ModelSettings, ModelSpec
    from actionlens.testing.loopback import LoopbackServer

    tree = _tree("benchAGG0001", 90.0)
    video = {"metadata": {"title": "bench"}, "transcript": {"segments": []}}
    targets = [n for n in tree.depth_first() if not n.is_leaf] or [tree.root]
    prompts = [
        P.render_prompt(video, tree.root, targets[i % len(targets)], "bench") for i in range(nodes)
    ]

    def run(n: int, c: int, url: str) -> tuple[float, int]:
        spec = ModelSpec(backend="openai", model_id="bench/llm", max_new_tokens=1024)
        model = load_model(spec, ModelSettings(endpoint=url, concurrency=c, timeout_seconds=30))
        requests = [ChatRequest([user(p)], 1024) for p in prompts[:n]]
        started = time.perf_counter()
        outcomes = converse(model, requests, [P.REVISION] * (P.ROUNDS - 1))
        elapsed = time.perf_counter() - started
        model.close()
        return elapsed, sum(o.status == "ok" for o in outcomes)

    with LoopbackServer(lambda body: json.dumps(ANSWER), latency=latency) as srv:
        seq_s, seq_ok = run(sequential_nodes, 1, srv.url)
        con_s, con_ok = run(nodes, concurrency, srv.url)
        in_flight = srv.max_in_flight
    seq_rate, con_rate = sequential_nodes / seq_s, nodes / con_s
    return {
        "latency_s": latency,
        "rounds": P.ROUNDS,
        "sequential": {
            "nodes": sequential_nodes,
            "ok": seq_ok,
            "seconds": round(seq_s, 3),
            "nodes_per_s": round(seq_rate, 3),
        },
        "concurrent": {
            "nodes": nodes,
            "ok": con_ok,
            "concurrency": concurrency,
            "max_in_flight": in_flight,
            "seconds": round(con_s, 3),
            "nodes_per_s": round(con_rate, 3),
        },
        "speedup": round(con_rate / seq_rate, 2),
        "prompt_chars_mean": round(sum(map(len, prompts)) / len(prompts)),
    }


def extraction(seconds: float) -> dict[str, Any]:
    """nodes/s of frame extraction for a `seconds`-long clip's whole tree."""
    from actionlens.caption.run import frame_requests, node_frames
    from actionlens.media import ffmpeg_binary
    from actionlens.testing.media import testsrc_clip

    tree = _tree("benchFRM0001", seconds)
    nodes = list(tree.depth_first())
    with tempfile.TemporaryDirectory(prefix="actionlens-bench-") as tmp:
        clip = testsrc_clip(Path(tmp) / "clip.mp4", seconds, ffmpeg_binary())
        started = time.perf_counter()
        items = node_frames(clip, nodes)
        elapsed = time.perf_counter() - started
        decode_only = _decode_only(clip)
    frames = len(frame_requests(nodes))
    leaves = sum(n.is_leaf for n in nodes)
    assert len(items) == len(nodes)
    return {
        "clip_seconds": seconds,
        "clip": "854x480 30 fps H.264",
        "nodes": len(nodes),
        "leaves": leaves,
        "frames": frames,
        "seconds": round(elapsed, 3),
        "nodes_per_s": round(len(nodes) / elapsed, 2),
        "frames_per_s": round(frames / elapsed, 1),
        "decode_only_seconds": round(decode_only, 3),  # the floor: decoding every frame once
    }


def _decode_only(clip: Path) -> float:
    import av

    started = time.perf_counter()
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m actionlens.bench.captions", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--nodes", type=int, default=64, help="nodes aggregated with concurrency")
    parser.add_argument(
        "--sequential-nodes", type=int, default=8, help="nodes aggregated one request at a time"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--latency", type=float, default=0.2, help="seconds per answer of the loopback server"
    )
    parser.add_argument("--clip-seconds", type=float, default=90.0)
    parser.add_argument("--skip-frames", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "aggregation": aggregation(
            args.nodes, args.latency, args.concurrency, args.sequential_nodes
        )
    }
    a = result["aggregation"]
    print(
        f"aggregation @ {args.latency * 1000:.0f} ms/answer, {a['rounds']} turns/node: "
        f"{a['sequential']['nodes_per_s']} nodes/s one at a time, "
        f"{a['concurrent']['nodes_per_s']} nodes/s at concurrency {args.concurrency} "
        f"-> {a['speedup']}x (goal >= 8x: {'met' if a['speedup'] >= 8 else 'NOT met'})"
    )
    if not args.skip_frames:
        result["extraction"] = e = extraction(args.clip_seconds)
        print(
            f"frame extraction, {e['clip_seconds']:.0f} s clip, {e['nodes']} nodes ({e['leaves']} leaves), "
            f"{e['frames']} frames: {e['seconds']} s -> {e['nodes_per_s']} nodes/s, {e['frames_per_s']} frames/s "
            f"(decoding alone: {e['decode_only_seconds']} s)"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
