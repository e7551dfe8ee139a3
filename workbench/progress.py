"""Progress for long jobs, printed to stderr: a live line on a terminal, sparse lines in logs."""

import sys
import time

__all__ = ["ConsoleProgress"]


class ConsoleProgress:
    """A `(stage, done, total)` callback that shows rate and ETA."""

    def __init__(self, stream=None, min_interval_s: float = 0.2):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval_s = min_interval_s
        self._stage = None
        self._started = 0.0
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self._stage:
            self._stage, self._started, self._last = stage, now, 0.0
        finished = done >= total
        if not finished and now - self._last < self.min_interval_s:
            return
        self._last = now
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * done / total) if total else width
        line = f"{stage}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {rate:.0f}/s  ETA {eta:.0f}s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if finished else ""))
            self.stream.flush()
        elif finished and total >= 100:
            self.stream.write(f"{stage}: {done}/{total} in {elapsed:.1f}s\n")
