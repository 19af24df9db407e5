"""Object storage: the local folder and GCS (over HTTP against an emulator)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from actionlens.errors import AlreadyExists, ConfigurationError
from actionlens.store.storage import GCSBucket, LocalBucket, open_bucket


@pytest.fixture
def payload(tmp_path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    return path


def test_local_upload_download_list_stat(tmp_path, payload):
    bucket = LocalBucket(tmp_path / "b")
    info = bucket.upload(payload, "clips/aaaaaaaaaa1.mp4", metadata={"sha256": "x"})
    assert info.size == payload.stat().st_size
    assert bucket.exists("clips/aaaaaaaaaa1.mp4") and not bucket.exists("clips/nope.mp4")
    assert bucket.list("clips/") == ["clips/aaaaaaaaaa1.mp4"]
    assert bucket.stat("clips/aaaaaaaaaa1.mp4").metadata == {"sha256": "x"}
    out = bucket.download("clips/aaaaaaaaaa1.mp4", tmp_path / "out" / "c.mp4")
    assert out.read_bytes() == payload.read_bytes()


def test_local_upload_is_create_only(tmp_path, payload):
    bucket = LocalBucket(tmp_path / "b")
    bucket.upload(payload, "clips/a.mp4", metadata={"sha256": "first"})
    other = tmp_path / "other.mp4"
    other.write_bytes(b"different")
    with pytest.raises(AlreadyExists):
        bucket.upload(other, "clips/a.mp4", metadata={"sha256": "second"})
    assert (tmp_path / "b" / "clips" / "a.mp4").read_bytes() == payload.read_bytes()
    assert bucket.stat("clips/a.mp4").metadata == {"sha256": "first"}


def test_local_upload_failure_leaves_no_partial_object(tmp_path, payload, monkeypatch):
    bucket = LocalBucket(tmp_path / "b")

    def broken_copy(src, dst):
        Path(dst).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        bucket.upload(payload, "clips/a.mp4")
    assert not bucket.exists("clips/a.mp4")
    assert list((tmp_path / "b" / "clips").iterdir()) == []


@pytest.mark.parametrize("key", ["../x.mp4", "/abs.mp4", "", "a/../../b"])
def test_keys_cannot_escape_the_bucket(tmp_path, payload, key):
    with pytest.raises(ValueError):
        LocalBucket(tmp_path / "b").upload(payload, key)


def test_open_bucket_chooses_by_uri(tmp_path):
    assert isinstance(open_bucket(str(tmp_path / "b")), LocalBucket)
    with pytest.raises(ConfigurationError, match="s3://x"):
        open_bucket("s3://x")


@pytest.mark.integration
class TestGCS:
    @pytest.fixture
    def bucket(self, gcs_endpoint, request):
        return GCSBucket(f"gs://actionlens-test/{request.node.name}", endpoint=gcs_endpoint)

    def test_upload_download_exists_list_stat(self, bucket, payload, tmp_path):
        info = bucket.upload(payload, "clips/aaaaaaaaaa1.mp4", metadata={"sha256": "abc"})
        assert info.uri.endswith("/clips/aaaaaaaaaa1.mp4") and info.uri.startswith(
            "gs://actionlens-test/"
        )
        assert bucket.exists("clips/aaaaaaaaaa1.mp4")
        assert not bucket.exists("clips/zzzzzzzzzz9.mp4")
        assert bucket.list("clips/") == ["clips/aaaaaaaaaa1.mp4"]
        stat = bucket.stat("clips/aaaaaaaaaa1.mp4")
        assert stat.size == payload.stat().st_size and stat.metadata == {"sha256": "abc"}
        out = bucket.download("clips/aaaaaaaaaa1.mp4", tmp_path / "dl.mp4")
        assert out.read_bytes() == payload.read_bytes()
        with pytest.raises(FileNotFoundError):
            bucket.download("clips/zzzzzzzzzz9.mp4", tmp_path / "none.mp4")

    def test_upload_sends_a_create_only_precondition(self, bucket, payload):
        # The emulator ignores preconditions, so check the request we send instead.
        urls: list[str] = []
        session = bucket.client._http
        session.hooks["response"].append(lambda r, *a, **k: urls.append(r.request.url))
        bucket.upload(payload, "clips/a.mp4")
        uploads = [u for u in urls if "/upload/" in u]
        assert uploads and all("ifGenerationMatch=0" in u for u in uploads)

    def test_second_upload_of_a_key_raises_already_exists(self, bucket, payload):
        bucket.upload(payload, "clips/a.mp4")
        with pytest.raises(AlreadyExists):
            bucket.upload(payload, "clips/a.mp4")

    def test_server_side_precondition_failure_maps_to_already_exists(
        self, bucket, payload, monkeypatch
    ):
        # What a real GCS answers (412) when another writer won the race after our check.
        from google.api_core.exceptions import PreconditionFailed
        from google.cloud.storage import Blob

        monkeypatch.setattr(Blob, "exists", lambda self, *a, **k: False)

        def refuse(self, *a, **k):
            assert k.get("if_generation_match") == 0
            raise PreconditionFailed("conditionNotMet")

        monkeypatch.setattr(Blob, "upload_from_filename", refuse)
        with pytest.raises(AlreadyExists):
            bucket.upload(payload, "clips/a.mp4")

    def test_sha256_reads_the_object_and_delete_removes_it(self, bucket, payload):
        from actionlens.store.storage import sha256_file

        bucket.upload(payload, "clips/a.mp4", metadata={"sha256": "not-what-is-stored"})
        assert bucket.sha256("clips/a.mp4") == sha256_file(payload)  # bytes, not metadata
        bucket.delete("clips/a.mp4")
        bucket.delete("clips/a.mp4")  # gone already: no error
        assert not bucket.exists("clips/a.mp4")


def test_local_sha256_and_delete(tmp_path, payload):
    from actionlens.store.storage import sha256_file

    bucket = LocalBucket(tmp_path / "b")
    bucket.upload(payload, "clips/a.mp4", metadata={"sha256": "x"})
    assert bucket.sha256("clips/a.mp4") == sha256_file(payload)
    bucket.delete("clips/a.mp4")
    bucket.delete("clips/a.mp4")
    assert not bucket.exists("clips/a.mp4") and bucket.list() == []
