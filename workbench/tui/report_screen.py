"""Report: the regression report of every strategy on the leaderboard against its
baseline, per slice, with the paired 95% interval of the change and a coloured verdict;
one key writes the self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from .. import api, session
from ..atomic import write_text_atomic
from .widgets import (
    VERDICT_STYLES,
    JobOutcome,
    Pane,
    interval_text,
    short_path,
    signed,
    wer_text,
)

__all__ = ["ReportPane", "report_for", "write_html_report"]


def report_for(workspace: str, baseline: str | None) -> dict | None:
    """The regression report of the leaderboard's runs against its baseline (None: nothing
    to compare yet)."""
    board = session.leaderboard(workspace, baseline)
    candidates = [r.id for r in board.runs if r.id != board.baseline]
    if board.baseline is None or not candidates:
        return None
    return api.compare(board.baseline, candidates, workspace=workspace).report


def write_html_report(workspace: str, report: dict) -> str:
    from ..reports_html import render_html

    path = Path(workspace) / "reports" / f"regression-{report['baseline']['id']}.html"
    write_text_atomic(path, render_html(report))
    return str(path)


class ReportPane(Pane):
    TITLE = "Report"
    BINDINGS = [
        Binding("w", "write_html", "Write HTML"),
        Binding("r", "reload", "Refresh"),
    ]

    report: dict | None = None
    html_path: str | None = None  # the HTML report last written

    def on_mount(self) -> None:
        self.query_one("#report-status").display = False

    def compose(self) -> ComposeResult:
        yield Static("loading the report…", markup=False, id="report-caption", classes="caption")
        yield DataTable(id="report-table", cursor_type="row", zebra_stripes=True)
        yield Static("", markup=False, id="report-status")

    def focus_main(self) -> None:
        self.query_one("#report-table", DataTable).focus()

    def action_reload(self) -> None:
        self.reload()

    def load(self):
        return report_for(self.wb.options.workspace, self.wb.resolve_baseline())

    def show(self, report: dict | None) -> None:
        self.report = report
        table = self.query_one("#report-table", DataTable)
        table.clear(columns=True)
        caption = self.query_one("#report-caption", Static)
        if report is None:
            caption.update("Nothing to compare yet: run a strategy after the baseline (Strategies, r).")
            return
        base = report["baseline"]
        regressed = any(c["regressions"] for c in report["comparisons"])
        text = Text()
        text.append(f"vs baseline {base['label']} ({base['id']}), {report['speech_utterances']} speech clips; ")
        text.append(f"paired {100 * report['confidence']:.0f}% bootstrap, tolerance {report['tolerance_pp']:g} pp. ")
        text.append("REGRESSED" if regressed else "no regression", style="bold red" if regressed else "bold green")
        caption.update(text)
        for label, key in (("strategy", "run"), ("slice", "slice"), ("verdict", "verdict"), ("change", "change"),
                           ("95% CI", "ci"), ("base", "base"), ("WER", "wer"), ("utts", "utts")):
            table.add_column(Text(label, justify="right") if key in ("utts", "base", "wer", "change") else label, key=key)
        labels = [c["run"]["label"] for c in report["comparisons"]]
        for comparison in report["comparisons"]:
            run = comparison["run"]
            # two runs of one strategy: the end of the run id tells them apart
            name = run["label"] if labels.count(run["label"]) == 1 else f"{run['label']} …{run['id'][-4:]}"
            for s in comparison["slices"]:
                if s["column"] == "speaker":
                    continue
                slice_name = "overall" if s["column"] == "overall" else f"{s['column']}={s['value']}"
                prefix = "" if s["primary"] == "wer" else "cer_"
                style = VERDICT_STYLES.get(s["verdict"], "")
                table.add_row(
                    Text(name), Text(slice_name),
                    Text(s["verdict"] + (" (within tolerance)" if s.get("within_tolerance") else ""), style=style),
                    Text(signed(s[f"{prefix}change"]), justify="right"),
                    Text(interval_text(s[f"{prefix}change_low"], s[f"{prefix}change_high"], sign=True)),
                    Text(wer_text(s["baseline_wer"]), justify="right"), Text(wer_text(s["wer"]), justify="right"),
                    Text(str(s["utterances"]), justify="right"),
                    key=f"{run['id']}:{slice_name}",
                )

    def action_write_html(self) -> None:
        if self.report is None:
            self.notify("no report to write yet", severity="warning")
            return
        report, workspace = self.report, self.wb.options.workspace
        self.wb.start_job("writing the HTML report", lambda progress, cancel: write_html_report(workspace, report), self._written)

    def _written(self, outcome: JobOutcome) -> None:
        if outcome.ok:
            status = self.query_one("#report-status", Static)
            status.update(Text(f"HTML report: {short_path(outcome.result)}", style="green"))
            status.display = True
            self.html_path = outcome.result
            self.wb.job_bar.finish(f"wrote {short_path(outcome.result)}", "green")
