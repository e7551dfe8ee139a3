"""Utterance inspector: pick an utterance (worst first), see its reference against every
run's hypothesis, word-aligned and coloured, with the lexicon replacements made."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from .. import session
from .widgets import Pane

__all__ = ["InspectorPane", "render_utterance", "OP_STYLES"]

OP_STYLES = {
    "substitute": "bold yellow",  # the word heard instead (the reference word is shown struck out before it)
    "insert": "green",
    "delete": "red strike",
    "equal": "",
}


@dataclass(frozen=True)
class UtteranceList:
    run: session.RunSummary | None
    runs: tuple[str, ...]  # the runs shown side by side (the leaderboard's)
    rows: tuple[tuple[str, int, str], ...]  # (utterance id, errors, reference), worst first


def aligned_text(words) -> Text:
    """The hypothesis as aligned with the reference: deleted words struck out in red,
    substituted ones as ~~reference~~ heard-word, inserted ones in green with a +."""
    text = Text()
    for k, w in enumerate(words):
        if k:
            text.append(" ")
        if w.op == "equal":
            text.append(w.hyp)
        elif w.op == "substitute":
            text.append(w.ref, style="red strike")
            text.append("→", style="dim")
            text.append(w.hyp, style=OP_STYLES["substitute"])
        elif w.op == "delete":
            text.append(w.ref, style=OP_STYLES["delete"])
        else:
            text.append("+" + w.hyp, style=OP_STYLES["insert"])
    return text


def legend() -> Text:
    text = Text()  # (a style given to Text() itself would cover every part appended)
    text.append("ref", style="red strike")
    text.append("→", style="dim")
    text.append("heard", style=OP_STYLES["substitute"])
    text.append(" substituted\n")
    text.append("+word", style=OP_STYLES["insert"])
    text.append(" inserted, ")
    text.append("word", style=OP_STYLES["delete"])
    text.append(" deleted")
    return text


def render_utterance(view: session.UtteranceView) -> Text:
    text = Text()
    text.append(view.id, style="bold")
    slices = " ".join(f"{k}={v}" for k, v in sorted(view.slices.items()) if k in ("accent", "language", "domain", "condition"))
    text.append(f"  {slices}\n", style="dim")
    text.append("REF ", style="bold cyan")
    text.append(view.reference + "\n")
    text.append("    " + view.normalized_reference + "\n", style="dim")
    for row in view.rows:
        text.append(f"\n{row.label}", style="bold")
        text.append(f"  {row.errors} error{'s' if row.errors != 1 else ''} · run {row.run_id}\n", style="dim")
        text.append_text(aligned_text(row.words))
        text.append("\nhyp: ", style="dim")
        text.append(row.hypothesis or "(nothing)", style="italic" if not row.hypothesis else "")
        text.append("\n")
        for r in row.replacements:
            text.append("lexicon: ", style="magenta")
            text.append(f"{r.get('original', '?')!s} → {r.get('replacement', '?')!s}", style="bold")
            score = r.get("score")
            score_text = f"{score:.0f}" if isinstance(score, (int, float)) else "?"
            text.append(f"  (score {score_text}, {r.get('method', '?')})\n", style="dim")
    return text


class InspectorPane(Pane):
    TITLE = "Inspector"
    BINDINGS = [Binding("r", "reload", "Reload")]

    listing: UtteranceList | None = None
    run_id: str | None = None  # the run whose utterances are listed (None: the baseline)
    view_shown: session.UtteranceView | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="utt-side"):
                yield Static("", markup=False, id="utt-caption", classes="caption")
                yield DataTable(id="utterances", cursor_type="row", zebra_stripes=True)
                yield Static(legend(), id="utt-legend", classes="caption")
            with VerticalScroll(id="utt-scroll"):
                yield Static("loading…", markup=False, id="utt-view")

    def focus_main(self) -> None:
        self.query_one("#utterances", DataTable).focus()

    def action_reload(self) -> None:
        self.reload()

    def use_run(self, run_id: str) -> None:
        self.run_id = run_id
        self.stale = True

    def load(self) -> UtteranceList:
        workspace = self.wb.options.workspace
        board = session.leaderboard(workspace, self.wb.resolve_baseline())
        if board.baseline is None:
            return UtteranceList(None, (), ())
        run_id = self.run_id if self.run_id in {r.id for r in board.runs} else board.baseline
        run = next(r for r in board.runs if r.id == run_id)
        return UtteranceList(run, tuple(r.id for r in board.runs), tuple(session.utterance_rows(workspace, run_id)))

    def show(self, listing: UtteranceList) -> None:
        self.listing = listing
        table = self.query_one("#utterances", DataTable)
        table.clear(columns=True)
        caption = self.query_one("#utt-caption", Static)
        if listing.run is None:
            caption.update("No runs yet.")
            self.query_one("#utt-view", Static).update("Run the baseline first (Strategies, r).")
            return
        caption.update(Text.assemble("worst first in ", (listing.run.label, "bold")))
        table.add_column("utterance", key="id")
        table.add_column(Text("err", justify="right"), key="errors")
        for utt_id, errors, _ in listing.rows:
            table.add_row(Text(utt_id), Text(str(errors), justify="right", style="red" if errors else "green"), key=utt_id)
        if listing.rows:
            self.show_utterance(listing.rows[0][0])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value:
            self.show_utterance(event.row_key.value)

    def show_utterance(self, utterance_id: str) -> None:
        if self.listing is not None and self.listing.runs:
            self._inspect(utterance_id, self.listing.runs)

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def _inspect(self, utterance_id: str, runs: tuple[str, ...]) -> None:
        try:
            view = session.inspect_utterance(self.wb.options.workspace, list(runs), utterance_id)
        except Exception as exc:
            self.deliver(self.show_error, f"{type(exc).__name__}: {exc}")
            return
        self.deliver(self._show_view, view)

    def _show_view(self, view: session.UtteranceView) -> None:
        self.view_shown = view
        self.query_one("#utt-view", Static).update(render_utterance(view))
        self.query_one("#utt-scroll", VerticalScroll).scroll_home(animate=False)
