"""Where call recordings and rendered TTS clips are kept, and the URLs Telnyx fetches them by.

``build_storage`` picks the backend from the settings: a bucket name means S3 (or an
S3-compatible service), otherwise a local directory served by the app's ``/media`` route.
"""

from __future__ import annotations

import os

from voxagent.security.media_urls import MediaSigner
from voxagent.storage.base import (
    InvalidStorageKey,
    Storage,
    StorageError,
    StorageNotFound,
    content_type_for,
    key_segment,
    validate_key,
)
from voxagent.storage.local import MEDIA_ROUTE, LocalStorage

__all__ = [
    "MEDIA_ROUTE",
    "InvalidStorageKey",
    "LocalStorage",
    "Storage",
    "StorageError",
    "StorageNotFound",
    "build_storage",
    "content_type_for",
    "key_segment",
    "validate_key",
]


def build_storage(
    *,
    bucket: str | None,
    region: str = "us-east-1",
    access_key_id: str = "",
    secret_access_key: str = "",
    endpoint_url: str = "",
    folder: str = "",
    local_dir: str | os.PathLike[str] = "media",
    public_base_url: str = "",
    url_expiry_seconds: int = 3600,
    signer: MediaSigner | None = None,
) -> Storage:
    """S3 when ``bucket`` is set (``AWS_BUCKET_NAME``), else ``local_dir`` behind ``/media``
    (its URLs signed by ``signer``; S3 signs its own).

    Raises :class:`StorageError` naming the setting when the S3 settings contradict each
    other; call ``await storage.check()`` at start-up to also test the bucket itself.
    """
    if bucket:
        # Imported here so a local-only deployment never loads botocore and aiohttp
        # (about half a second of start-up and 40 MB).
        from voxagent.storage.s3 import S3Storage

        return S3Storage(
            bucket=bucket,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            endpoint_url=endpoint_url,
            folder=folder,
            url_expiry_seconds=url_expiry_seconds,
        )
    return LocalStorage(local_dir, public_base_url=public_base_url, signer=signer)
