"""Child processes that end with the command that started them.

A long-running launcher (`make airflow`, and the like) runs its service with `run_until_stopped`:
the service gets a session of its own, so a terminal's Ctrl-C reaches the launcher only, and on
SIGINT or SIGTERM the launcher stops the service's whole tree (signal, grace period, then
SIGTERM, SIGKILL, reap) and exits 130 or 143, as a shell reports a command those signals ended.
A second signal while stopping goes straight to SIGKILL.

"The whole tree" is more than the process group: Airflow runs each task in a group of its own and
Spark's Python daemon makes one too, so descendants outside the group are signalled by pid; and
the launcher makes itself a child subreaper (Linux), so what is orphaned on the way re-parents to
it, is still found, and is reaped instead of lingering as a zombie.

    python -m brewlake.processes [--stop-signal INT|TERM] [--leader-only] [--grace-s 30]
        [--label NAME] -- CMD ...
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
POLL_S = 0.1


def exit_code(signum: int) -> int:
    """A shell's exit status for a command that signal `signum` ended (SIGINT 130, SIGTERM 143)."""
    return 128 + int(signum)


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux only; False elsewhere)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached this process (see `interrupt_on_signals`)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = exit_code(signum)


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM both raise `Interrupted` in the main thread.

    For an in-process server: `finally` clauses run (sockets close) on either signal, whatever the
    parent did to SIGINT (a shell's background job inherits it ignored), and the exception says
    which signal came. The previous handlers come back after the block.
    """

    def interrupt(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ProcessTree:
    """One child started in a session of its own, and every process it starts.

    The members are the child, its descendants, and orphans of them this process adopted (as a
    subreaper); each is remembered once seen, so one whose parent died is still found.
    """

    def __init__(self, cmd: Sequence[str], **popen_kwargs):
        # psutil comes with Airflow (and the dev extra); the base install, which serves the API,
        # needs only the signal handling above, so it is imported where a tree is handled.
        import psutil

        # Children this process had already are not the tree's, even once it adopts orphans.
        self._foreign = {child.pid for child in psutil.Process().children()}
        self.proc = subprocess.Popen(list(cmd), start_new_session=True, **popen_kwargs)
        self._known: dict[int, psutil.Process] = {self.proc.pid: psutil.Process(self.proc.pid)}

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session: the child leads its session and group

    def members(self) -> list[psutil.Process]:
        """Every process of the tree that still exists (a zombie not reaped yet counts)."""
        import psutil

        me = os.getpid()
        children: dict[int, list[psutil.Process]] = {}
        for process in psutil.process_iter(["ppid"]):
            children.setdefault(process.info["ppid"], []).append(process)
        todo = [p for p in self._known.values() if p.is_running()]
        todo += [p for p in children.get(me, []) if p.pid not in self._foreign]
        found: dict[int, psutil.Process] = {}
        while todo:
            process = todo.pop()
            if process.pid not in found:
                found[process.pid] = process
                todo += children.get(process.pid, [])
        self._known.update(found)
        return [p for p in found.values() if p.is_running()]

    def reap(self, members: Sequence[psutil.Process]) -> None:
        """Collect the exit status of the members that are this process's own children."""
        import psutil

        self.proc.poll()
        me = os.getpid()
        for process in members:
            with contextlib.suppress(psutil.Error, ChildProcessError):
                if process.pid != self.proc.pid and process.ppid() == me:
                    os.waitpid(process.pid, os.WNOHANG)

    def send(self, signum: int, members: Sequence[psutil.Process], group: bool = True) -> None:
        """`signum` to the child's process group, and by pid to `members` outside that group."""
        import psutil

        if group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, signum)
        for process in members:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(process.pid) != self.pgid:
                    process.send_signal(signum)

    def left(self) -> list[psutil.Process]:
        """The members still there once every exited child of this process is reaped."""
        members = self.members()
        self.reap(members)
        return [p for p in members if p.is_running()]

    def stop(
        self,
        signum: int = signal.SIGTERM,
        *,
        leader_only: bool = False,
        grace_s: float = 30.0,
        term_s: float = 10.0,
        kill_s: float = 5.0,
        hurry: Callable[[], bool] = lambda: False,
    ) -> list[psutil.Process]:
        """Stop the whole tree and reap it; returns what is left (empty: all gone).

        `signum` first, to the group and every member outside it, or to the child alone with
        `leader_only` (a supervisor that stops its own children, as `airflow standalone` does),
        and up to `grace_s` for all to exit; then SIGTERM to all (`term_s`) unless that was the
        first step; then SIGKILL (`kill_s`). Once `hurry()` is true, straight to SIGKILL.
        """
        stages = [(signum, grace_s, leader_only)]
        if leader_only or signum != signal.SIGTERM:
            stages.append((signal.SIGTERM, term_s, False))
        stages.append((signal.SIGKILL, kill_s, False))
        for sig, wait_s, to_leader in stages:
            if self._stage(sig, wait_s, to_leader, hurry if sig != signal.SIGKILL else None):
                return []
        return self.left()

    def _stage(
        self, sig: int, wait_s: float, to_leader: bool, hurry: Callable[[], bool] | None
    ) -> bool:
        """One signal and its wait; True once every member is gone."""
        deadline = time.monotonic() + wait_s
        signalled: set[int] = set()
        if to_leader:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        while left := self.left():
            if to_leader:
                if self.proc.returncode is not None:
                    return False  # what the leader left behind: the next stage's
            else:
                # The group once (a second SIGINT makes some services skip their clean
                # shutdown); members outside it as they show up.
                fresh = [p for p in left if p.pid not in signalled]
                if fresh:
                    self.send(sig, fresh, group=not signalled)
                    signalled.update(p.pid for p in fresh)
            if time.monotonic() >= deadline or (hurry is not None and hurry()):
                return False
            time.sleep(POLL_S)
        return True


