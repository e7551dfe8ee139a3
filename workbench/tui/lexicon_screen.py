"""Lexicon: the terms and their misrecognitions, editable; the suggestions mined from the
train part, to accept or reject; save; and re-score the lexicon strategy from the stored
baseline without decoding again."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from .. import api, session
from ..errors import BadInputError
from ..lexicon import MISRECOGNITION_SEPARATOR, Lexicon, Term, load_lexicon
from .jobs import bench_request
from .widgets import JobOutcome, Pane, TermForm, short_path, signed, wer_text

__all__ = ["LexiconPane", "Suggestion"]


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "heard as": a mined misrecognition of `term`; "missing": a word the lexicon lacks
    term: str
    text: str  # what the term was heard as, or the missing word
    count: int | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.term}:{self.text}"


@dataclass(frozen=True)
class LexiconData:
    lexicon: Lexicon
    suggestions: tuple[Suggestion, ...]
    note: str  # why there are no suggestions, when there are none


def load_suggestions(workspace: str, path: str) -> tuple[tuple[Suggestion, ...], str]:
    try:
        mined, missing = session.lexicon_suggestions(workspace, path)
    except BadInputError as exc:
        return (), f"{exc} — or press t here"
    found = [Suggestion("heard as", term, heard) for term, heards in mined.items() for heard in heards]
    found += [Suggestion("missing", word, word, count) for word, count in missing]
    rejected = session.rejected_suggestions(workspace)  # rejected in an earlier session: not offered again
    found = [s for s in found if s.key not in rejected]
    return tuple(found), "" if found else "nothing to suggest: the train run's mistakes are all known or rejected"


class TermsTable(DataTable):
    BINDINGS = [
        Binding("a", "add_term", "Add"),
        Binding("e", "edit_term", "Edit"),
        Binding("d", "delete_term", "Delete"),
    ]

    def action_add_term(self) -> None:
        self.parent_pane.add_term()

    def action_edit_term(self) -> None:
        self.parent_pane.edit_term()

    def action_delete_term(self) -> None:
        self.parent_pane.delete_term()

    @property
    def parent_pane(self) -> LexiconPane:
        return self.query_ancestor(LexiconPane)


class SuggestionsTable(DataTable):
    BINDINGS = [
        Binding("y", "accept", "Accept"),
        Binding("n", "reject", "Reject"),
    ]

    def action_accept(self) -> None:
        self.query_ancestor(LexiconPane).decide(True)

    def action_reject(self) -> None:
        self.query_ancestor(LexiconPane).decide(False)


class LexiconPane(Pane):
    TITLE = "Lexicon"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("r", "rescore", "Re-score"),
        Binding("t", "mine", "Mine"),
    ]

    lexicon: Lexicon | None = None
    suggestions: tuple[Suggestion, ...] = ()
    note = ""
    dirty = False
    rescored: tuple | None = None  # (run id, WER before, WER after) of the last re-score

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decided: dict[str, str] = {}  # suggestion key -> "accepted" | "rejected" (this session)

    def compose(self) -> ComposeResult:
        yield Static("loading the lexicon…", markup=False, id="lex-caption", classes="caption")
        yield TermsTable(id="terms", cursor_type="row", zebra_stripes=True)
        yield Static("", markup=False, id="sugg-caption", classes="caption")
        yield SuggestionsTable(id="suggestions", cursor_type="row", zebra_stripes=True)

    def focus_main(self) -> None:
        self.query_one("#terms", DataTable).focus()

    def load(self) -> LexiconData | None:
        options = self.wb.options
        path = options.lexicon_path
        if path is None:
            return None
        suggestions, note = load_suggestions(options.workspace, path)
        return LexiconData(load_lexicon(path), suggestions, note)

    def show(self, data: LexiconData | None) -> None:
        if data is None:
            self.query_one("#lex-caption", Static).update("No lexicon: start with --lexicon FILE (CSV or YAML).")
            return
        if not self.dirty:  # unsaved edits win over the file
            self.lexicon = data.lexicon
        self.suggestions = data.suggestions
        self.note = data.note
        self._render_terms()
        self._render_suggestions()

    # ------------------------------------------------------------------ rendering

    def _caption(self) -> None:
        options = self.wb.options
        lexicon = self.lexicon
        text = Text()
        text.append(f"{len(lexicon.terms)} terms", style="bold")
        text.append(f", {sum(len(t.misrecognitions) for t in lexicon.terms)} misrecognitions · {short_path(options.lexicon_path)}")
        if options.lexicon_save_path != options.lexicon_path:
            text.append(f" (saves to {short_path(options.lexicon_save_path)})", style="dim")
        if self.dirty:
            text.append("  UNSAVED (ctrl+s)", style="bold yellow")
        self.query_one("#lex-caption", Static).update(text)

    def _render_terms(self, select: str | None = None) -> None:
        table = self.query_one("#terms", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        for label in ("term", "lang", "category", "misrecognitions"):
            table.add_column(label, key=label)
        for k, t in enumerate(self.lexicon.terms):
            table.add_row(Text(t.text), Text(t.language or "any"), Text(t.category or ""),
                          Text(f" {MISRECOGNITION_SEPARATOR} ".join(t.misrecognitions)), key=str(k))
        if select is not None:
            row = next((k for k, t in enumerate(self.lexicon.terms) if t.text == select), row)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1), animate=False)
        self._caption()

    def _render_suggestions(self) -> None:
        table = self.query_one("#suggestions", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        for label in ("suggestion", "term", "heard as / count", "status"):
            table.add_column(label, key=label)
        for s in self.suggestions:
            status = self.decided.get(s.key, "")
            style = {"accepted": "green", "rejected": "dim strike"}.get(status, "")
            table.add_row(Text(s.kind, style=style), Text(s.term, style=style),
                          Text(s.text if s.kind == "heard as" else f"×{s.count}", style=style), Text(status), key=s.key)
        open_count = sum(1 for s in self.suggestions if s.key not in self.decided)
        caption = f"Suggestions from the train part: {open_count} open (y accepts, n rejects)" if self.suggestions else self.note
        self.query_one("#sugg-caption", Static).update(caption)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1), animate=False)

    # ------------------------------------------------------------------ editing

    def _current_term(self) -> tuple[int, Term] | None:
        table = self.query_one("#terms", DataTable)
        if self.lexicon is None or not table.row_count:
            return None
        index = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return index, self.lexicon.terms[index]

    def _set_terms(self, terms, select: str | None = None) -> None:
        self.lexicon = replace(self.lexicon, terms=tuple(terms))
        self.dirty = True
        self._render_terms(select)

    def add_term(self, term: Term | None = None) -> None:
        if self.lexicon is None:
            return

        def done(new: Term | None) -> None:
            if new is not None:
                self._set_terms(self.lexicon.terms + (new,), new.text)

        self.wb.push_screen(TermForm(term), done)

    def edit_term(self) -> None:
        current = self._current_term()
        if current is None:
            return
        index, term = current

        def done(new: Term | None) -> None:
            if new is not None:
                terms = list(self.lexicon.terms)
                terms[index] = new
                self._set_terms(terms, new.text)

        self.wb.push_screen(TermForm(term), done)

    def delete_term(self) -> None:
        current = self._current_term()
        if current is None:
            return
        index, term = current
        if len(self.lexicon.terms) == 1:
            self.notify("a lexicon needs at least one term", severity="warning")
            return
        self._set_terms(self.lexicon.terms[:index] + self.lexicon.terms[index + 1 :])
        self.notify(f"removed {term.text!r} (ctrl+s saves)")

    def decide(self, accept: bool) -> None:
        table = self.query_one("#suggestions", DataTable)
        if self.lexicon is None or not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        suggestion = next(s for s in self.suggestions if s.key == key)
        if suggestion.key in self.decided:
            self.notify(f"already {self.decided[suggestion.key]}", severity="warning")
            return
        self.decided[suggestion.key] = "accepted" if accept else "rejected"
        if not accept:
            session.reject_suggestion(self.wb.options.workspace, suggestion.key)
        if accept and suggestion.kind == "heard as":
            self.lexicon = self.lexicon.with_misrecognitions({suggestion.term: [suggestion.text]})
            self.dirty = True
            self._render_terms(suggestion.term)
        elif accept:
            self._set_terms(self.lexicon.terms + (Term(suggestion.text),), suggestion.text)
        self._render_suggestions()
        if table.cursor_row + 1 < table.row_count:
            table.move_cursor(row=table.cursor_row + 1, animate=False)

    # ------------------------------------------------------------------ jobs

    def action_save(self) -> None:
        if self.lexicon is None:
            return
        path = self.wb.options.lexicon_save_path
        session.save_lexicon_csv(self.lexicon, path)  # atomic, a few KB: quick enough for the UI thread
        self.dirty = False
        self._caption()
        self.wb.job_bar.finish(f"saved {len(self.lexicon.terms)} terms to {short_path(path)}", "green")

    def action_rescore(self) -> None:
        if self.lexicon is None:
            return
        if self.dirty:
            self.action_save()
        workspace, path = self.wb.options.workspace, self.wb.options.lexicon_path
        pinned = self.wb.baseline

        def work(progress, cancel):
            baseline = pinned or session.latest_baseline(workspace)
            if baseline is None:
                raise BadInputError("no baseline run to re-score: run the baseline first (Strategies, r)")
            run_id = session.derive_strategy_run(workspace, baseline, "lexicon", path, progress)
            board = session.leaderboard(workspace, baseline)
            before, after = board.cells.get((baseline, "overall")), board.cells.get((run_id, "overall"))
            return run_id, before.wer if before else None, after.wer if after else None

        self.wb.start_job("re-scoring the lexicon strategy", work, self._rescored)

    def _rescored(self, outcome: JobOutcome) -> None:
        if not outcome.ok:
            return
        run_id, before, after = outcome.result
        change = None if before is None or after is None else after - before
        self.rescored = outcome.result
        self.wb.job_bar.finish(f"re-scored: overall WER {wer_text(before)}% → {wer_text(after)}% ({signed(change)} pp "
                               f"vs the baseline); run {run_id}", "green")
        self.wb.runs_changed()

    def action_mine(self) -> None:
        options = self.wb.options
        request = bench_request(options, part="train")
        self.wb.start_job(f"transcribing the train part with {options.model}",
                          lambda progress, cancel: api.bench(request=request, progress=progress, cancel=cancel).run_id, self._mined)

    def _mined(self, outcome: JobOutcome) -> None:
        if outcome.ok:
            self.wb.job_bar.finish(f"train part transcribed (run {outcome.result}): suggestions updated", "green")
            self.wb.runs_changed()
