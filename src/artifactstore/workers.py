"""Long-lived worker threads for fan-out I/O (catalog reads and writes, storage requests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

WORKERS = 8

_T = TypeVar("_T")
_R = TypeVar("_R")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def parallel_map(work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``work`` over ``items`` on long-lived threads (inline for one item).

    PynamoDB keeps one botocore session per thread, and a new session loads the service
    models again (about 0.1 s each): threads made per call paid that on every request.
    """
    global _pool
    if len(items) <= 1:
        return [work(item) for item in items]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="worker")
    return list(_pool.map(work, items))
