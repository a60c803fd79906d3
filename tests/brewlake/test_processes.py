"""Long-running commands stop all they started on SIGINT and SIGTERM: real processes, real ports.

`python -m brewlake.processes` (what `make airflow` stops Airflow with) over a small service
that listens and starts listening children, one of them in a session of its own; `brewlake
serve-api`; and the demo, whose replay server and Spark run inside its process. Each time the
processes of the tree and the ports they listened on are taken before the signal; afterwards none
of those processes may exist, not even as a zombie, and no port may take a connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

from brewlake.config import PROJECT_ROOT
from brewlake.devkit.cluster import free_port
from tests.conftest import env_for, wait_for

BREWLAKE = str(Path(sys.executable).with_name("brewlake"))

# A service: it listens, and the leader starts two listening children, one in its process group
# and one in a session of its own (as Airflow puts each task in a group of its own). `stubborn`
# ignores SIGINT and SIGTERM; `exit` makes the leader leave at once, orphaning its children.
SERVICE = r"""
import os, signal, socket, subprocess, sys, time

role, flags = sys.argv[1], sys.argv[2:]
if "stubborn" in flags:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen()
# One write(2) per line: the three processes share the log, and print's pieces would interleave.
os.write(1, f"{role} {sock.getsockname()[1]}\n".encode())
if role == "leader":
    for kind in ("grouped", "escaped"):
        cmd = [sys.executable, __file__, kind, *flags]
        subprocess.Popen(cmd, start_new_session=kind == "escaped")
    if "exit" in flags:
        time.sleep(1)
        sys.exit(3)
time.sleep(600)
"""


# ---- what a tree is made of, and what is left of it


def family(pid: int) -> list[psutil.Process]:
    """The process `pid` and every descendant it has now."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket these processes listen on."""
    found = set()
    for process in processes:
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
    return found


def names(processes: list[psutil.Process]) -> set[str]:
    """The names of those that still exist (a process may leave between snapshot and look)."""
    found = set()
    for process in processes:
        with contextlib.suppress(psutil.Error):
            found.add(process.name())
    return found


def left_of(processes: list[psutil.Process]) -> list[str]:
    """Those that still exist (a zombie included), described."""
    left = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running():
                left.append(f"{process.pid} {process.status()} {' '.join(process.cmdline())[:80]}")
    return left


def accepting(sockets: set[tuple[str, int]]) -> list[str]:
    """The sockets of `sockets` that still take a connection, with who listens there now."""
    open_ = []
    for host, port in sockets:
        address = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=2):
            owners = [
                f"pid {c.pid} {psutil.Process(c.pid).cmdline()[:3] if c.pid else ''}"
                for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == port
            ]
            open_.append(f"{host}:{port} ({', '.join(owners) or 'no listener found'})")
    return open_


