"""LocalStorage and the /media route that serves it."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from voxagent.storage import (
    InvalidStorageKey,
    LocalStorage,
    Storage,
    StorageError,
    StorageNotFound,
    build_storage,
    content_type_for,
    key_segment,
    validate_key,
)
from voxagent.web.routes import media

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200))

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../secret.txt",
    "a/../../secret.txt",
    "a/..",
    "..",
    ".",
    "./a.wav",
    "a/./b.wav",
    "a//b.wav",
    "a/",
    ".hidden.wav",
    "a/.b.wav.1234.tmp",
    "a\\..\\b.wav",
    "C:/x.wav",
    "a b.wav",
    "a\x00b.wav",
    "café.wav",
    "a%2Fb.wav",
    "x" * 600,
]
GOOD_KEYS = ["a.wav", "recordings/2024-01-31/call_7f3a.wav", "tts/A-b_c.d.mp3", "x" * 200]


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", public_base_url="https://voice.example.com/")


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".*"))


# ------------------------------------------------------------------ LocalStorage


async def test_round_trip_and_public_url(store: LocalStorage) -> None:
    url = await store.put("recordings/2024/call-1.wav", WAV, "audio/wav")
    assert url == "https://voice.example.com/media/recordings/2024/call-1.wav"
    assert await store.url("recordings/2024/call-1.wav") == url
    assert await store.get("recordings/2024/call-1.wav") == WAV
    assert (store.root / "recordings" / "2024" / "call-1.wav").read_bytes() == WAV


async def test_url_is_relative_without_a_public_base(tmp_path: Path) -> None:
    assert await LocalStorage(tmp_path).url("a.wav") == "/media/a.wav"


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused_by_every_operation(store: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        validate_key(key)
    with pytest.raises(InvalidStorageKey):
        await store.put(key, b"x", "audio/wav")
    with pytest.raises(InvalidStorageKey):
        await store.get(key)
    with pytest.raises(InvalidStorageKey):
        await store.delete(key)
    with pytest.raises(InvalidStorageKey):
        await store.url(key)
    assert not (store.root.parent / "secret.txt").exists()


def test_invalid_key_is_a_value_error_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"'\.\./x\.wav'"):
        validate_key("../x.wav")


@pytest.mark.parametrize("key", GOOD_KEYS)
async def test_good_keys_round_trip(store: LocalStorage, key: str) -> None:
    assert validate_key(key) == key
    await store.put(key, key.encode(), "audio/wav")
    assert await store.get(key) == key.encode()


async def test_overwrite_is_atomic_and_leaves_no_temporary_files(store: LocalStorage) -> None:
    await store.put("a.wav", b"old" * 1000, "audio/wav")
    await store.put("a.wav", b"new", "audio/wav")
    assert await store.get("a.wav") == b"new"
    assert leftovers(store.root) == []
    mode = stat.S_IMODE((store.root / "a.wav").stat().st_mode)
    assert mode == 0o644


async def test_failed_write_keeps_the_old_file(
    store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("a.wav", b"old", "audio/wav")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match="No space left on device") as error:
        await store.put("a.wav", b"new", "audio/wav")
    assert error.value.key == "a.wav"
    monkeypatch.undo()
    assert await store.get("a.wav") == b"old"
    assert leftovers(store.root) == []


async def test_concurrent_writers_never_interleave(store: LocalStorage) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    await asyncio.gather(*(store.put("same.wav", p, "audio/wav") for p in payloads))
    assert await store.get("same.wav") in payloads
    assert leftovers(store.root) == []


async def test_delete_and_missing_keys(store: LocalStorage) -> None:
    await store.delete("never-there.wav")  # no error
    await store.delete("no/such/dir/x.wav")
    await store.put("a/b.wav", b"x", "audio/wav")
    await store.delete("a/b.wav")
    with pytest.raises(StorageNotFound) as error:
        await store.get("a/b.wav")
    assert error.value.key == "a/b.wav" and "a/b.wav" in str(error.value)
    await store.delete("a/b.wav")


async def test_a_directory_is_not_an_object(store: LocalStorage) -> None:
    await store.put("a/b.wav", b"x", "audio/wav")
    with pytest.raises(StorageNotFound):
        await store.get("a")
    await store.delete("a")  # not an object: nothing to delete, and the file survives
    assert await store.get("a/b.wav") == b"x"
    with pytest.raises(StorageError):
        await store.put("a/b.wav/c.wav", b"x", "audio/wav")  # a file is in the way


async def test_check_creates_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "data" / "media"
    await LocalStorage(root).check()
    assert root.is_dir() and list(root.iterdir()) == []


async def test_check_names_the_setting_when_the_directory_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(StorageError) as error:
        await LocalStorage(tmp_path / "a-file" / "media").check()
    assert error.value.setting == "MEDIA_DIR" and "MEDIA_DIR" in str(error.value)


async def test_it_is_a_storage_and_build_storage_picks_it(tmp_path: Path) -> None:
    storage = build_storage(
        bucket="",
        region="us-east-1",
        access_key_id="",
        secret_access_key="",
        endpoint_url="",
        folder="",
        local_dir=tmp_path,
        public_base_url="https://x.test",
    )
    assert isinstance(storage, LocalStorage) and isinstance(storage, Storage)
    assert storage.root == tmp_path
    await storage.close()


def test_content_types_follow_the_extension() -> None:
    assert content_type_for("a/b.wav") == "audio/wav"
    assert content_type_for("b.WAV") == "audio/wav"
    assert content_type_for("b.mp3") == "audio/mpeg"
    assert content_type_for("b.ogg") == "audio/ogg"
    assert content_type_for("noext") == "application/octet-stream"
    assert content_type_for("dir.wav/noext") == "application/octet-stream"
    assert content_type_for("b.exe") == "application/octet-stream"


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("v3:AbC_d-9.x", "v3-AbC_d-9.x"),
        ("../../etc", "-..-etc"),
        ("..", "_"),
        ("", "_"),
        ("a b/c\\d", "a-b-c-d"),
        ("é", "-"),
    ],
)
def test_key_segment_makes_outside_ids_safe(value: str, segment: str) -> None:
    assert key_segment(value) == segment
    assert validate_key(f"recordings/{key_segment(value)}.wav")


def test_key_segment_is_bounded() -> None:
    assert len(key_segment("x" * 1000)) == 100


# ------------------------------------------------------------------ GET /media/{key}


@pytest.fixture
async def client(store: LocalStorage) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(media.router)
    app.state.media_store = store
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_serves_wav_and_mp3_with_their_types(
    store: LocalStorage, client: httpx.AsyncClient
) -> None:
    await store.put("tts/hello.wav", WAV, "audio/wav")
    await store.put("tts/hello.mp3", b"ID3mp3", "audio/mpeg")
    wav = await client.get("/media/tts/hello.wav")
    assert wav.status_code == 200 and wav.content == WAV
    assert wav.headers["content-type"] == "audio/wav"
    assert wav.headers["content-length"] == str(len(WAV))
    assert wav.headers["x-content-type-options"] == "nosniff"
    mp3 = await client.get("/media/tts/hello.mp3")
    assert mp3.status_code == 200 and mp3.content == b"ID3mp3"
    assert mp3.headers["content-type"] == "audio/mpeg"


async def test_the_url_put_returns_is_the_one_served(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, public_base_url="http://test")
    app = FastAPI()
    app.include_router(media.router)
    app.state.media_store = store
    url = await store.put("calls/c1/recording.wav", WAV, "audio/wav")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(url)
    assert response.status_code == 200 and response.content == WAV


async def test_head_and_range_requests(store: LocalStorage, client: httpx.AsyncClient) -> None:
    await store.put("r.wav", WAV, "audio/wav")
    head = await client.head("/media/r.wav")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(WAV))
    part = await client.get("/media/r.wav", headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == WAV[4:12]


async def test_unknown_keys_and_directories_are_404(
    store: LocalStorage, client: httpx.AsyncClient
) -> None:
    await store.put("dir/a.wav", WAV, "audio/wav")
    for path in ("/media/nope.wav", "/media/dir", "/media/dir/", "/media/"):
        response = await client.get(path)
        assert response.status_code == 404, path


async def test_temporary_and_hidden_files_are_not_served(
    store: LocalStorage, client: httpx.AsyncClient
) -> None:
    store.root.mkdir(parents=True)
    (store.root / ".a.wav.abc.tmp").write_bytes(b"half-written")
    response = await client.get("/media/.a.wav.abc.tmp")
    assert response.status_code == 404 and b"half-written" not in response.content


@pytest.mark.parametrize(
    "path",
    [
        "/media/../secret.txt",
        "/media/..%2Fsecret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/%2E%2E%2Fsecret.txt",
        "/media/a/..%2F..%2Fsecret.txt",
        "/media//etc/passwd",
        "/media/%2Fetc%2Fpasswd",
        "/media/..%5Csecret.txt",
        "/media/.%2e/secret.txt",
    ],
)
async def test_path_traversal_is_refused(
    store: LocalStorage, client: httpx.AsyncClient, path: str
) -> None:
    (store.root.parent / "secret.txt").write_bytes(b"TOP-SECRET")
    await store.put("a/ok.wav", WAV, "audio/wav")
    # httpx would normalise "/../" away; send the raw path exactly as an attacker would.
    request = client.build_request("GET", "http://test")
    request.url = request.url.copy_with(raw_path=path.encode())
    response = await client.send(request)
    assert response.status_code == 404, path
    assert b"TOP-SECRET" not in response.content


async def test_nothing_is_served_without_a_local_store(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(WAV)
    app = FastAPI()
    app.include_router(media.router)  # app.state.media_store never set (an S3 deployment)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/media/a.wav")).status_code == 404
