"""The lake's writer lock on a local lake and on S3 (moto): one holder, a named refusal, the
stale-lock rule, release."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket

import pytest

from brewlake.locks import Holder, LakeLocked, acquire, release, writer_lock
from brewlake.storage import open_store

LOCK_KEY = "_locks/writer.json"


@pytest.fixture(params=["local", "s3"])
def lake(request, lake_settings, s3_settings):
    return lake_settings if request.param == "local" else s3_settings


def test_a_second_writer_is_refused_naming_the_holder_and_the_fix(lake):
    with writer_lock(lake, "silver") as holder:
        with pytest.raises(LakeLocked) as refused:
            acquire(lake, "brewlake run")
        message = str(refused.value)
        assert f"silver (host {socket.gethostname()}, pid {os.getpid()}, since {holder.since})" in (
            message
        )
        assert message.endswith(f"delete {lake.lake_root.replace('s3a://', 's3://')}/{LOCK_KEY}")
        assert "\n" not in message
        stored = json.loads(open_store(lake).get(LOCK_KEY))
        assert (stored["run"], stored["token"]) == ("silver", holder.token)
    assert not open_store(lake).exists(LOCK_KEY)
    lock, _ = acquire(lake, "gold")  # free again
    release(lock)


def test_a_lock_held_by_a_gone_process_or_too_old_is_taken_over(lake):
    store = open_store(lake)
    dead = Holder("silver", socket.gethostname(), 2**22 + 12345, Holder.me("x").since, "t1")
    store.put(LOCK_KEY, dead.encode())
    with writer_lock(lake, "gold") as holder:
        assert json.loads(store.get(LOCK_KEY))["token"] == holder.token
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)
    store.put(LOCK_KEY, Holder("silver", "elsewhere", 1, old.isoformat(), "t2").encode())
    with writer_lock(lake, "gold") as holder:
        assert json.loads(store.get(LOCK_KEY))["token"] == holder.token
    assert not store.exists(LOCK_KEY)


def test_a_live_holder_elsewhere_is_not_stale(lake):
    now = Holder.me("x").since
    open_store(lake).put(LOCK_KEY, Holder("gold", "another-host", 1, now, "t3").encode())
    with pytest.raises(LakeLocked, match=r"gold \(host another-host, pid 1, since "):
        acquire(lake, "silver")


def test_release_leaves_a_lock_that_changed_hands(lake):
    store = open_store(lake)
    lock, _ = acquire(lake, "silver")
    store.put(LOCK_KEY, Holder("gold", "another-host", 1, Holder.me("x").since, "t4").encode())
    release(lock)  # not ours any more: kept
    assert json.loads(store.get(LOCK_KEY))["token"] == "t4"
