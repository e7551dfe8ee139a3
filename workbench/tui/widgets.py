"""Pieces every screen of the workbench shares: the pane base class (loads its data in a
thread worker), the job bar (progress, stage, ETA), the job messages, the help screen,
the two small forms, and the formatting of figures."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ..errors import WorkbenchError
from ..lexicon import MISRECOGNITION_SEPARATOR, Term

if TYPE_CHECKING:
    from .app import WorkbenchApp

__all__ = [
    "JobProgress",
    "JobFinished",
    "JobOutcome",
    "Pane",
    "JobBar",
    "HelpScreen",
    "ChooseStrategy",
    "TermForm",
    "short_path",
    "wer_text",
    "interval_text",
    "signed",
    "VERDICT_STYLES",
]

VERDICT_STYLES = {"improved": "bold green", "regressed": "bold red", "unchanged": "dim", "too few": "italic"}


def short_path(path: str | None) -> str:
    """A path relative to the working folder when it is inside it (shorter on screen)."""
    if not path:
        return ""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def wer_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}"


def interval_text(low: float | None, high: float | None, sign: bool = False) -> str:
    if low is None or high is None:
        return "—"
    fmt = signed if sign else wer_text
    return f"[{fmt(low)}, {fmt(high)}]"


# ----------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobOutcome:
    result: object = None
    error: str | None = None  # what went wrong, one line
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


class JobProgress(Message):
    """A long job moved: posted from its worker thread (post_message is thread-safe)."""

    def __init__(self, stage: str, done: int, total: int, eta: float | None) -> None:
        super().__init__()
        self.stage, self.done, self.total, self.eta = stage, done, total, eta


class JobFinished(Message):
    def __init__(self, outcome: JobOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class JobBar(Horizontal):
    """One line above the footer: the running job's stage, count, ETA and bar, or the
    outcome of the last one."""

    def compose(self) -> ComposeResult:
        yield Label("", id="job-text", markup=False)
        yield ProgressBar(total=None, show_eta=False, id="job-progress")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def start(self, title: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.say(f"{title}: starting…")

    def progress(self, stage: str, done: int, total: int, eta_text: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=max(total, 1), progress=done)
        self.say(f"{stage} {done}/{total} · {eta_text} · c cancels")

    def finish(self, text: str, style: str = "") -> None:
        self.query_one(ProgressBar).display = False
        self.say(text, style)

    def say(self, text: str, style: str = "") -> None:
        self.query_one("#job-text", Label).update(Text(text, style=style, no_wrap=True, overflow="ellipsis"))


# ----------------------------------------------------------------------------- panes


class Pane(Vertical):
    """One screen of the workbench. Its data is computed by `load()` in a thread worker
    (the session functions read the run store) and rendered by `show()`; a pane marked
    stale reloads the next time its tab is shown."""

    TITLE = ""
    stale = True

    @property
    def wb(self) -> WorkbenchApp:
        return self.app  # type: ignore[return-value]

    def activate(self) -> None:
        if self.stale:
            self.stale = False
            self.reload()
        self.call_after_refresh(self._take_focus)  # once the tab's content is displayed

    def _take_focus(self) -> None:
        # Only while this pane's tab is the one shown (focusing a widget in a hidden tab
        # would switch back to it), and not away from a widget of this pane the user is on.
        pane = self.parent
        switcher = pane.parent if pane is not None else None
        if switcher is None or getattr(switcher, "current", None) != pane.id:
            return
        focused = self.screen.focused
        if focused is not None and self in focused.ancestors:
            return
        self.focus_main()

    def focus_main(self) -> None:
        """Focus the pane's main widget, so that its keys show in the footer."""

    def reload(self) -> None:
        self._load_worker()

    def load(self):
        """Compute what the pane shows (runs in a thread; may raise WorkbenchError)."""
        return

    def show(self, data) -> None:
        """Render `data` (main thread)."""

    def show_error(self, message: str) -> None:
        self.notify(message, severity="error", timeout=8)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load_worker(self) -> None:
        try:
            data = self.load()
        except (WorkbenchError, ValueError, OSError) as exc:
            self.deliver(self.show_error, str(exc))
            return
        except Exception as exc:  # a bug: say so rather than fail silently in a thread
            self.deliver(self.show_error, f"{type(exc).__name__}: {exc}")
            raise
        self.deliver(self.show, data)

    def deliver(self, callback: Callable, *args) -> None:
        """Run `callback(*args)` on the UI thread, unless this worker was superseded."""
        if get_current_worker().is_cancelled:
            return
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:  # the app is closing
            pass


# ----------------------------------------------------------------------------- modals


class HelpScreen(ModalScreen[None]):
    """Every key of every screen, with what it does."""

    BINDINGS = [Binding("escape,question_mark,f1,q", "close", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        text = Text()
        for title, keys in self.sections:
            text.append(f"{title}\n", style="bold")
            for key, what in keys:
                text.append(f"  {key:<14}", style="bold cyan")
                text.append(f"{what}\n")
            text.append("\n")
        text.append("Ctrl+P opens the command palette: every screen and action by name.", style="dim")
        with Vertical(id="help-box"):
            yield Label("Keys  (escape closes)", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(text)

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ChooseStrategy(ModalScreen["str | None"]):
    """Pick the strategy to run."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, choices, has_lexicon: bool) -> None:
        super().__init__()
        self.choices, self.has_lexicon = choices, has_lexicon

    def compose(self) -> ComposeResult:
        options = [
            Option(Text.assemble((f"{spec:<16}", "bold"), (desc, "dim")), id=spec,
                   disabled=spec != "baseline" and not self.has_lexicon)
            for spec, desc in self.choices
        ]
        with Vertical(id="choose-box"):
            yield Label("Run a strategy (enter runs, escape closes)")
            yield OptionList(*options, id="choose-list")
            if not self.has_lexicon:
                yield Label("no lexicon: start with --lexicon FILE for the lexicon and prompt strategies", classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


class TermForm(ModalScreen["Term | None"]):
    """Add or edit one lexicon term and its misrecognitions."""

    BINDINGS = [Binding("escape", "close", "Cancel")]

    def __init__(self, term: Term | None = None) -> None:
        super().__init__()
        self.term = term

    def compose(self) -> ComposeResult:
        t = self.term or Term("")
        with Vertical(id="term-box"):
            yield Label("Edit term" if self.term else "Add a term", id="term-title")
            yield Label("term (as it should be written)")
            yield Input(t.text, id="term-text", compact=True)
            yield Label("language code (empty: every language)")
            yield Input(t.language or "", id="term-language", compact=True)
            yield Label("category")
            yield Input(t.category or "", id="term-category", compact=True)
            yield Label(f"misrecognitions, separated by {MISRECOGNITION_SEPARATOR}")
            yield Input(f" {MISRECOGNITION_SEPARATOR} ".join(t.misrecognitions), id="term-misrecognitions", compact=True)
            yield Label("", id="term-error", classes="error")
            with Horizontal(id="term-buttons"):
                yield Button("Save", variant="primary", id="term-save")
                yield Button("Cancel", id="term-cancel")

    def on_mount(self) -> None:
        self.query_one("#term-text", Input).focus()

    def _value(self, name: str) -> str:
        return self.query_one(f"#term-{name}", Input).value.strip()

    def submit(self) -> None:
        text = self._value("text")
        if not text:
            self.query_one("#term-error", Label).update("a term needs its text")
            return
        language = self._value("language").lower()
        if language and not re.fullmatch(r"[a-z]{2,3}", language):
            self.query_one("#term-error", Label).update(f"not a language code: {language!r} (e.g. en, de, es)")
            return
        heard = tuple(dict.fromkeys(" ".join(m.split()) for m in self._value("misrecognitions").split(MISRECOGNITION_SEPARATOR)
                                    if m.strip() and m.strip().lower() != text.lower()))
        self.dismiss(Term(" ".join(text.split()), language or None, self._value("category") or None, heard))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "term-save":
            self.submit()
        else:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
