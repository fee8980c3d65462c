"""S3Storage against a real S3-compatible HTTP server (moto) on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fakes.s3_server import MotoS3
from voxagent.storage import LocalStorage, Storage, StorageError, StorageNotFound, build_storage
from voxagent.storage.base import InvalidStorageKey
from voxagent.storage.s3 import S3Storage

pytestmark = pytest.mark.timeout(30)

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256))


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoS3) -> str:
    return moto.create_bucket()


def make(moto: MotoS3, bucket: str, /, **overrides: object) -> S3Storage:
    options: dict[str, object] = {
        "bucket": bucket,
        "region": "us-east-1",
        "access_key_id": moto.access_key_id,
        "secret_access_key": moto.secret_access_key,
        "endpoint_url": moto.endpoint_url,
        "folder": "voxagent/audio",
    }
    options.update(overrides)
    return S3Storage(**options)  # type: ignore[arg-type]


@pytest.fixture
async def store(moto: MotoS3, bucket: str) -> AsyncIterator[S3Storage]:
    storage = make(moto, bucket)
    yield storage
    await storage.close()


async def test_round_trip_under_the_folder_with_the_content_type(
    store: S3Storage, moto: MotoS3, bucket: str
) -> None:
    await store.check()
    url = await store.put("recordings/call-1.wav", WAV, "audio/wav")
    assert await store.get("recordings/call-1.wav") == WAV
    head = moto.s3.head_object(Bucket=bucket, Key="voxagent/audio/recordings/call-1.wav")
    assert head["ContentType"] == "audio/wav"
    listed = moto.s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["voxagent/audio/recordings/call-1.wav"]
    assert urlsplit(url).path == f"/{bucket}/voxagent/audio/recordings/call-1.wav"


async def test_presigned_url_fetches_the_bytes_and_expires_in_an_hour(store: S3Storage) -> None:
    url = await store.put("tts/clip.mp3", b"ID3fake-mp3", "audio/mpeg")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Signature"] and query["X-Amz-Credential"][0].startswith("AKIA")
    assert query["X-Amz-Expires"] == ["3600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == b"ID3fake-mp3"
    assert response.headers["content-type"] == "audio/mpeg"


async def test_expiry_is_configurable(moto: MotoS3, bucket: str) -> None:
    storage = make(moto, bucket, url_expiry_seconds=120, folder="")
    try:
        url = await storage.url("a.wav")
    finally:
        await storage.close()
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]
    assert urlsplit(url).path == f"/{bucket}/a.wav"  # no folder: the key as given


async def test_overwrite_delete_and_missing_keys(store: S3Storage) -> None:
    await store.put("x.wav", b"first", "audio/wav")
    await store.put("x.wav", b"second", "audio/wav")
    assert await store.get("x.wav") == b"second"
    await store.delete("x.wav")
    with pytest.raises(StorageNotFound) as missing:
        await store.get("x.wav")
    assert missing.value.key == "x.wav"
    await store.delete("x.wav")  # deleting what is gone is fine
    await store.delete("never-existed.wav")


async def test_concurrent_uploads_share_one_client(store: S3Storage) -> None:
    keys = [f"batch/{i}.wav" for i in range(12)]
    await asyncio.gather(*(store.put(k, k.encode(), "audio/wav") for k in keys))
    assert await asyncio.gather(*(store.get(k) for k in keys)) == [k.encode() for k in keys]


async def test_invalid_keys_are_refused_before_any_request(store: S3Storage) -> None:
    for key in ("../escape.wav", "/abs.wav", "a//b.wav", ".hidden"):
        with pytest.raises(InvalidStorageKey):
            await store.put(key, b"x", "audio/wav")
        with pytest.raises(InvalidStorageKey):
            await store.url(key)


async def test_missing_bucket_names_the_setting(moto: MotoS3) -> None:
    storage = make(moto, "no-such-bucket-here")
    try:
        with pytest.raises(StorageError) as at_start:
            await storage.check()
        with pytest.raises(StorageError) as on_put:
            await storage.put("a.wav", b"x", "audio/wav")
    finally:
        await storage.close()
    for error in (at_start.value, on_put.value):
        assert error.setting == "AWS_BUCKET_NAME"
        assert "AWS_BUCKET_NAME" in str(error) and "'no-such-bucket-here'" in str(error)
        assert "\n" not in str(error)
        assert not isinstance(error, StorageNotFound)  # a broken store, not a missing object


async def test_wrong_access_key_names_the_setting(moto: MotoS3, bucket: str) -> None:
    storage = make(moto, bucket, access_key_id="AKIAWRONGWRONGWRONG0")
    try:
        with moto.signatures_checked():
            with pytest.raises(StorageError) as error:
                await storage.check()
            with pytest.raises(StorageError) as on_get:
                await storage.get("a.wav")
    finally:
        await storage.close()
    assert error.value.setting == on_get.value.setting == "AWS_ACCESS_KEY_ID"
    assert "check AWS_ACCESS_KEY_ID" in str(error.value) and "\n" not in str(error.value)
    assert not isinstance(on_get.value, StorageNotFound)


async def test_wrong_secret_names_the_setting(moto: MotoS3, bucket: str) -> None:
    storage = make(moto, bucket, secret_access_key="not-the-secret")
    try:
        with moto.signatures_checked(), pytest.raises(StorageError) as error:
            await storage.put("a.wav", b"x", "audio/wav")
    finally:
        await storage.close()
    assert error.value.setting == "AWS_SECRET_ACCESS_KEY"
    assert "check AWS_SECRET_ACCESS_KEY" in str(error.value)


async def test_right_credentials_pass_when_signatures_are_checked(
    store: S3Storage, moto: MotoS3
) -> None:
    with moto.signatures_checked():
        await store.check()
        await store.put("signed.wav", WAV, "audio/wav")
        assert await store.get("signed.wav") == WAV
        await store.delete("signed.wav")


async def test_unreachable_endpoint_names_the_setting(bucket: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    storage = S3Storage(
        bucket=bucket,
        access_key_id="a",
        secret_access_key="b",
        endpoint_url=f"http://127.0.0.1:{port}",
        max_attempts=1,
    )
    try:
        with pytest.raises(StorageError) as error:
            await storage.check()
    finally:
        await storage.close()
    assert error.value.setting == "AWS_ENDPOINT_URL"
    assert f"127.0.0.1:{port}" in str(error.value)


async def test_closed_store_refuses_use(moto: MotoS3, bucket: str) -> None:
    storage = make(moto, bucket)
    await storage.put("a.wav", b"x", "audio/wav")
    await storage.close()
    with pytest.raises(StorageError, match="closed"):
        await storage.get("a.wav")


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"bucket": ""}, "AWS_BUCKET_NAME"),
        ({"secret_access_key": ""}, "AWS_SECRET_ACCESS_KEY"),
        ({"access_key_id": ""}, "AWS_ACCESS_KEY_ID"),
        ({"url_expiry_seconds": 0}, "S3_URL_EXPIRY_SECONDS"),
        ({"url_expiry_seconds": 8 * 24 * 3600}, "S3_URL_EXPIRY_SECONDS"),
        ({"folder": "../up"}, "S3_BUCKET_FOLDER"),
        ({"endpoint_url": "minio:9000"}, "AWS_ENDPOINT_URL"),
    ],
)
def test_contradictory_settings_fail_at_construction(
    moto: MotoS3, overrides: dict[str, object], setting: str
) -> None:
    with pytest.raises(StorageError) as error:
        make(moto, "some-bucket", **overrides)
    assert error.value.setting == setting
    assert setting in str(error.value)


async def test_folder_slashes_are_trimmed(moto: MotoS3, bucket: str) -> None:
    storage = make(moto, bucket, folder="/calls/")
    try:
        await storage.put("a.wav", b"x", "audio/wav")
    finally:
        await storage.close()
    assert moto.s3.get_object(Bucket=bucket, Key="calls/a.wav")["Body"].read() == b"x"


async def test_build_storage_picks_s3_when_a_bucket_is_set(moto: MotoS3, bucket: str) -> None:
    storage = build_storage(
        bucket=bucket,
        region="us-east-1",
        access_key_id=moto.access_key_id,
        secret_access_key=moto.secret_access_key,
        endpoint_url=moto.endpoint_url,
        folder="f",
        local_dir="unused",
        public_base_url="https://example.test",
    )
    try:
        assert isinstance(storage, S3Storage) and isinstance(storage, Storage)
        url = await storage.put("hello.wav", b"hi", "audio/wav")
        assert url.startswith(f"{moto.endpoint_url}/{bucket}/f/hello.wav?")
    finally:
        await storage.close()
    local = build_storage(
        bucket=None,
        region="",
        access_key_id="",
        secret_access_key="",
        endpoint_url="",
        folder="",
        local_dir="media-dir",
        public_base_url="https://example.test/",
    )
    assert isinstance(local, LocalStorage)
    assert await local.url("a.wav") == "https://example.test/media/a.wav"
