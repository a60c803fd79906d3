"""A Spark standalone cluster on this machine, from the venv's pyspark: `make cluster`.

    python -m brewlake.devkit.cluster [--workers 2] [--cores 1] [--memory 2g] [--dir DIR]

A master and N workers (`spark-class org.apache.spark.deploy.master.Master` / `…worker.Worker`),
each bound to 127.0.0.1 on free ports, each a process tree of its own (`brewlake.processes`), its
output in a log file under `DIR`. `StandaloneCluster` is what the tests use; the command starts
one, prints its master URL, and stops master and workers on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brewlake.processes import ProcessTree, interrupt_on_signals

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# The JVM class a worker starts for each executor of an application.
EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"


def spark_home() -> Path:
    """The pinned pyspark's package folder: it holds bin/spark-class and the Spark jars."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def executor_pids(app_id: str) -> list[int]:
    """The process ids of application `app_id`'s executor JVMs on this machine (their command
    line names the executor class and the application)."""
    import psutil

    return [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if EXECUTOR_CLASS in (cmd := p.info["cmdline"] or []) and app_id in cmd
    ]


@dataclass
class Daemon:
    """One master or worker JVM and the processes it starts (a worker's executors)."""

    name: str
    tree: ProcessTree
    log_path: Path
    rpc_port: int
    ui_port: int

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.ui_port}"

    def is_running(self) -> bool:
        return self.tree.proc.poll() is None


