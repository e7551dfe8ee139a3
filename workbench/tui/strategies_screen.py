"""Strategies: the leaderboard (strategies × slices, WER with 95% intervals), sortable by
any slice, and a strategy run with live progress that can be cancelled."""

from __future__ import annotations

import strategies
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from .. import api, session
from ..strategy_runs import ComparisonRequest
from .jobs import STRATEGY_CHOICES, bench_request
from .widgets import ChooseStrategy, JobOutcome, Pane, interval_text, wer_text

__all__ = ["StrategiesPane", "visible_slices"]


def visible_slices(board: session.Leaderboard) -> tuple[str, ...]:
    """The slices shown as columns: every one but single speakers (too many, too small)."""
    return tuple(s for s in board.slices if not s.startswith("speaker="))


class StrategiesPane(Pane):
    TITLE = "Strategies"
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("s", "sort", "Sort"),
        Binding("i", "inspect", "Inspect"),
    ]

    board: session.Leaderboard | None = None
    sort_key: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("loading the leaderboard…", markup=False, id="board-caption", classes="caption")
        yield DataTable(id="board", cursor_type="cell", zebra_stripes=True)

    def focus_main(self) -> None:
        self.query_one("#board", DataTable).focus()

    def load(self):
        return session.leaderboard(self.wb.options.workspace, self.wb.resolve_baseline())

    def show(self, board: session.Leaderboard) -> None:
        self.board = board
        if board.baseline is None:
            self.query_one("#board-caption", Static).update(
                "No baseline run in this workspace yet: press r to run one (the baseline decodes the held-out part).")
            self.query_one("#board", DataTable).clear(columns=True)
            return
        if self.sort_key not in board.slices:
            self.sort_key = None
        self._draw()

    def _draw(self) -> None:
        board = self.board
        table = self.query_one("#board", DataTable)
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        slices = visible_slices(board)
        table.add_column("run", key="run")
        for key in slices:
            arrow = " ▲" if key == self.sort_key else ""
            table.add_column(key + arrow, key=key)
        best = {}  # the lowest WER of a column, where the runs differ
        for key in slices:
            values = [c.wer for r in board.runs if (c := board.cells.get((r.id, key))) is not None and c.wer is not None]
            best[key] = min(values) if len(set(values)) > 1 else None
        runs = board.sorted_by(self.sort_key) if self.sort_key else board.runs
        for run in runs:
            base = run.id == board.baseline
            label = Text()
            label.append(run.label + (" (baseline)" if base else ""), style="bold" if base else "")
            label.append("\n" + run.id, style="dim")
            cells = [label]
            for key in slices:
                cell = board.cells.get((run.id, key))
                if cell is None or cell.wer is None:
                    cells.append(Text("—\n", style="dim"))
                    continue
                text = Text()
                text.append(wer_text(cell.wer), style="bold green" if cell.wer == best[key] else "")
                text.append("\n" + interval_text(cell.low, cell.high), style="dim")
                cells.append(text)
            table.add_row(*cells, key=run.id, height=2)
        order = f"sorted by {self.sort_key}, best first" if self.sort_key else "baseline first, then oldest first"
        self.query_one("#board-caption", Static).update(
            f"WER % [95% CI] per slice, {len(board.runs)} runs on the same held-out part; {order}.")
        if table.row_count:
            table.cursor_coordinate = table.validate_cursor_coordinate(cursor)

    # ------------------------------------------------------------------ sorting

    def _cursor_slice(self) -> str | None:
        table = self.query_one("#board", DataTable)
        if not table.columns:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).column_key.value
        return None if key == "run" else key

    def sort_by(self, key: str | None) -> None:
        if self.board is None or self.board.baseline is None:
            return
        self.sort_key = key
        self._draw()

    def action_sort(self) -> None:
        self.sort_by(self._cursor_slice())

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        self.sort_by(None if key == "run" else key)

    # ------------------------------------------------------------------ running

    def _cursor_run(self) -> str | None:
        table = self.query_one("#board", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_inspect(self) -> None:
        run = self._cursor_run()
        if run:
            self.wb.inspect_run(run)

    def action_run(self) -> None:
        if self.wb.job is not None:
            self.notify("a job is running: wait for it, or press c to cancel it", severity="warning")
            return
        self.wb.push_screen(ChooseStrategy(STRATEGY_CHOICES, self.wb.options.lexicon_path is not None),
                            lambda spec: spec and self.start_run(spec))

    def start_run(self, spec: str) -> None:
        options = self.wb.options
        lexicon = options.lexicon_path
        if strategies.needs_lexicon(spec) and lexicon is None:
            self.notify(f"{spec} needs a lexicon: start with --lexicon FILE", severity="error")
            return
        request = ComparisonRequest(bench_request(options), (spec,), lexicon)
        pinned = self.wb.baseline
        workspace = options.workspace

        def work(progress, cancel):
            comparison = api.compare_strategies(request=request, progress=progress, cancel=cancel).detail
            made = [(o.spec, o.result.run_id, o.result.evaluation.normalized.overall.wer) for o in comparison.outcomes]
            # The leaderboard stays on the baseline it shows, unless the new runs are on
            # another held-out part (another --limit or data): then it follows them.
            board = session.leaderboard(workspace, pinned) if pinned else None
            follow = board is None or not any(run_id in {r.id for r in board.runs} for _, run_id, _ in made)
            return made, (made[0][1] if follow else pinned)

        self.wb.start_job(f"running {spec} with {options.model}", work, self._finished)

    def _finished(self, outcome: JobOutcome) -> None:
        if not outcome.ok:
            return
        made, baseline = outcome.result
        self.wb.baseline = baseline
        figures = ", ".join(f"{spec} {wer_text(None if wer is None else 100 * wer)}%" for spec, _, wer in made)
        self.wb.job_bar.finish(f"finished: overall WER {figures} (run {made[-1][1]})", "green")
        self.wb.runs_changed()
