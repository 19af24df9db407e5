"""A sentence-transformers model run by ONNX Runtime on the CPU.

Same weights, same tokenizer, same pooling as ``SentenceTransformer.encode`` (cosines agree
to ~1e-7), about 1.8x faster on this project's 2-core CPU runners: the transformer is
exported once with ``torch.onnx`` to a cache file keyed by the weights, and ONNX Runtime
runs it with its fused CPU kernels. Texts are tokenized once, sorted by token length and
padded per batch only as far as the longest text of the batch.

Supported: directories (saved by sentence-transformers 2–6) of the shape Transformer →
Pooling (mean, CLS or max) → optional Normalize, e.g. all-MiniLM-L6-v2. Anything else raises ``ConfigurationError``
naming the directory; run such models with ``agreement.embedding_backend: torch``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actionlens.errors import ConfigurationError

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the export below changes: old cache files are ignored
POOLING = ("mean", "cls", "max")
# sentence-transformers < 6 wrote one boolean per mode; 6 writes `pooling_mode`.
LEGACY_POOLING_KEYS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _read_json(path: Path) -> dict | list:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"embedding model: {str(path)!r} is missing") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"embedding model: {str(path)!r} is not JSON: {exc}") from None


def _pooling_modes(config: dict) -> list[str]:
    mode = config.get("pooling_mode")
    if mode is None:
        return [name for key, name in LEGACY_POOLING_KEYS.items() if config.get(key)]
    return [mode] if isinstance(mode, str) else list(mode)


def read_layout(model_dir: Path) -> dict:
    """Transformer directory, max length, lower-casing, pooling and normalisation of a model."""
    modules = _read_json(model_dir / "modules.json")
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ConfigurationError(
            f"embedding model {str(model_dir)!r}: modules {kinds} are not "
            "Transformer → Pooling [→ Normalize]; use agreement.embedding_backend=torch"
        )
    transformer_dir = model_dir / modules[0].get("path", "")
    modes = _pooling_modes(_read_json(model_dir / modules[1]["path"] / "config.json"))
    if len(modes) != 1 or modes[0] not in POOLING:
        raise ConfigurationError(
            f"embedding model {str(model_dir)!r}: pooling {modes} is not one of {POOLING}; "
            "use agreement.embedding_backend=torch"
        )
    bert = {}
    if (transformer_dir / "sentence_bert_config.json").is_file():
        bert = _read_json(transformer_dir / "sentence_bert_config.json")
    return {
        "transformer_dir": transformer_dir,
        "max_seq_length": bert.get("max_seq_length"),  # None: the tokenizer's own limit
        "do_lower_case": bool(bert.get("do_lower_case", False)),
        "pooling": modes[0],
        "normalize": kinds[-1] == "Normalize",
    }


def weights_key(transformer_dir: Path) -> str:
    """Hash of the config and weight files: a new checkpoint never reuses an old export."""
    import torch

    digest = hashlib.sha256(f"{EXPORT_VERSION}|torch {torch.__version__}".encode())
    files = sorted(
        p
        for p in transformer_dir.iterdir()
        if p.name == "config.json" or p.suffix in (".safetensors", ".bin")
    )
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        raise ConfigurationError(f"embedding model {str(transformer_dir)!r} holds no weights")
    for p in files:
        digest.update(p.name.encode())
        with p.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:20]


def export_onnx(transformer_dir: Path, input_names: Sequence[str], target: Path) -> None:
    """Export the transformer's last hidden state to `target`, atomically."""
    import torch
    from transformers import AutoModel

    # Eager attention exports as plain MatMul/Softmax, which ONNX Runtime fuses on the CPU.
    model = AutoModel.from_pretrained(
        str(transformer_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in input_names)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*input_names, "last_hidden_state"]}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(model),
                example,
                tmp,
                input_names=list(input_names),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class OnnxSentenceEncoder:
    """`encode(texts, batch_size, normalize_embeddings)` like SentenceTransformer, on ONNX Runtime."""

    backend = "onnx"
    needs_gpu = False
    needs_frames = False

    @classmethod
    def load(cls, path, *, device: str, cache_dir: Path, threads: int | None):
        return cls(path, cache_dir, threads=threads)

    def __init__(self, model_dir: str | Path, cache_dir: str | Path, threads: int | None = None):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ConfigurationError(f"embedding model {str(model_dir)!r} is not a local directory")
        layout = read_layout(model_dir)
        self.do_lower_case = layout["do_lower_case"]
        self.pooling = layout["pooling"]
        self.normalize = layout["normalize"]
        self.tokenizer = AutoTokenizer.from_pretrained(
            str(layout["transformer_dir"]), local_files_only=True
        )
        # As sentence-transformers: its own setting, else the tokenizer's (which v6 saves).
        self.max_seq_length = int(layout["max_seq_length"] or self.tokenizer.model_max_length)
        if self.max_seq_length > 100_000:  # the tokenizer has no limit of its own
            config = _read_json(layout["transformer_dir"] / "config.json")
            self.max_seq_length = int(config.get("max_position_embeddings", 512))
        self.input_names = [
            n
            for n in ("input_ids", "attention_mask", "token_type_ids")
            if n in self.tokenizer.model_input_names
        ]
        if self.input_names[:2] != ["input_ids", "attention_mask"]:
            raise ConfigurationError(
                f"embedding model {str(model_dir)!r}: tokenizer gives "
                f"{self.tokenizer.model_input_names}, not input_ids and attention_mask"
            )
        key = weights_key(layout["transformer_dir"])
        self.onnx_path = Path(cache_dir) / f"{model_dir.name}-{key}.onnx"
        self.exported = not self.onnx_path.is_file()
        if self.exported:
            log.info("exporting %s to %s", model_dir, self.onnx_path)
            try:
                export_onnx(layout["transformer_dir"], self.input_names, self.onnx_path)
            except OSError as exc:  # e.g. a read-only image: export for this process only
                self.onnx_path = Path(tempfile.mkdtemp(prefix="actionlens-onnx-")) / (
                    self.onnx_path.name
                )
                log.warning(
                    "cache %s not writable (%s); exporting to %s", cache_dir, exc, self.onnx_path
                )
                export_onnx(layout["transformer_dir"], self.input_names, self.onnx_path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(self.onnx_path), options, providers=["CPUExecutionProvider"]
        )

    def tokenize(self, texts: Sequence[str]) -> list[dict[str, list[int]]]:
        if not texts:
            return []
        if self.do_lower_case:
            texts = [t.lower() for t in texts]
        enc = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_seq_length, padding=False
        )
        return [{n: enc[n][i] for n in self.input_names} for i in range(len(texts))]

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooling == "cls":
            return hidden[:, 0]
        m = mask[..., None].astype(hidden.dtype)
        if self.pooling == "max":
            return np.where(m > 0, hidden, -1e9).max(axis=1)
        return (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        normalize_embeddings: bool = False,
        **_ignored,
    ) -> np.ndarray:
        tokens = self.tokenize(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(tokens[i]["input_ids"]))
        out: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = len(tokens[idx[0]]["input_ids"])
            feeds = {n: np.zeros((len(idx), width), dtype=np.int64) for n in self.input_names}
            for row, i in enumerate(idx):
                for n in self.input_names:
                    seq = tokens[i][n]
                    feeds[n][row, : len(seq)] = seq
            hidden = self.session.run(["last_hidden_state"], feeds)[0]
            pooled = self._pool(hidden, feeds["attention_mask"])
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        if out is None:
            return np.zeros((0, 0), dtype=np.float32)
        if self.normalize or normalize_embeddings:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out