def run_until_stopped(
    cmd: Sequence[str],
    *,
    stop_signal: int = signal.SIGTERM,
    leader_only: bool = False,
    grace_s: float = 30.0,
    kill_s: float = 5.0,
    label: str | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
    **popen_kwargs,
) -> int:
    """Run `cmd` until it exits or this process gets SIGINT/SIGTERM, then stop its whole tree
    (`ProcessTree.stop` with `stop_signal`, `leader_only`, `grace_s`).

    Returns the child's exit status (128 + N when signal N ended it), or 130/143 for the signal
    this process got. For a launcher's main thread: it installs signal handlers (restored after)
    and makes this process a subreaper for good.
    """
    name = label or os.path.basename(cmd[0])
    received: list[int] = []
    hurried: list[bool] = []

    def note(signum: int, _frame: object) -> None:
        received.append(signum)  # only this: the main loop acts on it

    def hurry() -> bool:
        if len(received) > 1 and not hurried:
            hurried.append(True)
            print(f"brewlake: killing {name}", file=sys.stderr, flush=True)
        return bool(hurried)

    previous = {sig: signal.signal(sig, note) for sig in STOP_SIGNALS}
    try:
        become_subreaper()
        tree = ProcessTree(cmd, **popen_kwargs)
        if on_start is not None:
            on_start(tree.proc)
        while not received:
            try:
                code = tree.proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                continue
            # It ended by itself: whatever it left behind goes too.
            _report(name, tree.stop(signal.SIGTERM, grace_s=kill_s, kill_s=kill_s))
            return code if code >= 0 else exit_code(-code)
        first = signal.Signals(received[0]).name
        print(f"brewlake: stopping {name} ({first}; again to kill it)", file=sys.stderr, flush=True)
        left = tree.stop(
            stop_signal, leader_only=leader_only, grace_s=grace_s, kill_s=kill_s, hurry=hurry
        )
        _report(name, left)
        return exit_code(received[0])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _report(name: str, left: Sequence[psutil.Process]) -> None:
    if left:
        pids = ", ".join(str(p.pid) for p in left)
        print(f"brewlake: {name}: still running after SIGKILL: {pids}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brewlake.processes",
        description="run a command until it exits or SIGINT/SIGTERM comes; then stop all of it",
    )
    parser.add_argument(
        "--stop-signal",
        choices=("INT", "TERM"),
        default="TERM",
        help="what the command gets first (default TERM; INT for what expects a Ctrl-C)",
    )
    parser.add_argument(
        "--leader-only",
        action="store_true",
        help="the first signal to the command alone, not to its children (it stops them)",
    )
    parser.add_argument("--grace-s", type=float, default=30.0, help="before SIGTERM/KILL (30)")
    parser.add_argument("--label", default=None, help="name in the messages")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command and its arguments")
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("a command is required (after --)")
    return run_until_stopped(
        cmd,
        stop_signal=getattr(signal, f"SIG{args.stop_signal}"),
        leader_only=args.leader_only,
        grace_s=args.grace_s,
        label=args.label,
    )


if __name__ == "__main__":
    sys.exit(main())
