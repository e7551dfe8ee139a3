"""Escalation: the policy's decision for each stored rung and why, the targets (editable),
whether a GPU is here, and an escalate action whose training is charted live (loss and
validation WER)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Sparkline, Static

from .. import session
from ..errors import WorkbenchError
from ..escalation_config import EscalationConfig, Targets, load_config
from .jobs import bench_request
from .widgets import JobOutcome, Pane, wer_text

__all__ = ["EscalationPane", "targets_from"]

TARGET_FIELDS = (("max_wer", "max WER"), ("max_slice_wer", "max slice WER"), ("max_regression", "max rise"))


def targets_from(values: dict[str, str], base: Targets) -> Targets:
    """Targets from the inputs' text ("" = not checked); a ValueError quotes a bad value."""
    parsed = {}
    for name, _ in TARGET_FIELDS:
        text = values.get(name, "").strip()
        if not text:
            parsed[name] = None
            continue
        try:
            parsed[name] = float(text)
        except ValueError:
            raise ValueError(f"{name}: expected a number of percentage points, got {text!r}") from None
    return replace(base, **parsed)


@dataclass(frozen=True)
class LadderView:
    gpu: bool
    decisions: tuple  # (rung, run id, Decision)


class EscalationPane(Pane):
    TITLE = "Escalation"
    BINDINGS = [
        Binding("e", "escalate", "Escalate"),
        Binding("u", "update", "Update"),
        Binding("t", "targets", "Targets"),
    ]

    gpu: bool | None = None
    view: LadderView | None = None
    config_for_load: EscalationConfig | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.config: EscalationConfig = EscalationConfig()
        self.losses: list[float] = []
        self.wers: list[float] = []
        self.log_lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("checking for a GPU…", markup=False, id="esc-status", classes="caption")
        with Horizontal(id="targets"):
            for name, label in TARGET_FIELDS:
                yield Label(f"{label} ")
                yield Input("", placeholder="off", id=f"target-{name}", compact=True, classes="target")
            yield Label("pp, enter applies", classes="hint")
        with VerticalScroll(id="esc-scroll"):
            yield Static("", markup=False, id="esc-decisions")
        with Horizontal(classes="chart"):
            yield Label("loss      ", classes="chart-label")
            yield Sparkline([], id="loss-chart", summary_function=max)
            yield Label("", id="loss-last", classes="chart-value")
        with Horizontal(classes="chart"):
            yield Label("valid WER ", classes="chart-label")
            yield Sparkline([], id="wer-chart", summary_function=max)
            yield Label("", id="wer-last", classes="chart-value")

    def on_mount(self) -> None:
        options = self.wb.options
        try:
            self.config = load_config(options.config) if options.config else EscalationConfig()
        except (WorkbenchError, ValueError, OSError) as exc:  # say which file and field; keep the defaults
            self.notify(str(exc), severity="error", timeout=10)
        for name, _ in TARGET_FIELDS:
            value = getattr(self.config.targets, name)
            self.query_one(f"#target-{name}", Input).value = "" if value is None else f"{value:g}"
        self._draw_chart()

    def focus_main(self) -> None:
        self.query_one("#esc-scroll").focus()

    def current_config(self) -> EscalationConfig:
        values = {name: self.query_one(f"#target-{name}", Input).value for name, _ in TARGET_FIELDS}
        return replace(self.config, targets=targets_from(values, self.config.targets))

    def load(self) -> LadderView:
        from ..training import gpu_available

        gpu = gpu_available() if self.gpu is None else self.gpu
        config = self.config_for_load or self.config
        return LadderView(gpu, tuple(session.ladder_status(self.wb.options.workspace, config, gpu, self.wb.resolve_baseline())))

    def reload(self) -> None:
        try:
            self.config_for_load = self.current_config()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        super().reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.reload()
        self.focus_main()  # back to the decisions, where the screen's keys work

    def action_targets(self) -> None:
        self.query_one("#target-max_wer", Input).focus()

    def action_update(self) -> None:
        self.reload()

    def show(self, view: LadderView) -> None:
        self.view, self.gpu = view, view.gpu
        options = self.wb.options
        status = Text()
        status.append("GPU: ", style="bold")
        status.append("yes (CUDA)" if view.gpu else "none", style="green" if view.gpu else "yellow")
        if not view.gpu:
            status.append(" · training " + ("allowed on CPU (--allow-cpu, slow)" if options.allow_cpu else "needs a GPU or --allow-cpu"))
        status.append(" · ladder " + " → ".join(self.config.ladder), style="dim")
        self.query_one("#esc-status", Static).update(status)
        self._render_decisions()

    def _render_decisions(self) -> None:
        text = Text()
        if self.view is None or not self.view.decisions:
            text.append("No baseline run yet: nothing to decide. Run the baseline (Strategies, r) or escalate (e).\n")
        else:
            config = self.config_for_load or self.config
            if all(getattr(config.targets, n) is None for n, _ in TARGET_FIELDS):
                text.append("No target is set, so any rung meets them: set one above and press enter.\n\n", style="yellow")
            for rung, run_id, decision in self.view.decisions:
                style = "bold green" if decision.met else ("bold yellow" if decision.action == "next" else "bold red")
                text.append(f"{rung}", style=style)
                text.append(f"  run {run_id} · {decision.action}\n", style="dim")
                text.append(decision.explain() + "\n\n")
        if self.log_lines:
            text.append("escalation log\n", style="bold")
            text.append("\n".join(self.log_lines[-40:]) + "\n", style="")
        self.query_one("#esc-decisions", Static).update(text)

    # ------------------------------------------------------------------ escalating

    def action_escalate(self) -> None:
        try:
            config = self.current_config()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        from ..escalation import EscalationRequest, run_escalation

        options = self.wb.options
        lexicon = config.lexicon or options.lexicon_path
        config = replace(config, model=options.model, lexicon=lexicon)
        bench = bench_request(options)
        out = f"{options.workspace}/escalation"
        request = EscalationRequest(config, bench, out, allow_cpu=options.allow_cpu)
        self.losses.clear()
        self.wers.clear()
        self.log_lines.clear()
        self._draw_chart()
        app = self.wb

        def say(line: str) -> None:
            try:
                app.call_from_thread(self.add_log, line)
            except RuntimeError:
                pass

        def on_train_event(event) -> None:
            try:
                app.call_from_thread(self.add_train_event, event)
            except RuntimeError:
                pass

        def work(progress, cancel):
            escalation = run_escalation(request, progress, report=say, cancel=cancel, on_train_event=on_train_event)
            return escalation.final.explain(), escalation.command

        self.wb.start_job("escalating", work, self._escalated)

    def add_log(self, line: str) -> None:
        self.log_lines.extend(line.splitlines())
        self._render_decisions()
        self.query_one("#esc-scroll", VerticalScroll).scroll_end(animate=False)

    def add_train_event(self, event) -> None:
        """A TrainEvent from the training thread (handed over with call_from_thread)."""
        if event.loss is not None:
            self.losses.append(float(event.loss))
        if event.validation_wer is not None:
            self.wers.append(float(event.validation_wer))
        self._draw_chart()

    def _draw_chart(self) -> None:
        self.query_one("#loss-chart", Sparkline).data = list(self.losses)
        self.query_one("#wer-chart", Sparkline).data = list(self.wers)
        self.query_one("#loss-last", Label).update(f"{self.losses[-1]:.3f}" if self.losses else "—")
        self.query_one("#wer-last", Label).update(f"{wer_text(self.wers[-1])}%" if self.wers else "—")

    def _escalated(self, outcome: JobOutcome) -> None:
        if outcome.ok:
            explanation, command = outcome.result
            self.add_log(explanation + (f"\non a GPU machine run:\n  {command}" if command else ""))
            self.wb.job_bar.finish(explanation.splitlines()[0], "green")
        self.wb.runs_changed()
