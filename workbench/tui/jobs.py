"""What the terminal UI needs besides the session functions: its options, the requests it
builds, progress with an ETA, and what a cancelled job left behind.

Headless on purpose (no Textual import here): the screens call these from worker threads
and only render what comes back.
"""

import re
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import strategies

from ..backends import DEFAULT_BACKEND, DecodingOptions
from ..bench import BenchRequest, demo_manifest
from ..errors import WorkbenchError
from ..runstore import DEFAULT_WORKSPACE, RunStore
from ..service import DataSelection

__all__ = [
    "STRATEGY_CHOICES",
    "TuiOptions",
    "demo_lexicon",
    "bench_request",
    "ProgressClock",
    "cancelled_run",
    "format_eta",
]

# The strategies the Strategies screen offers, with what each does: read from the registry,
# so a strategy added in one file appears here too.
STRATEGY_CHOICES = strategies.choices()


def demo_lexicon() -> str:
    return str(files("workbench") / "examples" / "demo" / "lexicon.csv")


@dataclass(frozen=True)
class TuiOptions:
    """What `workbench tui` was started with."""

    workspace: str = DEFAULT_WORKSPACE  # the run store folder
    data: str | None = None  # manifest; None: the embedded demo corpus
    lexicon: str | None = None  # None: the demo lexicon when the data is the demo corpus
    model: str = "base"  # what new runs decode with
    limit: int | None = None  # only the first N utterances of a part (quick runs, tests)
    config: str | None = None  # escalation config (TOML): targets, ladder, training
    allow_cpu: bool = False  # let the escalate action train without a GPU
    backend: str = DEFAULT_BACKEND
    batch_size: int = 8
    threads: int = 0

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size!r}")

    @property
    def dataset(self) -> str:
        return self.data or demo_manifest()

    @property
    def is_demo(self) -> bool:
        return self.data is None or self.data == demo_manifest()

    @property
    def lexicon_save_path(self) -> str | None:
        """Where edits are saved. The shipped demo lexicon is never overwritten: edits of it
        go to `<workspace>/lexicon.csv`; a YAML or TSV lexicon is saved as a CSV beside it."""
        if self.lexicon:
            path = Path(self.lexicon)
            return str(path if path.suffix.lower() == ".csv" else path.with_suffix(".csv"))
        if self.is_demo:
            return str(Path(self.workspace) / "lexicon.csv")
        return None

    @property
    def lexicon_path(self) -> str | None:
        """The lexicon strategies run with: the one given, else the workspace's edited copy
        of the demo lexicon once saved, else the demo lexicon (demo data only)."""
        if self.lexicon:
            saved = self.lexicon_save_path
            return saved if saved != self.lexicon and saved and Path(saved).exists() else self.lexicon
        if self.is_demo:
            edited = Path(self.workspace) / "lexicon.csv"
            return str(edited) if edited.exists() else demo_lexicon()
        return None


def bench_request(options: TuiOptions, part: str = "heldout") -> BenchRequest:
    """A request built as `workbench bench` builds it from its defaults (cli._bench_request)."""
    decoding = DecodingOptions(batch_size=options.batch_size, threads=options.threads)
    return BenchRequest(
        selection=DataSelection(options.dataset, None, part),
        model=options.model,
        backend=options.backend,
        decoding=decoding,
        workspace=options.workspace,
        limit=options.limit,
    )


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA —"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"ETA {seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"ETA {seconds // 60}m{seconds % 60:02d}s"
    return f"ETA {seconds}s"


class ProgressClock:
    """Rate and ETA of a `(stage, done, total)` stream; a new stage starts a new clock.

    `report(...)` says whether an update is worth sending (at most every `interval_s`,
    always on a new stage and at the end), so a fast stage does not flood the UI."""

    def __init__(self, interval_s: float = 0.1, clock=time.monotonic):
        self.interval_s, self.clock = interval_s, clock
        self.stage: str | None = None
        self._start_time = self._start_done = self._last = 0.0

    def report(self, stage: str, done: int, total: int) -> bool:
        now = self.clock()
        if stage != self.stage:
            self.stage, self._start_time, self._start_done, self._last = stage, now, done, now
            return True
        if done >= total or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False

    def eta(self, done: int, total: int) -> float | None:
        elapsed = self.clock() - self._start_time
        moved = done - self._start_done
        if moved <= 0 or elapsed <= 0 or total <= 0:
            return None
        return max(0.0, (total - done) * elapsed / moved)


_RUN_IN_MESSAGE = re.compile(r"\brun (\d{8}-\d{6}-[0-9a-f]+)\b")


def cancelled_run(workspace: str, message: str) -> tuple[str | None, int]:
    """(run id, utterances kept in the run store) after a cancelled job, from the engine's
    message ("run <id> cancelled; ..."), else the newest cancelled run."""
    if not Path(workspace, "runs.sqlite").exists():
        return None, 0
    with RunStore(workspace) as store:
        match = _RUN_IN_MESSAGE.search(message)
        run_id = match.group(1) if match else next((r.id for r in store.runs(20) if r.effective_status == "cancelled"), None)
        if run_id is None:
            return None, 0
        try:
            return run_id, len(store.hypotheses(run_id))
        except WorkbenchError:
            return run_id, 0
