"""Data: the dataset's slices (utterances, hours, speakers), its held-out split and the
problems found while loading it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..dataset import SliceSummary, summarize
from ..service import InspectResult, inspect_data
from .widgets import Pane, short_path

__all__ = ["DataPane"]


@dataclass(frozen=True)
class DataView:
    result: InspectResult
    rows: tuple[SliceSummary, ...]


class DataPane(Pane):
    TITLE = "Data"
    BINDINGS = [Binding("r", "reload", "Reload")]

    def compose(self) -> ComposeResult:
        yield Static("loading the dataset…", markup=False, id="data-caption", classes="caption")
        yield DataTable(id="slices", cursor_type="row", zebra_stripes=True)
        yield Static("", markup=False, id="data-problems")

    def focus_main(self) -> None:
        self.query_one("#slices", DataTable).focus()

    def action_reload(self) -> None:
        self.reload()

    def load(self) -> DataView:
        result = inspect_data(self.wb.options.dataset)
        return DataView(result, tuple(summarize(result.dataset.utterances, result.slice_columns)))

    def show(self, view: DataView) -> None:
        ds, split = view.result.dataset, view.result.split
        caption = Text()
        caption.append(short_path(ds.source), style="bold")
        caption.append(f": {ds.rows_read} rows, {len(ds.utterances)} valid, {ds.excluded} excluded\n")
        caption.append("held-out split: ", style="bold")
        caption.append(f"{len(split.train)} train, {len(split.heldout)} held out ({split.method}); id {split.heldout_id[:23]}…")
        if self.wb.options.is_demo:
            caption.append("\nSYNTHETIC speech (text-to-speech), not recordings of people.", style="italic")
        self.query_one("#data-caption", Static).update(caption)

        table = self.query_one("#slices", DataTable)
        table.clear(columns=True)
        table.add_column("slice", key="slice")
        table.add_column(Text("utts", justify="right"), key="utts")
        table.add_column(Text("hours", justify="right"), key="hours")
        table.add_column(Text("speakers", justify="right"), key="speakers")
        for r in view.rows:
            label = "overall" if r.column == "overall" else f"{r.column}={r.value or '(empty)'}"
            table.add_row(Text(label, style="bold" if r.column == "overall" else ""),
                          Text(str(r.utterances), justify="right"), Text(f"{r.hours:.3f}", justify="right"),
                          Text("—" if r.speakers is None else str(r.speakers), justify="right"), key=label)

        problems = Text()
        counts = ds.problem_counts()
        if not ds.problems:
            problems.append("No problems found while loading.", style="green")
        else:
            problems.append(f"{len(ds.problems)} problems: ", style="bold yellow")
            problems.append(", ".join(f"{reason} ×{n}" for reason, n in counts.most_common()))
            for p in ds.problems[:3]:
                problems.append(f"\n  {p}", style="dim")
            if len(ds.problems) > 3:
                problems.append(f"\n  … and {len(ds.problems) - 3} more (workbench data inspect --json)", style="dim")
        for note in split.notes:
            problems.append(f"\nnote: {note}", style="dim")
        self.query_one("#data-problems", Static).update(problems)