@dataclass
class StandaloneCluster:
    """A standalone master and workers on 127.0.0.1; `start()`, `stop()`, or use it as a `with`."""

    work_dir: Path
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    start_timeout_s: float = 120.0
    master: Daemon | None = None
    worker_daemons: list[Daemon] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        assert self.master is not None, "the cluster is not started"
        return f"spark://{HOST}:{self.master.rpc_port}"

    @property
    def master_ui(self) -> str:
        assert self.master is not None, "the cluster is not started"
        return self.master.ui_url

    def env(self) -> dict[str, str]:
        """The environment master, workers and their executors run with."""
        env = dict(os.environ)
        home = spark_home()
        env.update(
            SPARK_HOME=str(home),
            # Every server Spark opens (RPC, block manager, web UIs) binds here, not 0.0.0.0.
            SPARK_LOCAL_IP=HOST,
            SPARK_LOG_DIR=str(self.work_dir / "logs"),
            # Scratch space (shuffle files, caches, fetched files) of workers and their
            # executors: inside the cluster's folder, not the machine's /tmp, where an executor
            # killed mid-task would leave its folder behind.
            SPARK_LOCAL_DIRS=str(self.work_dir / "local"),
            # Executors run the driver's interpreter unless the application says otherwise.
            PYSPARK_PYTHON=env.get("PYSPARK_PYTHON") or sys.executable,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        )
        return env

    def _spawn(self, name: str, args: list[str], rpc_port: int, ui_port: int) -> Daemon:
        log_dir = self.work_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        cmd = [str(spark_home() / "bin" / "spark-class"), *args]
        with open(log_path, "ab") as log:
            tree = ProcessTree(
                cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.work_dir
            )
        return Daemon(name, tree, log_path, rpc_port, ui_port)

    def start(self) -> StandaloneCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        rpc, ui = free_port(), free_port()
        self.master = self._spawn(
            "master",
            [MASTER_CLASS, "--host", HOST, "--port", str(rpc), "--webui-port", str(ui)],
            rpc,
            ui,
        )
        try:
            self._wait(lambda s: s.get("status") == "ALIVE", "the master")
            for _ in range(self.workers):
                self.add_worker(wait=False)
            self.wait_for_workers(self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, *, wait: bool = True) -> Daemon:
        """One more worker (`cores`, `memory`); with `wait`, until the master lists it ALIVE."""
        index = len(self.worker_daemons) + 1
        rpc, ui = free_port(), free_port()
        worker_dir = self.work_dir / f"worker-{index}"
        worker_dir.mkdir(parents=True, exist_ok=True)
        daemon = self._spawn(
            f"worker-{index}",
            [
                WORKER_CLASS,
                *("--host", HOST, "--port", str(rpc), "--webui-port", str(ui)),
                *("--cores", str(self.cores), "--memory", self.memory),
                *("--work-dir", str(worker_dir)),
                self.master_url,
            ],
            rpc,
            ui,
        )
        self.worker_daemons.append(daemon)
        if wait:
            self.wait_for_workers(len(self.alive_workers()) + 1)
        return daemon

    def state(self) -> dict[str, Any]:
        """The master's `/json/`: workers, cores, active and completed applications."""
        return get_json(f"{self.master_ui}/json/")

    def alive_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.state().get("workers", []) if w.get("state") == "ALIVE"]

    def worker_state(self, daemon: Daemon) -> dict[str, Any]:
        """A worker's `/json/`: its running and finished executors."""
        return get_json(f"{daemon.ui_url}/json/")

    def executor_logs(self, daemon: Daemon, app_id: str) -> list[Path]:
        """The stderr files of `app_id`'s executors on worker `daemon` (its `--work-dir`)."""
        return sorted((self.work_dir / daemon.name / app_id).glob("*/stderr"))

    def wait_for_workers(self, count: int) -> None:
        self._wait(
            lambda s: sum(w.get("state") == "ALIVE" for w in s.get("workers", [])) >= count,
            f"{count} ALIVE workers",
        )

    def _wait(self, ready, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.start_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            for daemon in [self.master, *self.worker_daemons]:
                if daemon is not None and not daemon.is_running():
                    raise RuntimeError(
                        f"spark {daemon.name} exited while waiting for {what}: "
                        f"see {daemon.log_path}"
                    )
            try:
                state = self.state()
                if ready(state):
                    return state
            except OSError as exc:  # the web UI not listening yet
                last = exc
            time.sleep(0.5)
        raise TimeoutError(
            f"no {what} after {self.start_timeout_s:.0f}s ({last}): see {self.work_dir}"
        )

    def kill_worker(self, daemon: Daemon) -> None:
        """SIGKILL a worker and its executors at once, as a machine that dies would vanish."""
        import psutil

        # The worker's own descendants only: a ProcessTree also counts children of this process
        # started after it (workers added later), which must live on.
        root = psutil.Process(daemon.tree.proc.pid)
        doomed = [root, *root.children(recursive=True)]
        for process in doomed:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(doomed, timeout=10)
        daemon.tree.proc.wait(timeout=10)

    def stop(self) -> list[int]:
        """Stop workers, then the master (SIGTERM, then SIGKILL); the pids left (none)."""
        left: list[int] = []
        for daemon in [*reversed(self.worker_daemons), self.master]:
            if daemon is not None:
                left += [p.pid for p in daemon.tree.stop(signal.SIGTERM, grace_s=15, kill_s=5)]
        return left

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brewlake.devkit.cluster",
        description="a Spark standalone master and workers on 127.0.0.1, until Ctrl-C",
    )
    parser.add_argument("--workers", type=int, default=2, help="how many workers (2)")
    parser.add_argument("--cores", type=int, default=1, help="cores per worker (1)")
    parser.add_argument("--memory", default="2g", help="memory per worker (2g)")
    parser.add_argument("--dir", default=None, help="logs and worker folders (a temp folder)")
    args = parser.parse_args(argv)
    work_dir = Path(args.dir or tempfile.mkdtemp(prefix="brewlake-cluster-")).resolve()
    cluster = StandaloneCluster(work_dir, args.workers, args.cores, args.memory)
    with interrupt_on_signals():
        try:
            cluster.start()
            print(f"master   {cluster.master_url}  (web UI {cluster.master_ui})", flush=True)
            for daemon in cluster.worker_daemons:
                print(f"{daemon.name} {args.cores} core(s), {args.memory}  {daemon.ui_url}")
            print(f"logs     {work_dir / 'logs'}")
            print(f"submit   BREWLAKE_SPARK_MASTER={cluster.master_url} brewlake run")
            print("Ctrl-C stops master and workers", flush=True)
            while all(d.is_running() for d in [cluster.master, *cluster.worker_daemons] if d):
                time.sleep(1)
            print("brewlake: a cluster process exited; stopping the rest", file=sys.stderr)
            return 1
        except KeyboardInterrupt as exc:
            print("brewlake: stopping the cluster", file=sys.stderr, flush=True)
            return getattr(exc, "exit_code", 130)
        finally:
            left = cluster.stop()
            if left:
                print(f"brewlake: still running: {left}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
