"""Qwen3-VL in-process with transformers: batched greedy generation, bf16 on CUDA.

Weights and processor come from a local directory (`spec.weights`, else
`models.weights_dir/<model_id>`); nothing is fetched at run time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from actionlens.devices import torch_device
from actionlens.models.base import ChatRequest, Generation, Image, Usage, Video
from actionlens.models.weights import checkpoint_dir, left_padded_processor
from actionlens.settings import ModelSettings, ModelSpec

log = logging.getLogger(__name__)


def hf_conversation(request: ChatRequest) -> tuple[list[dict], list[Any], list[Video]]:
    """Messages in the processor's chat format, plus the images and videos in order."""
    messages, images, videos = [], [], []
    for m in request.messages:
        if isinstance(m.content, str):
            messages.append({"role": m.role, "content": [{"type": "text", "text": m.content}]})
            continue
        content = []
        for part in m.content:
            if isinstance(part, str):
                content.append({"type": "text", "text": part})
            elif isinstance(part, Image):
                content.append({"type": "image"})
                images.append(part.pixels)
            elif isinstance(part, Video):
                content.append({"type": "video"})
                videos.append(part)
            else:
                raise TypeError(f"unsupported message part {type(part).__name__}")
        messages.append({"role": m.role, "content": content})
    return messages, images, videos


class Qwen3VLChat:
    """Qwen3VLForConditionalGeneration + its processor, loaded once per process."""

    backend = "qwen3vl"
    baseline = False
    needs_gpu = True
    needs_frames = True

    @staticmethod
    def model_class():
        """The transformers class that loads the checkpoint (subclasses swap it)."""
        from transformers import Qwen3VLForConditionalGeneration

        return Qwen3VLForConditionalGeneration

    def __init__(self, spec: ModelSpec, models: ModelSettings):
        self.model_id = spec.model_id
        path = checkpoint_dir(spec, models, "models.<stage>.weights to its local directory")
        self.device, self.dtype = torch_device(models.device, "models.device")
        self.batch_size = models.batch_size
        self.processor = left_padded_processor(path)
        self.model = (
            self.model_class()
            .from_pretrained(path, dtype=self.dtype, local_files_only=True)
            .to(self.device)
            .eval()
        )
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        eos.append(self.processor.tokenizer.eos_token_id)
        self.eos_ids = {e for e in eos if e is not None}
        self.pad_id = self.processor.tokenizer.pad_token_id
        log.info("loaded %s from %s on %s (%s)", spec.model_id, path, self.device, self.dtype)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        out: list[Generation | None] = [None] * len(requests)
        groups: dict[object, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(self.chunk_key(r), []).append(i)
        for order in groups.values():
            for k in range(0, len(order), self.batch_size):
                chunk = order[k : k + self.batch_size]
                for i, gen in zip(chunk, self._chunk([requests[i] for i in chunk]), strict=True):
                    out[i] = gen
        return [g for g in out if g is not None]

    def chunk_key(self, request: ChatRequest) -> object:
        """Requests batched together share this: a max_new_tokens, so no row is cut by
        another row's budget."""
        return request.max_new_tokens

    def close(self) -> None:
        import torch

        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _chunk(self, requests: list[ChatRequest]) -> list[Generation]:
        started = time.monotonic()
        try:
            return self._run(requests, started)
        except Exception as exc:  # one bad chunk (OOM, odd input) must not stop the batch
            log.exception("generation failed for a chunk of %d requests", len(requests))
            return [
                Generation("", finish_reason="error", error=f"{type(exc).__name__}: {exc}")
                for _ in requests
            ]

    def _run(self, requests: list[ChatRequest], started: float) -> list[Generation]:
        import torch
        from transformers.video_utils import VideoMetadata

        texts, images, videos, metas = [], [], [], []
        for r in requests:
            messages, imgs, vids = hf_conversation(r)
            texts.append(
                self.processor.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
            images += imgs
            for v in vids:
                videos.append(v.frames)
                metas.append(
                    VideoMetadata(
                        total_num_frames=len(v.frames),
                        fps=v.fps,
                        frames_indices=list(range(len(v.frames))),
                    )
                )
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
        if videos:
            kwargs.update(videos=videos, video_metadata=metas, do_sample_frames=False)
        inputs = self.processor(**kwargs).to(self.device)
        max_new = max(r.max_new_tokens for r in requests)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new, do_sample=False)
        prompt_len = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        seconds = (time.monotonic() - started) / len(requests)
        gens = []
        for row, new in enumerate(output[:, prompt_len:].tolist()):
            end = next((j for j, t in enumerate(new) if t in self.eos_ids), None)
            kept = new[:end] if end is not None else [t for t in new if t != self.pad_id]
            text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
            gens.append(
                Generation(
                    text=text.strip(),
                    usage=Usage(int(prompt_tokens[row]), len(kept) + (end is not None)),
                    finish_reason="stop" if end is not None else "length",
                    seconds=seconds,
                )
            )
        return gens
