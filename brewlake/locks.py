"""The lake's writer lock: one writing run at a time per lake, whatever started it.

Delta's default S3 log store makes a commit atomic only within one driver (it cannot put the next
`_delta_log/N.json` if absent), so two drivers writing the same lake at once may both "win"
version N and one commit is lost. Airflow's `max_active_runs=1` does not see a `brewlake run`
started by hand. So every writing run (silver and gold jobs, `brewlake run`) first creates one
object, `<lake>/_locks/writer.json`, exclusively: on S3 a `PutObject` with `If-None-Match: *`,
on a local lake an `O_CREAT | O_EXCL` file. The loser fails at once with a `LakeLocked` naming
the holder; the holder deletes the lock in `finally` (on S3 with `If-Match` on its own ETag).

A lock is stale, and taken over, when its holder ran on this host and its process is gone, or
when it is older than `STALE_AFTER_S` (longer than any run may last: the DAG's run timeout is
two hours). This makes one deployment safe; it is not a multi-cluster log store (see
docs/cluster.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from brewlake.config import Settings
from brewlake.errors import BrewlakeError
from brewlake.lake import Lake
from brewlake.log import get_logger
from brewlake.storage import aws_client

log = get_logger(__name__)

LOCK_PARTS = ("_locks", "writer.json")
STALE_AFTER_S = 6 * 3600
# The layers that commit to Delta tables; bronze lands immutable raw files under new keys.
WRITING_LAYERS = frozenset({"silver", "gold"})


class LakeLocked(BrewlakeError):
    """Another run holds the lake's writer lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: what runs, where, since when."""

    run: str
    host: str
    pid: int
    since: str
    token: str

    @classmethod
    def me(cls, run: str) -> Holder:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        return cls(run, socket.gethostname(), os.getpid(), now, uuid.uuid4().hex)

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError):
            return None  # half-written or foreign: judged by its age alone

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    def describe(self) -> str:
        return f"{self.run} (host {self.host}, pid {self.pid}, since {self.since})"

    def is_stale(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        with contextlib.suppress(ValueError):
            if (now - dt.datetime.fromisoformat(self.since)).total_seconds() > STALE_AFTER_S:
                return True
        return self.host == socket.gethostname() and not _pid_alive(self.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _S3Lock:
    def __init__(self, settings: Settings, key: str):
        self.client = aws_client(settings)
        self.bucket = settings.s3_bucket
        self.key = f"{settings.s3_prefix}/{key}" if settings.s3_prefix else key
        self.where = f"s3://{self.bucket}/{self.key}"
        self.etag = ""

    def create(self, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=data,
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            # 412: the object exists; 409: a concurrent conditional PUT on the same key won.
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "409"):
                return False
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (409, 412):
                return False
            raise
        self.etag = answer["ETag"]
        return True

    def read(self) -> tuple[bytes, str] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            return None
        return answer["Body"].read(), answer["ETag"]

    def delete(self, etag: str) -> bool:
        """Delete the lock if it is still the version `etag`; False if it changed hands."""
        from botocore.exceptions import ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (404, 412):
                return False
            raise
        return True


class _LocalLock:
    def __init__(self, settings: Settings):
        self.path = Path(Lake(settings).uri(*LOCK_PARTS))
        self.where = str(self.path)
        self.etag = ""

    def create(self, data: bytes) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self.etag = data.decode()
        return True

    def read(self) -> tuple[bytes, str] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return data, data.decode(errors="replace")

    def delete(self, etag: str) -> bool:
        found = self.read()
        if found is None or found[1] != etag:
            return False
        self.path.unlink(missing_ok=True)
        return True


def _lock_for(settings: Settings) -> _S3Lock | _LocalLock:
    return (
        _S3Lock(settings, Lake(settings).key(*LOCK_PARTS))
        if settings.is_s3
        else _LocalLock(settings)
    )


def acquire(settings: Settings, run: str) -> tuple[_S3Lock | _LocalLock, Holder]:
    """Take the lake's writer lock for `run` (e.g. `silver`); LakeLocked if someone holds it."""
    lock, me = _lock_for(settings), Holder.me(run)
    for _ in range(3):  # a stale lock taken over, or released between our create and read
        if lock.create(me.encode()):
            log.debug("lock.acquired", lock=lock.where, run=run)
            return lock, me
        found = lock.read()
        if found is None:
            continue
        data, etag = found
        holder = Holder.parse(data)
        if holder is not None and not holder.is_stale():
            raise LakeLocked(
                f"the lake is being written by {holder.describe()}: wait for it to finish, or, "
                f"if that run is gone, delete {lock.where}"
            )
        log.warning("lock.stale", lock=lock.where, holder=holder.describe() if holder else "?")
        lock.delete(etag)
    raise LakeLocked(f"could not take the writer lock {lock.where}: it keeps changing hands")


def release(lock: _S3Lock | _LocalLock) -> None:
    """Delete the lock if it is still ours (a takeover as stale makes it someone else's)."""
    try:
        if not lock.delete(lock.etag):
            log.warning("lock.lost", lock=lock.where)
    except Exception as exc:  # the run's own outcome matters more than a lock left behind
        log.warning("lock.release_failed", lock=lock.where, error=str(exc))


@contextlib.contextmanager
def writer_lock(settings: Settings, run: str) -> Iterator[Holder]:
    """Hold the lake's writer lock for the block; released in `finally`."""
    lock, me = acquire(settings, run)
    try:
        yield me
    finally:
        release(lock)
