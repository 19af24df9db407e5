"""`transformers-auto`: any image-text-to-text checkpoint transformers knows (Molmo2,
...) in-process, through AutoModelForImageTextToText and its own processor, with the
batched greedy generation of the Qwen3-VL backend. Weights from a local directory."""

from __future__ import annotations

import logging

from actionlens.errors import ConfigurationError
from actionlens.models.qwen3vl import Qwen3VLChat, weights_path
from actionlens.models.registry import register
from actionlens.settings import ModelSettings, ModelSpec

log = logging.getLogger(__name__)


@register("transformers-auto", module=__name__)
class AutoVLMChat(Qwen3VLChat):
    """Generation, batching and decoding are Qwen3VLChat's; only loading differs."""

    def __init__(self, spec: ModelSpec, models: ModelSettings):  # noqa: D107 - loading only
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model_id = spec.model_id
        path = weights_path(spec, models)
        if not (path / "config.json").is_file():
            raise ConfigurationError(
                f"no weights for {spec.model_id!r} at {path}: download the checkpoint there or set "
                "its `weights` to the local directory"
            )
        cuda = torch.cuda.is_available() and models.device != "cpu"
        if models.device == "cuda" and not cuda:
            raise ConfigurationError("models.device is 'cuda' but torch sees no GPU")
        self.device = torch.device("cuda" if cuda else "cpu")
        self.dtype = torch.bfloat16 if cuda else torch.float32
        self.batch_size = models.batch_size
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self.processor.tokenizer.padding_side = "left"  # decoder-only batching
        self.model = (
            AutoModelForImageTextToText.from_pretrained(path, dtype=self.dtype, local_files_only=True)
            .to(self.device)
            .eval()
        )
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        eos.append(self.processor.tokenizer.eos_token_id)
        self.eos_ids = {e for e in eos if e is not None}
        self.pad_id = self.processor.tokenizer.pad_token_id
        log.info("loaded %s from %s on %s (%s)", spec.model_id, path, self.device, self.dtype)
