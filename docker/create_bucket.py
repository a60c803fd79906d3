"""Create the lake's bucket on the stack's object store: the compose `create-bucket` one-shot.

The bucket is the one `BREWLAKE_LAKE_ROOT` names (`Settings.s3_bucket`), reached through the same
endpoint and credentials every layer uses (`brewlake.storage.aws_client`): no second variable can
name a different bucket. Idempotent: an existing bucket is success. Retries while the store starts.
"""

from __future__ import annotations

import argparse
import sys
import time

from botocore.exceptions import ClientError, EndpointConnectionError

from brewlake.config import Settings, load_settings
from brewlake.errors import BrewlakeError, ConfigError, guarded
from brewlake.storage import aws_client

# Answers that mean "the store is still starting", not "you asked for something wrong".
_TRANSIENT_CODES = frozenset({"500", "502", "503", "504", "InternalError", "ServiceUnavailable"})


def ensure_bucket(settings: Settings, *, wait_s: float = 60.0, poll_s: float = 1.0) -> bool:
    """Create the lake's bucket unless it exists; True when this call created it."""
    if not settings.is_s3:
        raise ConfigError(
            f"BREWLAKE_LAKE_ROOT={settings.lake_root!r} is not on S3: there is no bucket to create"
        )
    client = aws_client(settings)
    bucket = settings.s3_bucket
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _create_if_missing(client, bucket, settings.aws_region)
        except (EndpointConnectionError, ClientError) as exc:
            code = exc.response["Error"].get("Code", "") if isinstance(exc, ClientError) else ""
            transient = isinstance(exc, EndpointConnectionError) or code in _TRANSIENT_CODES
            if not transient:
                raise BrewlakeError(f"cannot create bucket {bucket!r}: {exc}") from None
            if time.monotonic() >= deadline:
                raise BrewlakeError(
                    f"object store at {settings.effective_s3_endpoint or 'AWS'} did not answer "
                    f"within {wait_s:.0f}s ({exc})"
                ) from None
            time.sleep(poll_s)


def _create_if_missing(client, bucket: str, region: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response["Error"].get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs = {"Bucket": bucket}
    if region != "us-east-1":  # S3 rejects an explicit us-east-1 location constraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response["Error"].get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return False
        raise
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="create_bucket.py", description="create the bucket BREWLAKE_LAKE_ROOT names"
    )
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the store")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)

    def go() -> int:
        settings = load_settings()
        created = ensure_bucket(settings, wait_s=args.wait)
        state = "created" if created else "exists"
        print(f"bucket {settings.s3_bucket}: {state} ({settings.spark_lake_root})", flush=True)
        return 0

    return guarded(go, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
