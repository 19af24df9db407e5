"""Benchmarks of stage 1 (segmentation).

    python -m actionlens.bench.segment                  # all, CPU, tiny V-JEPA 2 config
    python -m actionlens.bench.segment --only tree
    python -m actionlens.bench.segment --device cuda --weights /models/vjepa2-vitg-fpc64-384
    python -m actionlens bench-segment …                 # the same through the CLI

Parts:
  decode   decode + sample every 4th + resize of a generated 90 s 480p clip, against
           `ffmpeg -i clip -f null -` on the same clip in the same run (goal ratio ≥ 0.8)
  tree     chain-constrained Ward + released tree at 1k/10k/27k/100k frames (goal 27k < 5 s)
  e2e      decode + `pixels` embedding + tree: video-seconds per wall-second
  encoder  V-JEPA 2 windows/s batched vs batch 1 (tiny random config on CPU; the ViT-g
           shape, or --weights, on CUDA)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from actionlens.testing.media import testsrc_clip

PARTS = ("decode", "tree", "e2e", "encoder")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    p.add_argument("--seconds", type=float, default=90.0, help="length of the generated clip")
    p.add_argument(
        "--sizes", default="1000,10000,27000,100000", help="frame counts for the tree part"
    )
    p.add_argument(
        "--dim", type=int, default=1408, help="vector size for the tree part (ViT-g: 1408)"
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--weights", default=None, help="V-JEPA 2 checkpoint directory (encoder part)")
    p.add_argument("--batch", type=int, default=4, help="windows per forward pass (encoder part)")
    p.add_argument("--windows", type=int, default=8, help="windows to time per mode (encoder part)")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per measurement (best kept)")
    p.add_argument(
        "--workdir", default=None, help="keep generated clips here (default: a temp dir)"
    )


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_decode(clip: Path, ffmpeg: str, repeat: int) -> dict:
    from actionlens.segment.decode import FrameSize, SampledFrames

    def ffmpeg_null():
        subprocess.run(
            [
                ffmpeg,
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-i",
                str(clip),
                "-f",
                "null",
                "-",
            ],
            check=True,
            capture_output=True,
        )

    out: dict = {}
    seconds_ffmpeg = _best(ffmpeg_null, repeat)
    for name, size in (("vjepa2_384", FrameSize(438, 384)), ("pixels_32", FrameSize(32, 32))):

        def ours(size=size):
            frames = SampledFrames(clip, size)
            for _ in frames:
                pass
            out["sampled"], out["decoded"], out["duration"] = (
                len(frames.times),
                frames.decoded,
                frames.duration,
            )

        seconds_ours = _best(ours, repeat)
        out[name] = {
            "seconds": round(seconds_ours, 3),
            "ratio": round(seconds_ffmpeg / seconds_ours, 3),
        }
    out["ffmpeg_null_seconds"] = round(seconds_ffmpeg, 3)
    return out


def bench_tree(sizes: list[int], dim: int) -> dict:
    import numpy as np

    from actionlens.segment.tree import build_tree

    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        # A random walk with jumps: long, smooth stretches and cuts, like frame features.
        x = rng.normal(scale=0.05, size=(n, dim)).astype(np.float32)
        x[rng.random(n) < 0.01] += rng.normal(size=(1, dim)).astype(np.float32)
        x = np.cumsum(x, axis=0)
        times = np.arange(n) * (4 / 29.97)
        t = time.perf_counter()
        tree = build_tree(
            x, times, float(times[-1] + 1 / 29.97), video_id="benchmark01", segmenter="bench"
        )
        seconds = time.perf_counter() - t
        out[str(n)] = {"seconds": round(seconds, 3), "nodes": len(tree)}
        del x
    return out


def bench_e2e(clip: Path, repeat: int) -> dict:
    from actionlens.segment.decode import SampledFrames
    from actionlens.segment.embed import PixelEmbedder
    from actionlens.segment.tree import build_tree

    embedder = PixelEmbedder()
    facts: dict = {}

    def once():
        frames = SampledFrames(clip, embedder.frame_size)
        vectors = embedder.embed(frames)
        tree = build_tree(
            vectors,
            frames.times,
            frames.duration,
            video_id="benchmark01",
            segmenter=embedder.version,
        )
        facts.update(duration=frames.duration, nodes=len(tree))

    seconds = _best(once, repeat)
    return {
        "seconds": round(seconds, 3),
        "video_seconds": round(facts["duration"], 2),
        "video_seconds_per_second": round(facts["duration"] / seconds, 1),
        "nodes": facts["nodes"],
    }


def tiny_vjepa2_config():
    """A random-weight V-JEPA 2 small enough for CPU tests and benchmarks."""
    from transformers import VJEPA2Config

    return VJEPA2Config(
        crop_size=32,
        patch_size=16,
        hidden_size=32,
        num_attention_heads=2,
        num_hidden_layers=2,
        mlp_ratio=2.0,
        frames_per_clip=64,
        pred_hidden_size=16,
        pred_num_attention_heads=2,
        pred_num_hidden_layers=1,
        pred_num_mask_tokens=2,
        num_pooler_layers=1,
    )


def vitg_config():
    """The shape of facebook/vjepa2-vitg-fpc64-384 (random weights: same cost, no download)."""
    from transformers import VJEPA2Config

    return VJEPA2Config(
        crop_size=384,
        patch_size=16,
        hidden_size=1408,
        num_attention_heads=22,
        num_hidden_layers=40,
        mlp_ratio=48 / 11,
        frames_per_clip=64,
        pred_num_hidden_layers=1,
        num_pooler_layers=1,
    )


def bench_encoder(device: str, weights: str | None, batch: int, windows: int) -> dict:
    import numpy as np
    import torch

    from actionlens.segment.embed import VJEPA2Embedder
    from actionlens.settings import SegmentSettings

    if device == "cuda" and not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    cfg = SegmentSettings(backend="vjepa2", device=device, weights=weights, batch_size=batch)
    if weights:
        embedder = VJEPA2Embedder(cfg)
        model_name = weights
    else:
        from transformers import VJEPA2Model

        config = vitg_config() if device == "cuda" else tiny_vjepa2_config()
        torch.manual_seed(0)
        embedder = VJEPA2Embedder(cfg, model=VJEPA2Model(config))
        model_name = "random ViT-g shape" if device == "cuda" else "tiny random config"
    crop = embedder.frame_size.crop
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, size=(batch, cfg.window, crop, crop, 3), dtype=np.uint8)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    embedder.encode(clip[:1])  # warm-up (kernels, allocator)
    sync()
    t = time.perf_counter()
    for _ in range(windows):
        embedder.encode(clip[:1])
    sync()
    single = windows / (time.perf_counter() - t)
    rounds = max(1, windows // batch)
    t = time.perf_counter()
    for _ in range(rounds):
        embedder.encode(clip)
    sync()
    batched = rounds * batch / (time.perf_counter() - t)
    return {
        "model": model_name,
        "device": device,
        "dtype": str(embedder.dtype).replace("torch.", ""),
        "batch": batch,
        "windows_per_second_batch1": round(single, 2),
        "windows_per_second_batched": round(batched, 2),
        "speedup": round(batched / single, 2),
    }


def run(args: argparse.Namespace) -> dict:
    """Run the chosen parts, print a line per figure, return all figures."""
    from actionlens.media import ffmpeg_binary

    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--only: unknown parts {unknown}; choose from {PARTS}")
    results: dict = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="actionlens-bench-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clip = None
        if {"decode", "e2e"} & set(parts):
            ffmpeg = ffmpeg_binary()
            clip = testsrc_clip(work / f"bench_{int(args.seconds)}s_480p.mp4", args.seconds, ffmpeg)
        if "decode" in parts:
            r = results["decode"] = bench_decode(clip, ffmpeg, args.repeat)
            print(
                f"decode  {r['duration']:.1f} s clip, {r['decoded']} frames, {r['sampled']} sampled: "
                f"ffmpeg -f null {r['ffmpeg_null_seconds']} s; ours @384 {r['vjepa2_384']['seconds']} s "
                f"(ratio {r['vjepa2_384']['ratio']}), @32 {r['pixels_32']['seconds']} s "
                f"(ratio {r['pixels_32']['ratio']}); goal ≥ 0.8",
                flush=True,
            )
        if "tree" in parts:
            sizes = [int(s) for s in args.sizes.split(",") if s]
            r = results["tree"] = bench_tree(sizes, args.dim)
            for n, v in r.items():
                print(
                    f"tree    {int(n):>7} frames × {args.dim}: {v['seconds']:.3f} s, {v['nodes']} nodes",
                    flush=True,
                )
        if "e2e" in parts:
            r = results["e2e"] = bench_e2e(clip, args.repeat)
            print(
                f"e2e     pixels: {r['video_seconds']} video-s in {r['seconds']} s = "
                f"{r['video_seconds_per_second']} video-s per wall-s ({r['nodes']} nodes)",
                flush=True,
            )
        if "encoder" in parts:
            r = results["encoder"] = bench_encoder(
                args.device, args.weights, args.batch, args.windows
            )
            if "skipped" in r:
                print(f"encoder skipped: {r['skipped']}")
            else:
                print(
                    f"encoder {r['model']} on {r['device']} ({r['dtype']}): "
                    f"{r['windows_per_second_batch1']} windows/s at batch 1, "
                    f"{r['windows_per_second_batched']} at batch {r['batch']} (×{r['speedup']})",
                    flush=True,
                )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m actionlens.bench.segment", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="also print all figures as JSON")
    args = parser.parse_args(argv)
    results = run(args)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
