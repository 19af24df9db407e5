"""`transformers-auto`: any image-text-to-text checkpoint transformers knows (Molmo2,
...) in-process, through AutoModelForImageTextToText and its own processor, with the
batched greedy generation of the Qwen3-VL backend. Weights from a local directory."""

from __future__ import annotations

from actionlens.models.qwen3vl import Qwen3VLChat
from actionlens.models.registry import register


@register("transformers-auto", module=__name__)
class AutoVLMChat(Qwen3VLChat):
    """Generation, batching and decoding are Qwen3VLChat's; only loading differs."""

    @staticmethod
    def model_class():
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText
