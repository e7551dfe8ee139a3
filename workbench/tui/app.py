"""The Textual app: seven screens in tabs over one workspace, one long job at a time.

The app holds what the screens share: the options it was started with, the baseline the
leaderboard is pinned to, and the running job. A job is a function
`work(progress, cancel)` run in a THREAD worker: the engine reports through
`progress(stage, done, total)` (turned into `JobProgress` messages with an ETA) and stops
at its next check once `cancel` (a `threading.Event`) is set, keeping what finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.widgets import Footer, Header, TabbedContent, TabPane

from .. import session
from ..errors import CancelledError, WorkbenchError
from .data_screen import DataPane
from .escalation_screen import EscalationPane
from .inspector_screen import InspectorPane
from .jobs import STRATEGY_CHOICES, ProgressClock, TuiOptions, cancelled_run, format_eta
from .lexicon_screen import LexiconPane
from .report_screen import ReportPane
from .review_screen import ReviewInput, ReviewPane
from .strategies_screen import StrategiesPane
from .widgets import HelpScreen, JobBar, JobFinished, JobOutcome, JobProgress, Pane

__all__ = ["WorkbenchApp", "TABS", "run_tui"]

# (tab id, title, pane class), in the order of the number keys.
TABS = (
    ("data", "Data", DataPane),
    ("strategies", "Strategies", StrategiesPane),
    ("lexicon", "Lexicon", LexiconPane),
    ("escalation", "Escalation", EscalationPane),
    ("report", "Report", ReportPane),
    ("inspector", "Inspector", InspectorPane),
    ("review", "Review", ReviewPane),
)

_SCREENS = Binding.Group("Screens", compact=True)
_KEY_NAMES = {"question_mark": "?", "escape": "esc", "f1": "F1"}


@dataclass
class Job:
    title: str
    cancel: threading.Event
    on_done: Callable[[JobOutcome], None] | None
    started: float


class WorkbenchCommands(Provider):
    """The command palette's workbench entries: every screen and the main actions."""

    def _commands(self):
        app: WorkbenchApp = self.app  # type: ignore[assignment]
        for tab, title, _ in TABS:
            yield f"Go to {title}", f"show the {title} screen", partial(app.action_show_tab, tab)
        for spec, description in STRATEGY_CHOICES:
            yield f"Run strategy: {spec}", description, partial(app.action_run_strategy, spec)
        yield "Cancel the running job", "stop it; finished utterances are kept", app.action_cancel_job
        yield "Write the HTML regression report", "reports/regression-<baseline>.html", app.action_write_html
        yield "Save the lexicon", "write the edited lexicon (CSV, atomically)", partial(app.pane_action, "lexicon", "save")
        yield "Re-score the lexicon strategy now", "from the stored baseline, no decoding", partial(app.pane_action, "lexicon", "rescore")
        yield "Transcribe the train part", "a baseline run of the train part, for lexicon suggestions", partial(app.pane_action, "lexicon", "mine")
        yield "Escalate", "climb the ladder until the targets are met", partial(app.pane_action, "escalation", "escalate")
        yield "Save the review corrections", "the accepted corrections as a new stored run", partial(app.pane_action, "review", "save")
        yield "Play the clip under review", "through ffplay, afplay, paplay or aplay, when one is installed", partial(app.pane_action, "review", "play")
        yield "Pin the leaderboard to the latest baseline", "show the newest baseline and the runs after it", app.action_latest_baseline
        yield "Keys", "every key of every screen", app.action_help

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class WorkbenchApp(App):
    """whisper-workbench, interactive."""

    CSS_PATH = "app.tcss"
    TITLE = "whisper-workbench"
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [
        *(Binding(str(k + 1), f"show_tab('{tab}')", title, group=_SCREENS) for k, (tab, title, _) in enumerate(TABS)),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("c,escape", "cancel_job", "Cancel job", key_display="c"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, options: TuiOptions | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.options = options or TuiOptions()
        self.baseline: str | None = None  # the leaderboard's baseline; None until one is known
        self.job: Job | None = None
        self.last_outcome: JobOutcome | None = None
        self.last_progress: JobProgress | None = None
        self.sub_title = f"{self.options.workspace} · {self.options.model}"

    def compose(self) -> ComposeResult:
        yield Header(icon="≋")
        with TabbedContent(initial="strategies", id="tabs"):
            for k, (tab, title, pane) in enumerate(TABS):
                with TabPane(f"{k + 1} {title}", id=tab):
                    yield pane(id=f"pane-{tab}")
        yield JobBar(id="job-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.job_bar.say(f"workspace {self.options.workspace} · model {self.options.model} · ? for keys, ctrl+p for commands")
        self.call_after_refresh(self.pane("strategies").activate)

    # ------------------------------------------------------------------ shared state

    @property
    def job_bar(self) -> JobBar:
        return self.query_one(JobBar)

    def pane(self, tab: str) -> Pane:
        return self.query_one(f"#pane-{tab}", Pane)

    def resolve_baseline(self) -> str | None:
        """The pinned baseline, pinning the newest one when none is yet (any thread)."""
        if self.baseline is None:
            self.baseline = session.latest_baseline(self.options.workspace)
        return self.baseline

    def runs_changed(self) -> None:
        """New runs were stored: every pane reloads, the visible one now, others when shown."""
        active = self.query_one(TabbedContent).active
        for tab, _, _ in TABS:
            pane = self.pane(tab)
            pane.stale = True
            if tab == active:
                pane.activate()

    def inspect_run(self, run_id: str) -> None:
        inspector = self.pane("inspector")
        inspector.use_run(run_id)
        self.action_show_tab("inspector")

    # ------------------------------------------------------------------ tabs

    def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == tab:
            self.pane(tab).activate()
            return
        # Nothing in the tab being hidden may keep the focus: Textual would move it to a
        # sibling there, and a focused widget in a pane brings its tab back.
        self.screen.set_focus(None)
        tabs.active = tab  # TabActivated activates the pane

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane_id = event.pane.id if event.pane is not None else None
        if pane_id:
            self.pane(pane_id).activate()

    def pane_action(self, tab: str, action: str) -> None:
        self.action_show_tab(tab)
        getattr(self.pane(tab), f"action_{action}")()

    def action_run_strategy(self, spec: str) -> None:
        self.action_show_tab("strategies")
        if self.job is not None:
            self.notify("a job is running: wait for it, or press c to cancel it", severity="warning")
            return
        self.pane("strategies").start_run(spec)

    def action_write_html(self) -> None:
        self.action_show_tab("report")
        report = self.pane("report")
        if report.report is None:
            self.notify("the report is loading; press w once it shows", severity="warning")
            return
        report.action_write_html()

    def action_latest_baseline(self) -> None:
        self.baseline = None
        self.runs_changed()

    def action_help(self) -> None:
        sections = [("Everywhere", [(b.key_display or b.key, b.description) for b in self._help_bindings(self.BINDINGS)]
                     + [("ctrl+p", "command palette"), ("tab", "next widget"), ("ctrl+q", "quit")])]
        for tab, title, pane in TABS:
            keys = [(b.key_display or b.key, b.description) for b in self._help_bindings(pane.BINDINGS)]
            if tab == "lexicon":
                from .lexicon_screen import SuggestionsTable, TermsTable

                keys += [(f"{b.key} (terms)", b.description) for b in self._help_bindings(TermsTable.BINDINGS)]
                keys += [(f"{b.key} (suggestions)", b.description) for b in self._help_bindings(SuggestionsTable.BINDINGS)]
            if tab == "strategies":
                keys.append(("click header", "sort by that slice"))
            if tab == "inspector":
                keys.append(("up/down", "the next utterance"))
            if tab == "review":
                keys.append(("enter", "accept (in the queue or the text)"))
                keys += [(f"{b.key} (text)", b.description) for b in self._help_bindings(ReviewInput.BINDINGS)]
            sections.append((title, keys))
        self.push_screen(HelpScreen(sections))

    @staticmethod
    def _help_bindings(bindings):
        seen = {}
        for b in bindings:
            b = b if isinstance(b, Binding) else Binding(*b)
            keys = ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in b.key.split(","))
            seen.setdefault(b.action, Binding(keys, b.action, b.description, key_display=None))
        return list(seen.values())

    # ------------------------------------------------------------------ jobs

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            return self.job is not None  # shown in the footer only while a job runs
        # While a dialog is open its keys apply, not a tab switch under it.
        return not (action in ("show_tab", "quit") and len(self.screen_stack) > 1)

    def start_job(self, title: str, work: Callable, on_done: Callable[[JobOutcome], None] | None = None) -> bool:
        """Run `work(progress, cancel)` in a thread worker; `on_done(outcome)` on the UI thread."""
        if self.job is not None:
            self.notify(f"{self.job.title} is running: wait for it, or press c to cancel it", severity="warning")
            return False
        self.job = Job(title, threading.Event(), on_done, time.monotonic())
        self.job_bar.start(title)
        self.refresh_bindings()
        self.run_worker(partial(self._run_job, work, self.job.cancel), thread=True, group="job", exit_on_error=False,
                        name=title)
        return True

    def _run_job(self, work: Callable, cancel: threading.Event) -> None:
        clock = ProgressClock()

        def progress(stage: str, done: int, total: int) -> None:
            if clock.report(stage, done, total):
                self.post_message(JobProgress(stage, done, total, clock.eta(done, total)))

        try:
            outcome = JobOutcome(result=work(progress, cancel))
        except CancelledError as exc:
            if exc.run_id is not None and exc.kept is not None:  # the engine says which run keeps what
                run_id, kept = exc.run_id, exc.kept
            else:
                run_id, kept = cancelled_run(self.options.workspace, str(exc))
            where = f" (run {run_id}; run it again to resume)" if run_id else ""
            outcome = JobOutcome(error=f"cancelled: {kept} utterance{'s' if kept != 1 else ''} kept{where}", cancelled=True)
        except (WorkbenchError, ValueError, OSError) as exc:
            outcome = JobOutcome(error=str(exc))
        except Exception as exc:  # a bug: shown, not swallowed by the thread
            self.log.error(f"job failed: {exc!r}")
            outcome = JobOutcome(error=f"{type(exc).__name__}: {exc}")
        self.post_message(JobFinished(outcome))

    def on_job_progress(self, message: JobProgress) -> None:
        self.last_progress = message
        if self.job is not None and not self.job.cancel.is_set():
            self.job_bar.progress(message.stage, message.done, message.total, format_eta(message.eta))

    def on_job_finished(self, message: JobFinished) -> None:
        job, self.job = self.job, None
        self.last_outcome = outcome = message.outcome
        self.refresh_bindings()
        if outcome.cancelled:
            self.job_bar.finish(outcome.error, "yellow")
        elif outcome.error:
            self.job_bar.finish(f"{job.title if job else 'job'} failed: {outcome.error}", "red")
            self.notify(outcome.error, severity="error", timeout=10)
        else:
            self.job_bar.finish(f"{job.title if job else 'job'}: done in {time.monotonic() - job.started:.1f}s" if job else "done", "green")
        if job is not None and job.on_done is not None:
            job.on_done(outcome)
        if outcome.cancelled:
            self.runs_changed()

    def action_cancel_job(self) -> None:
        if self.job is None:
            return
        self.job.cancel.set()
        self.job_bar.say(f"cancelling {self.job.title}: finishing the current step, keeping what is done…", "yellow")

    async def action_quit(self) -> None:
        if self.job is not None:
            self.job.cancel.set()  # the worker thread stops at its next check; the app waits for it
        self.exit()

    def on_unmount(self) -> None:
        if self.job is not None:
            self.job.cancel.set()


def run_tui(options: TuiOptions) -> int:
    WorkbenchApp(options).run()
    return 0
