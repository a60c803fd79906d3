"""The benchmarks' samplers. Memory: each process tree's memory once (a forked child that still
shares its parent's pages is not counted again, a child with memory of its own is). CPU: what a
tree spends while measured, a child that comes and goes included, nothing spent before."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from benchmarks.measure import HostSteal, TreeCpu, TreeRss

MB = 2**20
# Holds 200 MB, then forks a child that only sleeps (it shares those pages, copy-on-write), or
# starts a new interpreter that holds 200 MB of its own.
PARENT = """
import os, subprocess, sys, time
held = bytearray(200 * 2**20)
held[:: 4096] = b"x" * len(held[:: 4096])
if sys.argv[1] == "fork":
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
else:
    subprocess.Popen([sys.executable, "-c", sys.argv[2]])
print("ready", flush=True)
time.sleep(30)
"""
CHILD = (
    'import time; held = bytearray(200 * 2**20); held[::4096] = b"x" * len(held[::4096]); '
    "time.sleep(30)"
)


def _peak_mb(mode: str) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, mode, CHILD], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # the new interpreter's 200 MB are touched by now
        with TreeRss(proc.pid, interval_s=0.02) as rss:
            time.sleep(0.3)
        return rss.peak / MB
    finally:
        for child in psutil.Process(proc.pid).children():
            child.kill()
        proc.kill()
        proc.wait()


def test_a_forked_child_sharing_its_parents_pages_is_counted_once():
    assert 200 <= _peak_mb("fork") < 350


def test_a_child_with_memory_of_its_own_is_counted():
    assert _peak_mb("spawn") >= 400


# Spends 1 s of CPU before it says ready (not measured), then starts a child that spends 1 s.
BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"
CPU_PARENT = f"""
import subprocess, sys, time
exec({BUSY!r})
print("ready", flush=True)
time.sleep(0.3)
subprocess.run([sys.executable, "-c", {BUSY!r}], check=True)
time.sleep(0.3)
"""


def test_cpu_seconds_are_what_the_tree_spends_while_measured():
    proc = subprocess.Popen([sys.executable, "-c", CPU_PARENT], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    with TreeCpu([proc.pid], interval_s=0.02) as cpu:
        assert proc.wait(timeout=60) == 0
    assert 0.8 <= cpu.seconds < 1.6


def _proc_stat() -> tuple[int, int]:
    """(steal, total) jiffies of all cores, read straight from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is also
    # counted in user and nice, so it is left out of the total.
    return fields[7], sum(fields[:8])


def test_host_steal_is_the_share_of_all_cores_time_proc_stat_counts_as_stolen():
    before = _proc_stat()
    with HostSteal() as steal:
        t = time.process_time()
        while time.process_time() - t < 1.0:
            pass
    after = _proc_stat()
    expected = 100 * (after[0] - before[0]) / (after[1] - before[1])
    assert 0.0 <= steal.pct <= 100.0
    assert abs(steal.pct - expected) <= 3.0
