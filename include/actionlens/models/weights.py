"""Where a model's checkpoint is on disk, checked before loading: nothing is fetched at
run time. Shared by the chat models and the lenses that load transformers checkpoints."""

from __future__ import annotations

from pathlib import Path

from actionlens.errors import ConfigurationError
from actionlens.settings import REPO_ROOT, LensSpec, ModelSettings, ModelSpec


def weights_path(spec: ModelSpec | LensSpec, models: ModelSettings) -> Path:
    """`spec.weights`, else `models.weights_dir/<model_id>`; relative paths from the repo."""
    path = Path(spec.weights) if spec.weights else Path(models.weights_dir) / spec.model_id
    return path if path.is_absolute() else REPO_ROOT / path


def checkpoint_dir(
    spec: ModelSpec | LensSpec, models: ModelSettings, fix: str, context: str = ""
) -> Path:
    """The checkpoint directory of `spec`, which must hold a `config.json`; else a
    ConfigurationError (`context` first) that says where it looked and, in `fix`, which
    setting points elsewhere."""
    path = weights_path(spec, models)
    if not (path / "config.json").is_file():
        raise ConfigurationError(
            f"{context}no weights for {spec.model_id!r} at {path}: download the checkpoint "
            f"there or set {fix}"
        )
    return path


def left_padded_processor(path: Path):
    """The checkpoint's processor, padding on the left: in a batch every row then ends
    at its own last token (decoder-only generation and last-token pooling need that)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    processor.tokenizer.padding_side = "left"
    return processor
