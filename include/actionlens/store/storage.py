"""Object storage for clips and exports: a local folder or a GCS bucket, one interface.

Writes of clips are create-only: a rerun never overwrites a stored object. Both
implementations make an object appear whole or not at all.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from actionlens.errors import AlreadyExists, ConfigurationError, InputError
from actionlens.records import validate_video_id

if TYPE_CHECKING:
    from actionlens.settings import Settings


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)


class Bucket(Protocol):
    """What every store of objects offers."""

    uri: str

    def upload(
        self, local: Path, key: str, *, metadata: dict[str, str] | None = None
    ) -> ObjectInfo:
        """Store `local` at `key`, create-only; raise AlreadyExists if it is there."""

    def download(self, key: str, local: Path) -> Path: ...

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> ObjectInfo | None: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def sha256(self, key: str) -> str:
        """The hex sha256 of the object's bytes, read from the store (not its metadata)."""

    def delete(self, key: str) -> None:
        """Remove the object (no error when it is gone)."""

    def discard_partial(self, key: str) -> list[str]:
        """Remove what an upload to `key` that died half-way left behind; the caller holds
        the key's video (its lease), so no live upload to it is under way. Returns what
        was removed."""

    def object_uri(self, key: str) -> str: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise ValueError(f"object key {key!r} must be a relative path without '..'")
    return key


class LocalBucket:
    """A folder on disk; the embedded default. Metadata lives in a sidecar JSON file."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.uri = str(self.root)

    def object_uri(self, key: str) -> str:
        return str(self.root / _check_key(key))

    def _meta_path(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.meta.json")

    def upload(
        self, local: Path, key: str, *, metadata: dict[str, str] | None = None
    ) -> ObjectInfo:
        import json

        target = self.root / _check_key(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        try:
            shutil.copyfile(local, tmp)
            try:
                os.link(tmp, target)  # atomic and create-only: fails if target exists
            except FileExistsError:
                raise AlreadyExists(f"{self.object_uri(key)} already exists") from None
            if metadata:
                self._meta_path(target).write_text(json.dumps(metadata))
        finally:
            # Gone already when a worker that took this video over discarded it.
            Path(tmp).unlink(missing_ok=True)
        return ObjectInfo(str(target), target.stat().st_size, dict(metadata or {}))

    def discard_partial(self, key: str) -> list[str]:
        """The `.part` copies an upload killed before its link left beside the key."""
        target = self.root / _check_key(key)
        removed = []
        for part in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
            part.unlink(missing_ok=True)
            removed.append(str(part))
        return removed

    def download(self, key: str, local: Path) -> Path:
        source = self.root / _check_key(key)
        if not source.is_file():
            raise FileNotFoundError(f"{self.object_uri(key)} does not exist")
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, local)
        return local

    def exists(self, key: str) -> bool:
        return (self.root / _check_key(key)).is_file()

    def stat(self, key: str) -> ObjectInfo | None:
        import json

        path = self.root / _check_key(key)
        if not path.is_file():
            return None
        meta_path = self._meta_path(path)
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        return ObjectInfo(str(path), path.stat().st_size, meta)

    def sha256(self, key: str) -> str:
        return sha256_file(self.root / _check_key(key))

    def delete(self, key: str) -> None:
        path = self.root / _check_key(key)
        path.unlink(missing_ok=True)
        self._meta_path(path).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


class GCSBucket:
    """A Google Cloud Storage bucket (or an emulator of its HTTP API)."""

    def __init__(self, uri: str, *, endpoint: str | None = None, project: str | None = None):
        from google.cloud import storage

        if not uri.startswith("gs://"):
            raise ValueError(f"bucket URI {uri!r} must start with gs://")
        name, _, prefix = uri[len("gs://") :].partition("/")
        if not name:
            raise ValueError(f"bucket URI {uri!r} names no bucket")
        self.uri = uri.rstrip("/")
        self.prefix = prefix.strip("/")
        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            self.client = storage.Client(
                project=project or "actionlens-local",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": endpoint},
            )
        else:
            self.client = storage.Client(project=project)
        self.bucket = self.client.bucket(name)

    def _name(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def object_uri(self, key: str) -> str:
        return f"gs://{self.bucket.name}/{self._name(key)}"

    def upload(
        self, local: Path, key: str, *, metadata: dict[str, str] | None = None
    ) -> ObjectInfo:
        from google.api_core.exceptions import PreconditionFailed

        blob = self.bucket.blob(self._name(key))
        # The precondition is the guarantee against overwriting; the existence check only
        # gives a clear error early (and is all an emulator that ignores preconditions has).
        if blob.exists():
            raise AlreadyExists(f"{self.object_uri(key)} already exists")
        if metadata:
            blob.metadata = metadata
        try:
            # One request (no resumable session) below 8 MiB chunks: the object appears whole.
            blob.upload_from_filename(str(local), if_generation_match=0, checksum="md5")
        except PreconditionFailed:
            raise AlreadyExists(f"{self.object_uri(key)} already exists") from None
        return ObjectInfo(self.object_uri(key), local.stat().st_size, dict(metadata or {}))

    def download(self, key: str, local: Path) -> Path:
        from google.api_core.exceptions import NotFound

        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.bucket.blob(self._name(key)).download_to_filename(str(local))
        except NotFound:
            local.unlink(missing_ok=True)
            raise FileNotFoundError(f"{self.object_uri(key)} does not exist") from None
        return local

    def exists(self, key: str) -> bool:
        return self.bucket.blob(self._name(key)).exists()

    def stat(self, key: str) -> ObjectInfo | None:
        blob = self.bucket.get_blob(self._name(key))
        if blob is None:
            return None
        return ObjectInfo(self.object_uri(key), int(blob.size or 0), dict(blob.metadata or {}))

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        with self.bucket.blob(self._name(key)).open("rb", chunk_size=1 << 20) as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()

    def discard_partial(self, key: str) -> list[str]:
        """Nothing: GCS shows an object only once its upload (one request, or a resumable
        session) completes; an abandoned session is dropped by the service."""
        _check_key(key)
        return []

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self._name(key)).delete()

    def list(self, prefix: str = "") -> list[str]:
        full = self._name(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(b.name[strip:] for b in self.client.list_blobs(self.bucket, prefix=full))


def open_bucket(
    where: str | Settings, *, endpoint: str | None = None, project: str | None = None
) -> Bucket:
    """A bucket for `gs://name[/prefix]` or a local folder path; given the settings, the
    configured bucket with its endpoint and project."""
    if not isinstance(where, str):
        settings = where
        return open_bucket(
            settings.bucket_uri(), endpoint=settings.gcs_endpoint, project=settings.gcs_project
        )
    uri = where
    if uri.startswith("gs://"):
        return GCSBucket(uri, endpoint=endpoint, project=project)
    if "://" in uri:
        raise ConfigurationError(f"bucket {uri!r}: only gs:// URIs and local folders are supported")
    return LocalBucket(uri)


def clip_key(video_id: str) -> str:
    """Where a video's normalised clip is stored inside the bucket."""
    return f"clips/{validate_video_id(video_id)}.mp4"


def bucket_key(uri: str, bucket: Bucket) -> str:
    """The key of `uri` inside `bucket` (clip URIs are stored whole on the ledger)."""
    root = bucket.uri.rstrip("/") + "/"
    if not uri.startswith(root):
        raise InputError(f"clip {uri!r} is not in the configured bucket {bucket.uri!r}")
    return uri[len(root) :]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
