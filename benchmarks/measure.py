"""Measuring tools for the benchmarks: wall time, peak RSS of a process tree, Delta file actions."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from brewlake import delta


class TreeRss:
    """Samples the resident memory of a process and all its descendants (the driver JVM too).

    A child that still shares its parent's address space is left out: between fork (or Java's
    posix_spawn helper, which Hadoop's local file system starts for every `chmod`) and exec,
    /proc reports the parent's whole RSS for it again, so one sample could count the driver
    JVM twice. Such a child is recognised by a virtual size equal to its parent's."""

    def __init__(self, pid: int | None = None, interval_s: float = 0.05):
        self.pid = pid or os.getpid()
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _current(self) -> int:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        memory = {}
        for proc in procs:
            with suppress(psutil.Error):
                memory[proc.pid] = (proc.ppid(), proc.memory_info())
        return sum(
            info.rss
            for pid, (ppid, info) in memory.items()
            if pid == self.pid or not _shares_parent_memory(info, memory.get(ppid))
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._current())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeRss:
        self.peak = self._current()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._current())

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


class TreeCpu:
    """CPU seconds (user + system) that the process trees under `pids` spend while it runs:
    every process seen under them counts, those that start and end meanwhile too (sampled every
    `interval_s`, so the last moments of a short-lived process can be missed); a process already
    running counts from the start only."""

    def __init__(self, pids: Sequence[int], interval_s: float = 0.1):
        self.pids = tuple(pids)
        self.interval_s = interval_s
        self._start: dict[tuple[int, float], float] = {}
        self._latest: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        for root in self.pids:
            try:
                parent = psutil.Process(root)
                procs = [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in procs:
                with suppress(psutil.Error):
                    times = proc.cpu_times()
                    self._latest[(proc.pid, proc.create_time())] = times.user + times.system

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> TreeCpu:
        self._sample()
        self._start = dict(self._latest)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return round(sum(t - self._start.get(k, 0.0) for k, t in self._latest.items()), 1)


class HostSteal:
    """The share of this machine's CPU time the hypervisor gave to other guests while it runs
    (Linux `steal` in /proc/stat, all cores): on a shared virtual machine the same work can take
    half as long again when the host is busy, and this says how busy it was around a figure."""

    def __enter__(self) -> HostSteal:
        self._start = psutil.cpu_times()
        self.pct: float | None = None
        return self

    def __exit__(self, *exc: Any) -> None:
        end = psutil.cpu_times()
        total = _all_time(end) - _all_time(self._start)
        stolen = getattr(end, "steal", 0.0) - getattr(self._start, "steal", 0.0)
        self.pct = round(100 * stolen / total, 1) if total > 0 else 0.0


def _all_time(times: Any) -> float:
    # Guest time is counted in user and nice already.
    fields = times._asdict()
    return sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))


def _shares_parent_memory(info: Any, parent: tuple[int, Any] | None) -> bool:
    return parent is not None and parent[1].vms == info.vms


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """`with measured() as m:` → m['seconds'], m['peak_rss_mb'] (this process tree) and
    m['cpu_steal_pct'] (`HostSteal`)."""
    out: dict[str, float] = {}
    with TreeRss() as rss, HostSteal() as steal:
        t0 = time.perf_counter()
        yield out
        out["seconds"] = round(time.perf_counter() - t0, 3)
    out["peak_rss_mb"] = rss.peak_mb
    out["cpu_steal_pct"] = steal.pct


def settle() -> None:
    """Flush written files to disk before a measured run starts: left in the page cache, their
    writeback runs during it (a 1 M first load right after copying its lake: 59.2 / 60.1 s,
    against 56.2 / 57.3 s after a flush)."""
    os.sync()


def run_measured_process(
    cmd: list[str], env: dict[str, str] | None = None, also_cpu_of: Sequence[int] = ()
) -> dict[str, Any]:
    """Run a command; wall time, peak RSS and CPU seconds of its whole process tree, the CPU
    seconds the trees under `also_cpu_of` (a cluster's daemons, say) spend meanwhile, and the
    host's steal (`HostSteal`)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with (
        TreeRss(proc.pid) as rss,
        TreeCpu([proc.pid]) as cpu,
        TreeCpu(also_cpu_of) as others,
        HostSteal() as steal,
    ):
        stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        # spark-submit hands the Python driver's stderr to its own stdout: keep the end of both.
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}: {stderr[-1000:]} | stdout: {stdout[-1000:]}"
        )
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": rss.peak_mb,
        "cpu_seconds": cpu.seconds,
        "other_cpu_seconds": others.seconds,
        "cpu_steal_pct": steal.pct,
        "stdout": stdout,
        "stderr": stderr,
    }


def repeat(fn: Callable[[], dict[str, Any]], runs: int, warmup: int = 1) -> dict[str, Any]:
    """Call `fn` warmup+runs times; the median of the measured runs, and every run."""
    for _ in range(warmup):
        fn()
    samples = [fn() for _ in range(runs)]
    return {
        "seconds": round(statistics.median(s["seconds"] for s in samples), 3),
        "peak_rss_mb": max(s.get("peak_rss_mb", 0.0) for s in samples),
        "runs": samples,
    }


def spread(samples: list[float]) -> dict[str, float]:
    """min / median / max of a few measured seconds."""
    return {
        "min": round(min(samples), 3),
        "median": round(statistics.median(samples), 3),
        "max": round(max(samples), 3),
    }


def spread_text(spread_: dict[str, float]) -> str:
    """`min / median / max` of a `spread`."""
    return f"{spread_['min']} / {spread_['median']} / {spread_['max']}"


def load_average() -> list[float]:
    """The 1/5/15-minute load averages: how busy the (shared) machine was around a figure."""
    return [round(x, 2) for x in os.getloadavg()]


def delta_file_actions(table_path: str | Path, after_version: int | None) -> dict[str, int]:
    """File actions of the commits after `after_version` (None: all commits).

    `added`/`removed` count the log's actions. A deletion vector attached to an existing file
    shows as a remove + add of the *same* path: that file was not rewritten, so `rewritten`
    counts only removed paths that no add in the same commit brings back.
    """
    totals = {"added": 0, "removed": 0, "rewritten": 0, "dv_updates": 0, "commits": 0}
    for version, actions in delta.log_commits(table_path):
        if after_version is not None and version <= after_version:
            continue
        adds = {a["add"]["path"] for a in actions if "add" in a}
        removes = {a["remove"]["path"] for a in actions if "remove" in a}
        totals["commits"] += 1
        totals["added"] += len(adds)
        totals["removed"] += len(removes)
        totals["rewritten"] += len(removes - adds)
        totals["dv_updates"] += len(removes & adds)
    return totals


def delta_version(table_path: str | Path) -> int | None:
    versions = [version for version, _ in delta.log_commits(table_path)]
    return max(versions) if versions else None


def live_data_files(table_path: str | Path) -> int:
    """Data files in the table's current snapshot."""
    return len(delta.live_files(table_path))


def machine() -> dict[str, Any]:
    import pyspark

    try:
        import delta

        delta_version_ = getattr(delta, "__version__", "")
    except ImportError:
        delta_version_ = ""
    from importlib.metadata import version

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "java": java.splitlines()[0] if java else "",
        "pyspark": pyspark.__version__,
        "delta_spark": delta_version_ or version("delta-spark"),
        "brewlake": version("brewlake"),
    }


def as_dict(obj: Any) -> Any:
    return asdict(obj) if hasattr(obj, "__dataclass_fields__") else obj
