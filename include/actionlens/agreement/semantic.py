"""Semantic agreement: cosine of sentence embeddings, floored at 0.

The model loads once per process; each distinct text is embedded once (cached by the
hash of the text) however many pairs it appears in. Texts go to the encoder as written,
like the workshop's text_evaluation_metrics plugin: no case-folding here (a model whose
tokenizer lower-cases, like MiniLM's and mpnet's, does so itself). Two backends run the same
sentence-transformers directory: `onnx` (ONNX Runtime, the CPU default, ~1.8x faster
there) and `torch` (sentence-transformers itself, for GPUs and for models whose layout
the ONNX encoder does not support).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actionlens.models.text import DEFAULT_MODEL_NAME, load_encoder

log = logging.getLogger(__name__)


def as_written(text: str | None) -> str:
    """What the encoder is given: the text itself (None counts as empty)."""
    return text or ""


def is_empty(text: str | None) -> bool:
    return not as_written(text).strip()


def text_key(text: str | None) -> str:
    return hashlib.sha1(as_written(text).encode()).hexdigest()


class Embedder:
    """Unit-length embeddings of texts, each distinct text encoded once."""

    def __init__(
        self,
        model=None,
        *,
        path: str | Path | None = None,
        device: str = "cpu",
        backend: str = "auto",
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        batch_size: int = 16,
    ):
        if model is None:
            model = load_encoder(path, device, backend, cache_dir, threads)
        self.model = model
        self.name = Path(str(path)).name if path else DEFAULT_MODEL_NAME
        self.batch_size = batch_size
        self.cache: dict[str, np.ndarray] = {}
        self.encoded = 0  # texts actually sent to the model

    def embed(self, texts: Sequence[str | None]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self.cache and key not in todo:
                todo[key] = as_written(text)
        if todo:
            vectors = self.model.encode(
                list(todo.values()),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            self.encoded += len(todo)
            for key, vec in zip(todo, vectors, strict=True):
                self.cache[key] = vec.astype(np.float32)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self.cache[k] for k in keys])

    def similarity(self, a: Sequence[str | None], b: Sequence[str | None]) -> np.ndarray:
        """Cosine of each pair floored at 0; both empty → 1, one empty → 0."""
        if len(a) != len(b):
            raise ValueError(f"similarity: {len(a)} texts against {len(b)}")
        if not len(a):
            return np.zeros(0, dtype=np.float64)
        vectors = self.embed([*a, *b])  # one encode call for both sides
        cos = np.einsum("ij,ij->i", vectors[: len(a)], vectors[len(a) :]).astype(np.float64)
        cos = np.clip(cos, 0.0, 1.0)
        empty_a = np.array([is_empty(t) for t in a])
        empty_b = np.array([is_empty(t) for t in b])
        cos[empty_a & empty_b] = 1.0
        cos[empty_a ^ empty_b] = 0.0
        return cos
