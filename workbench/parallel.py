"""Split CPU-bound work over big in-memory inputs across forked worker processes.

Normalizing, aligning and probing 100,000 utterances are pure-Python loops: threads would
share one interpreter lock, processes do not. Forked workers inherit the input (the
`shared` object) instead of receiving it pickled, and send back only their results.

Forking is only safe while this process runs a single thread (a fork copies locks that
other threads may hold), so inside a threaded host, such as the TUI's workers, callers
run serially; `fork_map` says so with `can_fork`. Results are the same either way.
"""

import gc
import multiprocessing
import os
import threading
from typing import Callable, Iterator, TypeVar

__all__ = ["usable_cpus", "can_fork", "fork_map", "chunk_ranges"]

T = TypeVar("T")
_SHARED = None  # the input of the current fork_map, inherited by its workers


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether forking workers is possible and safe here (fork exists, one thread)."""
    if threading.active_count() > 1 or usable_cpus() < 2:
        return False
    try:
        multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return False
    return True


def chunk_ranges(total: int, parts: int, max_size: int | None = None) -> list[tuple[int, int]]:
    """[start, stop) ranges covering range(total) in about `parts` pieces (smaller when
    `max_size` asks for more frequent progress)."""
    size = max(1, -(-total // max(1, parts)))
    if max_size:
        size = min(size, max_size)
    return [(start, min(total, start + size)) for start in range(0, total, size)]


def _run(task):
    fn, start, stop = task
    return fn(_SHARED, start, stop)


def fork_map(fn: Callable[[object, int, int], T], shared, ranges: list[tuple[int, int]], workers: int) -> Iterator[T]:
    """`fn(shared, start, stop)` for each range, in forked workers, results in order.

    `fn` must be a module-level function (it is sent by name); `shared` is inherited, not
    sent. Call only when `can_fork()`; one fork_map at a time."""
    global _SHARED
    _SHARED = shared
    # Objects that exist now are set aside from the garbage collector (here and, inherited,
    # in the workers): a worker's collections would otherwise write to every one of them
    # and copy the parent's memory page by page, and the parent's would scan them again.
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(max(1, min(workers, len(ranges)))) as pool:
            yield from pool.imap(_run, [(fn, start, stop) for start, stop in ranges])
    finally:
        gc.unfreeze()
        _SHARED = None