@dataclass
class Run:
    """A started command: its process, its log, and its tree as `snapshot()` last saw it."""

    proc: subprocess.Popen
    log: Path
    tree: list[psutil.Process] = field(default_factory=list)
    sockets: set[tuple[str, int]] = field(default_factory=set)

    def snapshot(self) -> None:
        self.tree = family(self.proc.pid)
        self.sockets = listening(self.tree)

    def assert_all_stopped(self, settle_s: float = 0.0) -> None:
        """Nothing of the tree exists and no socket of it accepts (within `settle_s`)."""
        deadline = time.monotonic() + settle_s
        while left_of(self.tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left_of(self.tree) == [], self.log.read_text()[-3000:]
        assert accepting(self.sockets) == []


@contextlib.contextmanager
def started(cmd: list[str], log: Path, **kwargs) -> Iterator[Run]:
    """`cmd` in a session of its own, output to `log`; whatever is left at the end is killed."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
    run = Run(proc, log)
    try:
        yield run
    finally:
        leftovers = list(run.tree)
        with contextlib.suppress(psutil.Error):
            leftovers += family(proc.pid)
        for process in leftovers:
            with contextlib.suppress(psutil.Error):
                process.kill()
        proc.wait(timeout=30)


# ---- brewlake.processes: the helper a launcher runs its service with


@pytest.fixture
def service(tmp_path: Path) -> Path:
    path = tmp_path / "service.py"
    path.write_text(SERVICE)
    return path


def supervised(service: Path, *flags: str, options: tuple[str, ...] = ()) -> list[str]:
    return [
        *(sys.executable, "-m", "brewlake.processes", *options),
        *("--", sys.executable, str(service), "leader", *flags),
    ]


def serving(log: Path, count: int = 3) -> dict[str, int]:
    """Role -> port, once the leader and both children listen."""

    def ports():
        lines = [line.split() for line in log.read_text().splitlines()]
        found = {words[0]: int(words[1]) for words in lines if len(words) == 2}
        return found if len(found) == count else None

    return wait_for(ports, 30, f"the service and its children to listen (log: {log})")


@pytest.mark.parametrize(
    ("sig", "code", "ctrl_c"),
    [(signal.SIGINT, 130, True), (signal.SIGINT, 130, False), (signal.SIGTERM, 143, False)],
    ids=["ctrl-c", "sigint", "sigterm"],
)
def test_a_signal_stops_the_whole_tree_even_a_child_in_its_own_session(
    service, tmp_path, sig, code, ctrl_c
):
    with started(supervised(service), tmp_path / "service.log") as run:
        ports = serving(run.log)
        run.snapshot()
        assert {port for _, port in run.sockets} == set(ports.values())
        leader, escaped = (
            next(p for p in run.tree if r in p.cmdline()) for r in ("leader", "escaped")
        )
        assert os.getpgid(escaped.pid) != os.getpgid(leader.pid)  # outside the group

        started_at = time.monotonic()
        if ctrl_c:  # a terminal's Ctrl-C: the signal to the launcher's whole process group
            os.killpg(run.proc.pid, sig)
        else:
            run.proc.send_signal(sig)
        assert run.proc.wait(timeout=20) == code
        elapsed = time.monotonic() - started_at
        run.assert_all_stopped()
    assert elapsed < 5, elapsed
    assert "brewlake: stopping" in run.log.read_text()


def test_what_ignores_the_signal_is_killed_after_the_grace_period(service, tmp_path):
    cmd = supervised(service, "stubborn", options=("--grace-s", "1"))
    with started(cmd, tmp_path / "service.log") as run:
        serving(run.log)
        run.snapshot()
        started_at = time.monotonic()
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=20) == 143
        elapsed = time.monotonic() - started_at
        run.assert_all_stopped()
    assert 1 <= elapsed < 6, elapsed  # the grace period, then SIGKILL at once


def test_a_second_signal_kills_without_waiting_out_the_grace_period(service, tmp_path):
    cmd = supervised(service, "stubborn", options=("--grace-s", "120"))
    with started(cmd, tmp_path / "service.log") as run:
        serving(run.log)
        run.snapshot()
        started_at = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        time.sleep(1)
        assert run.proc.poll() is None  # still in its grace period
        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(timeout=20) == 130
        elapsed = time.monotonic() - started_at
        run.assert_all_stopped()
    assert elapsed < 6, elapsed
    assert "brewlake: killing" in run.log.read_text()


def test_a_service_that_exits_takes_its_orphans_along_and_its_status_is_kept(service, tmp_path):
    with started(supervised(service, "exit"), tmp_path / "service.log") as run:
        serving(run.log)
        run.snapshot()
        assert run.proc.wait(timeout=30) == 3  # the leader's own exit status
        # Orphaned when the leader left: adopted by the launcher, stopped, reaped.
        run.assert_all_stopped()


def test_a_service_killed_by_a_signal_reports_128_plus_its_number():
    cmd = [sys.executable, "-m", "brewlake.processes", "--", "sh", "-c", "kill -KILL $$"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 137, out.stderr


# ---- brewlake serve-api: one process, its listening socket


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a script does to its job


@pytest.mark.parametrize(
    ("sig", "preexec_fn"),
    [(signal.SIGINT, None), (signal.SIGINT, _ignore_sigint), (signal.SIGTERM, None)],
    ids=["sigint", "sigint-ignored-by-parent", "sigterm"],
)
def test_serve_api_stops_on_the_signal_and_frees_its_port(
    tmp_path, replay_records, sig, preexec_fn
):
    data = tmp_path / "breweries.json"
    data.write_text(json.dumps(replay_records[:20]))
    port = free_port()
    cmd = [BREWLAKE, "serve-api", "--data", str(data), "--port", str(port)]
    with started(cmd, tmp_path / "serve-api.log", preexec_fn=preexec_fn) as run:
        url = f"http://127.0.0.1:{port}/v1/breweries/meta"

        def answers() -> bool:
            with contextlib.suppress(requests.RequestException):
                return requests.get(url, timeout=2).json()["total"] == 20
            return False

        wait_for(answers, 60, "serve-api to answer")
        run.snapshot()
        assert run.sockets == {("127.0.0.1", port)}
        run.proc.send_signal(sig)
        assert run.proc.wait(timeout=20) == 0  # a server stopped as asked
        run.assert_all_stopped()
    assert "stopped; {'requests': 1" in run.log.read_text()


# ---- the demo: its replay server is a thread, Spark a JVM it starts


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_the_demo_stopped_mid_run_leaves_nothing_listening(tmp_path, lake_settings, sig):
    cmd = [sys.executable, "-m", "brewlake.devkit.demo", "--rows", "300"]
    env = env_for(lake_settings)
    with started(cmd, tmp_path / "demo.log", env=env, cwd=PROJECT_ROOT) as run:

        def spark_up() -> bool:
            # The pipeline under way: the replay API and the Spark driver's JVM both listen.
            assert run.proc.poll() is None, run.log.read_text()[-3000:]
            run.snapshot()
            has_jvm = "java" in names(run.tree)
            return has_jvm and len(run.sockets) >= 2

        wait_for(spark_up, 120, "the demo's Spark to start", interval=0.5)
        text = run.log.read_text()
        assert "demo: serving 300 generated breweries at http://127.0.0.1:" in text, text
        replay_port = int(text.split("at http://127.0.0.1:")[1].split(";")[0])
        assert replay_port in {port for _, port in run.sockets}
        run.proc.send_signal(sig)
        # SIGINT: the demo stops (exit 130); SIGTERM ends Python at once (-15). Either way the
        # JVM sees its stdin close and exits on its own, shortly after.
        assert run.proc.wait(timeout=60) in (130, -signal.SIGTERM)
        run.assert_all_stopped(settle_s=30)
