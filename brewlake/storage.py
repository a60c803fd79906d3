"""Object storage for raw files: a local folder or S3 (boto3), behind one small interface.

Keys are relative to the lake root (see `brewlake.lake.Lake.key`). Writes are all-or-nothing:
locally a temp file is fsynced and renamed into place; on S3 a PUT is atomic by nature.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from brewlake.config import Settings
from brewlake.errors import BrewlakeError


class StorageError(BrewlakeError):
    """An object could not be read or written."""


class ObjectStore(Protocol):
    description: str

    def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> Iterator[str]: ...


class LocalStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.description = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root != path and self.root not in path.parents:
            raise StorageError(f"key {key!r} points outside the lake root {self.root}")
        return path

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no object {key!r} under {self.root}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()


class S3Store:
    def __init__(self, settings: Settings):
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.client = aws_client(settings)
        self.description = f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise StorageError(f"no object {key!r} in {self.description}") from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def list(self, prefix: str) -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]


def aws_client(settings: Settings, service: str = "s3", *, timeout: float | None = None):
    """The one boto3 client builder (s3, sns, sqs), with brewlake's region and credentials.

    s3: brewlake's endpoint (path-style addressing when one is set) and five attempts: data must
    land. Other services: the SDK's endpoint variables (`AWS_ENDPOINT_URL_<SERVICE>`, then
    `AWS_ENDPOINT_URL`) and two short attempts of `timeout` (default `alert_timeout_s`) seconds:
    an alert must not hold a finished run hostage.
    """
    if service == "s3":
        endpoint, attempts, seconds = settings.effective_s3_endpoint, 5, timeout
    else:
        endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}", "") or os.environ.get(
            "AWS_ENDPOINT_URL", ""
        )
        attempts, seconds = 2, settings.alert_timeout_s if timeout is None else timeout
    return _client(
        service,
        settings.aws_region,
        settings.aws_access_key_id,
        settings.aws_secret_access_key,
        settings.aws_session_token,
        endpoint or "",
        attempts,
        None if seconds is None else float(seconds),
    )


@functools.lru_cache(maxsize=16)
def _client(
    service: str,
    region: str,
    key: str,
    secret: str,
    token: str,
    endpoint: str,
    attempts: int,
    timeout: float | None,
):
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if key:
        kwargs.update(aws_access_key_id=key, aws_secret_access_key=secret)
        if token:
            kwargs["aws_session_token"] = token
    options: dict[str, Any] = {"retries": {"max_attempts": attempts, "mode": "standard"}}
    if timeout is not None:
        options.update(connect_timeout=timeout, read_timeout=timeout)
    if service == "s3" and endpoint:
        options["s3"] = {"addressing_style": "path"}
    return boto3.client(service, config=Config(**options), **kwargs)


def open_store(settings: Settings) -> ObjectStore:
    return S3Store(settings) if settings.is_s3 else LocalStore(settings.spark_lake_root)
