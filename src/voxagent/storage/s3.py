"""Audio kept in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Backblaze B2…).

For deployments with several servers, or whose disks are not kept: recordings survive the
machine, and Telnyx fetches clips straight from the bucket through presigned GET URLs, so the
bucket stays private. The client is aiobotocore, which speaks S3 on the event loop itself —
no request ever blocks the audio of calls in progress.

Every failure becomes a :class:`~voxagent.storage.base.StorageError` whose one-line message
names the setting to fix (``AWS_BUCKET_NAME``, ``AWS_ACCESS_KEY_ID``…), so a misconfigured
bucket shows up as one readable line at start-up instead of a botocore traceback mid-call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from voxagent.storage.base import (
    InvalidStorageKey,
    StorageError,
    StorageNotFound,
    validate_key,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["MAX_URL_EXPIRY_SECONDS", "S3Storage"]

MAX_URL_EXPIRY_SECONDS = 7 * 24 * 3600
"""SigV4 presigned URLs cannot live longer than a week."""

_session: AioSession | None = None


def _shared_session() -> AioSession:
    """One botocore session per process: it caches the parsed S3 service model (megabytes of
    JSON), so a second store, or a store rebuilt after a settings change, starts at once."""
    global _session
    if _session is None:
        _session = AioSession()
    return _session


_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_BAD_REGION = {
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
    "301",
    "IllegalLocationConstraintException",
}


class S3Storage:
    """A bucket (optionally a folder inside it) of audio objects."""

    def __init__(
        self,
        *,
        bucket: str,
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        endpoint_url: str = "",
        folder: str = "",
        url_expiry_seconds: int = 3600,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        """Empty credentials mean botocore's own lookup (environment, profile, instance role).

        ``endpoint_url`` points at a non-AWS service (``http://minio:9000``); it switches to
        path-style addressing, which those services expect. ``max_attempts`` counts the first
        try: throttling and 5xx answers are retried with backoff, auth errors never.
        """
        if not bucket:
            raise StorageError("AWS_BUCKET_NAME is empty", setting="AWS_BUCKET_NAME")
        if bool(access_key_id) != bool(secret_access_key):
            missing = "AWS_SECRET_ACCESS_KEY" if access_key_id else "AWS_ACCESS_KEY_ID"
            raise StorageError(
                f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together; {missing} is empty",
                setting=missing,
            )
        if not 1 <= url_expiry_seconds <= MAX_URL_EXPIRY_SECONDS:
            raise StorageError(
                f"S3_URL_EXPIRY_SECONDS={url_expiry_seconds} must be 1..{MAX_URL_EXPIRY_SECONDS} "
                "(presigned URLs last at most a week)",
                setting="S3_URL_EXPIRY_SECONDS",
            )
        if endpoint_url and not endpoint_url.startswith(("http://", "https://")):
            raise StorageError(
                f"AWS_ENDPOINT_URL={endpoint_url!r} needs a scheme, like http://minio:9000",
                setting="AWS_ENDPOINT_URL",
            )
        folder = folder.strip("/")
        if folder:
            try:
                validate_key(folder)
            except InvalidStorageKey as exc:
                raise StorageError(
                    f"S3_BUCKET_FOLDER={folder!r} is not a valid folder: {exc.reason}",
                    setting="S3_BUCKET_FOLDER",
                ) from None
        self.bucket = bucket
        self.region = region or "us-east-1"
        self.folder = folder
        self.endpoint_url = endpoint_url.rstrip("/")
        self.url_expiry_seconds = url_expiry_seconds
        self._access_key_id = access_key_id or None
        self._secret_access_key = secret_access_key or None
        self._config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
        )
        self._client: S3Client | None = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return (
            f"S3Storage(bucket={self.bucket!r}, region={self.region!r}, "
            f"folder={self.folder!r}{where})"
        )

    def object_key(self, key: str) -> str:
        """The key inside the bucket: the folder prefix, then the validated key."""
        validate_key(key)
        return f"{self.folder}/{key}" if self.folder else key

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Upload (replacing any object with that key) and return a presigned GET URL."""
        name = self.object_key(key)
        s3 = await self._s3()
        with self._errors("upload", key):
            await s3.put_object(Bucket=self.bucket, Key=name, Body=data, ContentType=content_type)
        return await self.url(key)

    async def get(self, key: str) -> bytes:
        name = self.object_key(key)
        s3 = await self._s3()
        with self._errors("download", key):
            response = await s3.get_object(Bucket=self.bucket, Key=name)
            async with response["Body"] as body:
                return await body.read()

    async def delete(self, key: str) -> None:
        """S3 deletes are idempotent, so a missing key is not an error here either."""
        name = self.object_key(key)
        s3 = await self._s3()
        with self._errors("delete", key):
            await s3.delete_object(Bucket=self.bucket, Key=name)

    async def url(self, key: str) -> str:
        """A presigned GET URL valid for ``url_expiry_seconds``; signing is local, no request."""
        name = self.object_key(key)
        s3 = await self._s3()
        with self._errors("presign", key):
            return await s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": name},
                ExpiresIn=self.url_expiry_seconds,
            )

    async def check(self) -> None:
        """List at most one key: the bucket exists, is reachable, and accepts the credentials.

        A listing rather than HeadBucket because a HEAD error has no body, so a wrong secret,
        an unknown key and a missing permission would all read as a bare 403. Both need
        ``s3:ListBucket``, as does telling a missing object from a forbidden one.
        """
        s3 = await self._s3()
        prefix = f"{self.folder}/" if self.folder else ""
        with self._errors("list", None):
            await s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)

    async def close(self) -> None:
        self._closed = True
        await self._stack.aclose()
        self._client = None

    # ------------------------------------------------------------ internals
    async def _s3(self) -> S3Client:
        """The client, created on first use (it needs the running event loop)."""
        if self._closed:
            raise StorageError(f"{self!r} is closed")
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    context = _shared_session().create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url or None,
                        aws_access_key_id=self._access_key_id,
                        aws_secret_access_key=self._secret_access_key,
                        config=self._config,
                    )
                    self._client = await self._stack.enter_async_context(context)
        return self._client

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None) -> Iterator[None]:
        """Turn botocore's exceptions into a StorageError that names the setting to fix."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(exc, action, key) from exc
        except NoCredentialsError as exc:
            raise StorageError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                key=key,
                setting="AWS_ACCESS_KEY_ID",
            ) from exc
        except EndpointConnectionError as exc:
            where = self.endpoint_url or f"AWS S3 in {self.region}"
            setting = "AWS_ENDPOINT_URL" if self.endpoint_url else "AWS_REGION"
            raise StorageError(
                f"cannot reach {where} to {action} (check {setting} and the network)",
                key=key,
                setting=setting,
            ) from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {action} failed: {exc}", key=key) from exc

    def _client_error(self, exc: ClientError, action: str, key: str | None) -> StorageError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        bucket = f"bucket {self.bucket!r}"
        if code == "NoSuchBucket" or (key is None and code in _NOT_FOUND):
            return StorageError(
                f"{bucket} does not exist at {self.endpoint_url or 'AWS'} (check AWS_BUCKET_NAME)",
                key=key,
                setting="AWS_BUCKET_NAME",
            )
        if code in _NOT_FOUND:
            return StorageNotFound("no such object", key=key)
        if code in {"InvalidAccessKeyId", "InvalidClientTokenId"}:
            return StorageError(
                f"{bucket}: the access key is unknown to the server (check AWS_ACCESS_KEY_ID)",
                key=key,
                setting="AWS_ACCESS_KEY_ID",
            )
        if code == "SignatureDoesNotMatch":
            return StorageError(
                f"{bucket}: the secret does not match the access key (check AWS_SECRET_ACCESS_KEY)",
                key=key,
                setting="AWS_SECRET_ACCESS_KEY",
            )
        if code in _BAD_REGION or status == 301:
            return StorageError(
                f"{bucket} is not in AWS_REGION={self.region} (check AWS_REGION)",
                key=key,
                setting="AWS_REGION",
            )
        if code in {"AccessDenied", "403", "Forbidden"} or status == 403:
            return StorageError(
                f"{bucket}: access denied to {action} (check AWS_ACCESS_KEY_ID's policy: voxagent "
                "needs s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject)",
                key=key,
                setting="AWS_ACCESS_KEY_ID",
            )
        message = error.get("Message") or "no message"
        return StorageError(f"{bucket}: S3 {action} failed: {code or status}: {message}", key=key)
