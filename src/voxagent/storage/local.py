"""Audio kept in a directory on this machine and served by our own ``/media`` route.

The default for development and single-server deployments: nothing to configure, and Telnyx
fetches clips from ``{WEBHOOK_BASE_URL}/media/{key}`` — the same public base URL it already
sends webhooks to. Disk I/O runs in worker threads so a slow disk never stalls the audio
of calls in progress, and every write is atomic (temporary file, then rename), so a reader
(Telnyx fetching a clip, the media route) never sees a half-written file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from voxagent.security.media_urls import MediaSigner
from voxagent.storage.base import StorageError, StorageNotFound, validate_key

__all__ = ["MEDIA_ROUTE", "LocalStorage"]

MEDIA_ROUTE = "/media"
"""Where :mod:`voxagent.web.routes.media` serves this store; part of every public URL."""


class LocalStorage:
    """A directory of audio objects, one file per key.

    With a ``signer`` every URL handed out is signed and expires (the media route refuses the
    rest), so a recording cannot be fetched by guessing its key.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = "media",
        public_base_url: str = "",
        *,
        signer: MediaSigner | None = None,
    ) -> None:
        self.root = Path(root)
        self.public_base_url = public_base_url.rstrip("/")
        self.signer = signer

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r}, public_base_url={self.public_base_url!r})"

    def path_for(self, key: str) -> Path:
        """The file that holds ``key``; the key is validated, so it is always inside root."""
        return self.root / validate_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Write atomically and return the public URL.

        The content type is not stored: the media route derives it from the key's extension,
        so keys should end in ``.wav``, ``.mp3``… as S3 keys conventionally do.
        """
        path = self.path_for(key)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}", key=key) from exc
        return await self.url(key)

    async def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageNotFound("no such object", key=key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}", key=key) from exc

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            return  # a "directory key" is not an object; nothing to delete
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror or exc}", key=key) from exc

    async def url(self, key: str) -> str:
        """``{public_base_url}/media/{key}`` (``?exp=…&sig=…`` with a signer); relative
        (``/media/…``) if no base URL is set, which a browser on the same origin can use but
        Telnyx cannot."""
        url = f"{self.public_base_url}{MEDIA_ROUTE}/{quote(validate_key(key), safe='/')}"
        return f"{url}?{self.signer.query(key)}" if self.signer is not None else url

    async def check(self) -> None:
        """Create the directory and make sure this process can write to it."""
        try:
            await asyncio.to_thread(_check_writable, self.root)
        except OSError as exc:
            raise StorageError(
                f"media directory {self.root} is not usable: {exc.strerror or exc} "
                "(set MEDIA_DIR to a writable directory)",
                setting="MEDIA_DIR",
            ) from exc

    async def close(self) -> None:
        """Nothing to release; here to satisfy :class:`~voxagent.storage.base.Storage`."""


def _write_atomically(path: Path, data: bytes) -> None:
    # The temporary name starts with a dot, which validate_key refuses, so no key (and so
    # no reader) can ever reach a file that is still being written.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide recordings from a backup user
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_writable(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".check.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)
