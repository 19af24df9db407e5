"""`transformers-auto`: any image-text-to-text checkpoint transformers knows (Molmo2,
...) in-process, through AutoModelForImageTextToText and its own processor, with the
batched greedy generation of the Qwen3-VL backend. Weights from a local directory."""

from __future__ import annotations

from actionlens.models.base import ChatRequest, Image, Video
from actionlens.models.qwen3vl import Qwen3VLChat


class AutoVLMChat(Qwen3VLChat):
    """Generation, batching and decoding are Qwen3VLChat's; loading and batching differ."""

    backend = "transformers-auto"

    def chunk_key(self, request: ChatRequest) -> object:
        """Also the kinds of media: Molmo2 cannot match image features to image tokens in
        a batch that mixes images and videos (a caption batch asks both for a leaf)."""
        kinds = {
            type(part).__name__
            for m in request.messages
            for part in m.parts()
            if isinstance(part, Image | Video)
        }
        return request.max_new_tokens, tuple(sorted(kinds))

    @staticmethod
    def model_class():
        from transformers import AutoModelForImageTextToText

        return AutoModelForImageTextToText
