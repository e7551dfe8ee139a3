"""Progress of long jobs on stderr: rich bars on a terminal, plain periodic lines elsewhere.

The core reports through one callable, `progress(stage, done, total)` (decoding clips,
checking data, verifying and converting weights, training steps, validation batches).
`ConsoleProgress` is that callable for the command line:

- on a terminal, a rich bar per stage that redraws in place: done/total, rate, elapsed
  time and ETA; the bars of a job stay on screen when it finishes;
- anywhere else (CI logs, nohup, a pipe), no escape codes: one plain line per stage at
  most every `interval_s` seconds (5 by default; the WORKBENCH_PROGRESS_INTERVAL
  environment variable changes it), e.g.
  `transcribing: 120/368 (33%)  2.41/s  elapsed 0:50  ETA 1:43`, and a closing line for
  a stage that printed one (or counts 100 items or more).

Both count with rich's `Progress` (rate over a sliding window, ETA from it), so a log
line says what the bar would. A line is written when the core reports, not by a timer:
a stage whose single step is slower than the interval prints once per step.

Cancelling never depends on this module: a job stopped by Ctrl-C keeps what it finished
(the run store has it) and the bars are closed on the way out (at the latest at exit),
so the terminal gets its cursor back.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
)
from rich.text import Text

__all__ = ["ConsoleProgress", "close_all", "DEFAULT_INTERVAL_S", "INTERVAL_ENV", "format_count", "format_duration", "format_rate"]

DEFAULT_INTERVAL_S = 5.0  # a line every few seconds: readable in a CI log, alive under nohup
INTERVAL_ENV = "WORKBENCH_PROGRESS_INTERVAL"
UPDATE_EVERY_S = 0.05  # reports closer together only move the count: cheap for a report per row
SUMMARY_MIN_TOTAL = 100  # a stage this large gets a closing line even when it was quick


def format_count(n: float) -> str:
    """An item or byte count, short: 950, 12.3k, 81.2M (SI prefixes, like tqdm's unit_scale)."""
    n = float(n)
    if abs(n) < 10_000:
        return f"{n:.0f}" if n == int(n) else f"{n:.1f}"
    for prefix in ("k", "M", "G", "T"):
        n /= 1000
        if abs(n) < 1000:
            return f"{n:.1f}{prefix}"
    return f"{n:.1f}P"


def format_rate(per_second: float | None) -> str:
    """Items a second, or seconds an item when slower than one a second (training steps)."""
    if not per_second:
        return "?/s"
    if per_second < 1:
        return f"{1 / per_second:.1f}s/it"
    if per_second < 10:
        return f"{per_second:.2f}/s"
    return f"{per_second:.0f}/s" if per_second < 10_000 else f"{format_count(per_second)}/s"


def format_duration(seconds: float | None) -> str:
    """0:07, 12:34, 1:02:03; ? when unknown."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _speed(task: Task) -> float | None:
    """rich's rate over its sliding window; until that has two advances, the average since
    the stage began (without the part a resumed job had already done)."""
    speed = task.finished_speed or task.speed
    if speed is None:
        gained, elapsed = task.completed - task.fields.get("first", 0), task.elapsed
        if gained > 0 and elapsed:
            speed = gained / elapsed
    return speed


def _eta(task: Task) -> float | None:
    if task.finished:
        return 0.0
    speed = _speed(task)
    return None if not speed or task.total is None else (task.total - task.completed) / speed


class _CountColumn(ProgressColumn):
    """done/total, short (byte counts of a model file stay readable)."""

    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else format_count(task.total)
        return Text(f"{format_count(task.completed)}/{total}", style="progress.download")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(format_rate(_speed(task)), style="progress.data.speed")


class _TimeColumn(ProgressColumn):
    """elapsed 0:05  ETA 0:55, as the plain lines write it."""

    def render(self, task: Task) -> Text:
        return Text(f"elapsed {format_duration(task.elapsed)}  ETA {format_duration(_eta(task))}", style="progress.remaining")


@dataclass
class _Stage:
    """One stage being counted (a task of the rich `Progress`)."""

    task: TaskID
    started: float  # clock time the stage (or its latest round) started
    first_done: int  # done at that time: a resumed job starts part-way
    last_line: float  # plain mode: clock time of the latest line (the start, before any)
    done: int = 0  # the latest count reported
    last_update: float = float("-inf")  # clock time rich's counts were last updated
    printed: bool = False  # plain mode: a periodic line was written for this round
    finished: bool = False


# Displays with live bars. Held strongly: the command line passes a ConsoleProgress it
# keeps no name for, and a job that raised must still get its bars closed.
_OPEN: set = set()


@atexit.register
def close_all() -> None:
    """End every live bar display (the cursor is shown again). The command line calls it
    when a command ends, before an error or "cancelled" is printed; and at exit."""
    for display in list(_OPEN):
        display.close()


class ConsoleProgress:
    """A `(stage, done, total)` callback: rich bars on a terminal, plain lines elsewhere.

    stream: where to write (default: stderr, looked up at each write);
    interval_s: plain mode, the least seconds between two lines of a stage (default:
    $WORKBENCH_PROGRESS_INTERVAL, else 5); clock: seconds, monotonic (tests pass their own).
    Thread-safe: the core may report from worker threads. A context manager; `close()`
    ends the bars (also done when every stage has finished, and at exit).
    """

    def __init__(self, stream: TextIO | None = None, interval_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.console = Console(file=stream, stderr=stream is None, highlight=False)
        # Bars only on a terminal that can redraw (not TERM=dumb, not a pipe or a file).
        self.tty = self.console.is_terminal and not self.console.is_dumb_terminal
        self.interval_s = _interval(interval_s)
        self.clock = clock
        self._lock = threading.RLock()
        self._progress: Progress | None = None
        self._stages: dict[str, _Stage] = {}

    # ------------------------------------------------------------------ the callback

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            now = self.clock()
            progress = self._progress or self._open()
            state = self._stages.get(stage)
            if state is None:
                state = self._stages[stage] = _Stage(progress.add_task(stage, total=total, completed=done, first=done), now, done, now)
            elif state.finished or done < state.done:
                # The same stage again (the next backend of a comparison, the next
                # validation of a training run): a new round, counted from here.
                progress.reset(state.task, total=total, completed=done, first=done)
                self._stages[stage] = state = _Stage(state.task, now, done, now)
            state.done = done
            finished = done >= total
            if not finished and now - state.last_update < min(UPDATE_EVERY_S, self.interval_s):
                return  # a per-row report of a big file: counted at the next update (it is absolute)
            state.last_update = now
            progress.update(state.task, total=total, completed=done)
            if not self.tty:  # on a terminal, rich redraws the bars 4 times a second
                self._plain_line(stage, state, _task(progress, state.task), now, finished)
            if finished:
                state.finished = True
                if all(s.finished for s in self._stages.values()):
                    self.close()  # the job's bars stay on screen; what it prints next goes below them

    def _plain_line(self, stage: str, state: _Stage, task: Task, now: float, finished: bool) -> None:
        done, total = int(task.completed), int(task.total or 0)
        if finished:
            if not (state.printed or total >= SUMMARY_MIN_TOTAL):
                return
            elapsed = now - state.started
            rate = (done - state.first_done) / elapsed if elapsed > 0 else None
            self._write(f"{stage}: {format_count(done)}/{format_count(total)} done in {format_duration(elapsed)}"
                        f" ({format_rate(rate)})")
            return
        if now - state.last_line < self.interval_s:
            return
        state.last_line, state.printed = now, True
        share = f" ({100 * done / total:.0f}%)" if total else ""
        self._write(f"{stage}: {format_count(done)}/{format_count(total)}{share}  {format_rate(_speed(task))}"
                    f"  elapsed {format_duration(now - state.started)}  ETA {format_duration(_eta(task))}")

    def _write(self, line: str) -> None:
        # Plain text, no markup or highlighting, never wrapped: one log line per report.
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()

    # ------------------------------------------------------------------ the display

    def _open(self) -> Progress:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            _CountColumn(),
            _RateColumn(),
            _TimeColumn(),
            console=self.console,
            get_time=self.clock,
            disable=not self.tty,  # plain mode: rich only counts, the lines are ours
            # Printed output goes above the bars; stdout only when it is this terminal
            # too, never a pipe or file it was redirected to.
            redirect_stdout=self.tty and _is_terminal(sys.stdout),
            redirect_stderr=self.tty,
            refresh_per_second=4,
        )
        if self.tty:
            self._progress.start()
            _OPEN.add(self)
        return self._progress

    def close(self) -> None:
        """End the bars (they stay on screen) and forget the stages."""
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
            self._progress = None
            self._stages.clear()
            _OPEN.discard(self)

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _task(progress: Progress, task_id: TaskID) -> Task:
    return next(t for t in progress.tasks if t.id == task_id)


def _interval(interval_s: float | None) -> float:
    if interval_s is None:
        text = os.environ.get(INTERVAL_ENV, "").strip()
        if not text:
            return DEFAULT_INTERVAL_S
        try:
            interval_s = float(text)
        except ValueError:
            raise ValueError(f"{INTERVAL_ENV}: expected seconds, got {text!r}") from None
    if not interval_s >= 0:
        raise ValueError(f"progress interval must be >= 0 seconds, got {interval_s!r}")
    return float(interval_s)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False
