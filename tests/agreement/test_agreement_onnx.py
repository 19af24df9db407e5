"""The ONNX Runtime sentence encoder gives sentence-transformers' embeddings, and says no
to model layouts it cannot run."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from actionlens.agreement.lexical import normalize
from actionlens.agreement.semantic import Embedder
from actionlens.errors import ConfigurationError
from actionlens.models.onnx_sentence import OnnxSentenceEncoder, read_layout
from actionlens.models.text import default_model_path, load_sentence_model, resolve_backend

TEXTS = [
    "A man slices a loaf of bread.",
    "Whisk",
    "",
    "The Person Pours BATTER into a hot pan, then tilts it so the batter covers the pan. "
    * 12,  # longer than the tiny models' 48 tokens and MiniLM's 256
    "cuts the dough into squares",
    "n/a",
    "places the lid on the pot and lowers the heat while stirring now and then",
]


def _tiny_sentence_model(root, pooling: str, normalize: bool, seed: int = 0):
    """A random-weight BERT saved by sentence-transformers itself (its 6.x layout)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers.sentence_transformer.modules import (
            Normalize,
            Pooling,
            Transformer,
        )

        hf = root / "hf"
        tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()))
        tokenizer.save_pretrained(hf)
        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
        BertModel(config).save_pretrained(hf)
        modules = [Transformer(str(hf), max_seq_length=48), Pooling(32, pooling_mode=pooling)]
        model = SentenceTransformer(modules=[*modules, Normalize()] if normalize else modules)
        model.save(str(root / "st"))
    shutil.rmtree(hf)
    return root / "st"


@pytest.mark.parametrize(("pooling", "normalize"), [("mean", True), ("cls", False), ("max", True)])
def test_tiny_models_match_sentence_transformers(tmp_path, pooling, normalize):
    model_dir = _tiny_sentence_model(tmp_path, pooling, normalize)
    expected = load_sentence_model(model_dir).encode(TEXTS, batch_size=3)
    encoder = OnnxSentenceEncoder(model_dir, tmp_path / "cache")
    got = encoder.encode(TEXTS, batch_size=3)
    assert encoder.max_seq_length == 48 and encoder.pooling == pooling
    assert got.shape == expected.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    if normalize:
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_batch_size_and_order_do_not_change_embeddings(tmp_path):
    model_dir = _tiny_sentence_model(tmp_path, "mean", True)
    encoder = OnnxSentenceEncoder(model_dir, tmp_path / "cache")
    one = encoder.encode(TEXTS, batch_size=1)
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=64), one, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(TEXTS[::-1], batch_size=2)[::-1], one, atol=1e-5)
    assert encoder.encode([], batch_size=4).shape[0] == 0


def test_export_is_cached_by_weights(tmp_path):
    cache = tmp_path / "cache"
    model_dir = _tiny_sentence_model(tmp_path / "a", "mean", True, seed=0)
    first = OnnxSentenceEncoder(model_dir, cache)
    again = OnnxSentenceEncoder(model_dir, cache)
    assert first.exported and not again.exported and again.onnx_path == first.onnx_path
    assert [p.name for p in cache.iterdir()] == [first.onnx_path.name]  # no partial files

    retrained = _tiny_sentence_model(tmp_path / "b", "mean", True, seed=1)
    other = OnnxSentenceEncoder(retrained, cache)
    assert other.exported and other.onnx_path != first.onnx_path
    assert not np.allclose(other.encode(TEXTS[:2]), first.encode(TEXTS[:2]))


def test_legacy_layout_of_the_shipped_minilm_is_read():
    layout = read_layout(default_model_path())
    assert layout["pooling"] == "mean" and layout["normalize"]
    assert layout["max_seq_length"] == 256 and not layout["do_lower_case"]


def _layout_dir(tmp_path, modules, pooling):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return tmp_path


TRANSFORMER = {"path": "", "type": "sentence_transformers.models.Transformer"}
POOLING = {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}


@pytest.mark.parametrize(
    ("modules", "pooling", "message"),
    [
        (
            [
                TRANSFORMER,
                POOLING,
                {"path": "2_Dense", "type": "sentence_transformers.models.Dense"},
            ],
            {"pooling_mode": "mean"},
            "Dense",
        ),
        ([TRANSFORMER, POOLING], {"pooling_mode": "weightedmean"}, "weightedmean"),
        ([TRANSFORMER, POOLING], {"pooling_mode": ["mean", "max"]}, "'max'"),
        (
            [TRANSFORMER, POOLING],
            {"pooling_mode_mean_tokens": True, "pooling_mode_lasttoken": True},
            "lasttoken",
        ),
    ],
)
def test_unsupported_layouts_are_refused_naming_the_model(tmp_path, modules, pooling, message):
    model_dir = _layout_dir(tmp_path, modules, pooling)
    with pytest.raises(ConfigurationError, match=message) as err:
        read_layout(model_dir)
    assert str(model_dir) in str(err.value) and "embedding_backend=torch" in str(err.value)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ConfigurationError, match="modules.json"):
        read_layout(tmp_path)
    with pytest.raises(ConfigurationError, match="not a local directory"):
        OnnxSentenceEncoder(tmp_path / "nowhere", tmp_path / "cache")


def test_backend_resolution():
    assert resolve_backend("auto", "cpu") == "onnx"
    assert resolve_backend("auto", "cuda") == "torch"
    assert resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(ConfigurationError, match="runs on the CPU"):
        resolve_backend("onnx", "cuda")
    with pytest.raises(ConfigurationError, match="'tensorrt'"):
        resolve_backend("tensorrt", "cpu")


def test_shipped_minilm_on_onnx_equals_sentence_transformers(tmp_path):
    embedder = Embedder(cache_dir=tmp_path)  # the default: ONNX Runtime on the CPU
    assert isinstance(embedder.model, OnnxSentenceEncoder)
    expected = load_sentence_model().encode([normalize(t) for t in TEXTS])
    np.testing.assert_allclose(embedder.embed(TEXTS), expected, atol=1e-5)
    torch_embedder = Embedder(backend="torch")
    a, b = TEXTS[:4], TEXTS[3:7]
    np.testing.assert_allclose(
        embedder.similarity(a, b), torch_embedder.similarity(a, b), atol=1e-5
    )


def test_unwritable_cache_exports_for_this_process_only(tmp_path):
    model_dir = _tiny_sentence_model(tmp_path, "mean", True)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    encoder = OnnxSentenceEncoder(model_dir, blocker / "cache", threads=1)
    assert encoder.exported and blocker not in encoder.onnx_path.parents
    assert encoder.session.get_session_options().intra_op_num_threads == 1
    expected = OnnxSentenceEncoder(model_dir, tmp_path / "cache").encode(TEXTS)
    np.testing.assert_allclose(encoder.encode(TEXTS), expected, atol=1e-6)
