"""A real S3-compatible HTTP server on loopback: moto's server, in a thread of the test process.

S3Storage talks to it over HTTP exactly as it would to AWS or MinIO (signing, path-style
addressing, XML errors), so the tests exercise aiobotocore and our error translation, not a
mock of them.

Moto accepts any credentials until :meth:`MotoS3.signatures_checked` turns on its IAM
simulation; inside that block only :attr:`MotoS3.access_key_id` / :attr:`secret_access_key`
(an IAM user allowed ``s3:*``) are accepted. Presigned URLs cannot be fetched while it is on
(moto 5 fails them with a 500), so fetch them outside the block.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
_SETUP_CREDENTIALS = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}


class MotoS3:
    """``with MotoS3() as s3:``; point clients at ``s3.endpoint_url``."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""
        self.access_key_id = ""
        self.secret_access_key = ""

    def __enter__(self) -> MotoS3:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        iam = self._client("iam")
        iam.create_user(UserName="voxagent")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="voxagent", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="voxagent")["AccessKey"]
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=5)  # moto's state is global
        self._server.stop()

    def _client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint_url, region_name=REGION, **_SETUP_CREDENTIALS
        )

    @property
    def s3(self) -> Any:
        """A plain boto3 client, to look at the bucket behind the code under test's back."""
        return self._client("s3")

    def create_bucket(self) -> str:
        name = f"voxagent-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=name)
        return name

    @contextlib.contextmanager
    def signatures_checked(self) -> Iterator[None]:
        """Make moto verify every request's signature and access key, as AWS does."""
        self._set_auth("0")
        try:
            yield
        finally:
            self._set_auth("inf")

    def _set_auth(self, initial_unchecked_requests: str) -> None:
        response = httpx.post(
            f"{self.endpoint_url}/moto-api/reset-auth",
            content=initial_unchecked_requests.encode(),
            timeout=5,
        )
        response.raise_for_status()
