from __future__ import annotations

import threading
import time

import pytest

from brewlake.parallel import concurrently


def test_results_keep_the_order_of_the_items_and_calls_overlap():
    running, peak, lock = [0], [0], threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return n * n

    assert concurrently(work, [3, 1, 2]) == [9, 1, 4]
    assert peak[0] == 3


def test_a_failure_is_raised_only_after_every_call_finished():
    finished = []

    def work(n: int) -> int:
        if n == 0:
            raise ValueError("boom")
        time.sleep(0.2)
        finished.append(n)
        return n

    with pytest.raises(ValueError, match="boom"):
        concurrently(work, [0, 1, 2])
    assert sorted(finished) == [1, 2]
