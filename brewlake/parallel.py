"""Run independent Spark work side by side from one driver.

Small Delta commits and aggregates spend most of their time on the driver (planning, listing,
writing the log), not in tasks: on a 2-core machine, several of them on threads finish in about
the time of the slowest. Each call still runs as its own Spark job and its own atomic commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def concurrently(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`fn` over `items` on one thread each, results in order. Every call finishes before the
    first exception (if any) is raised, so nothing is left running behind the caller."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(fn, item) for item in items]
    return [f.result() for f in futures]
