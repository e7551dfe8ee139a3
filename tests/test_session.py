"""The headless functions behind the interactive session, on hand-built stored runs."""

from pathlib import Path

import pytest

from workbench import session
from workbench.errors import BadInputError
from workbench.escalation_config import EscalationConfig, Targets
from workbench.evaluation import EvaluationOptions, evaluate
from workbench.lexicon import Lexicon, Term, load_lexicon
from workbench.runstore import RunStore, StoredHypothesis
from workbench.service import finish_scored_run

REFS = [
    ("u1", "Start metoprolol twice daily.", "Start metaprol twice daily.", "A"),
    ("u2", "Take amoxicillin with food.", "Take amoxicillin with food.", "A"),
    ("u3", "The weather is lovely today.", "The weather is lovely.", "B"),
    ("u4", "Continue warfarin at night.", "Continue war for in at night.", "B"),
]


def add_run(store: RunStore, rows, label="baseline", part="heldout", **config) -> str:
    hyps = [StoredHypothesis(i, ref, hyp, {"accent": acc, "language": "en"}, None) for i, ref, hyp, acc in rows]
    run_id = store.begin_run("bench", {"strategy": label, "model": "tiny.en", "part": part, "slice_columns": ["accent"],
                                       "bootstrap": {"resamples": 200}, **config}, {}, "sha256:h" if part == "heldout" else "sha256:t",
                             len(hyps), "auto@1")
    store.add_hypotheses(run_id, hyps)
    evaluation = evaluate(hyps, {h.id: h.hypothesis for h in hyps}, EvaluationOptions("auto", ("accent",)))
    finish_scored_run(store, run_id, evaluation, (), {}, {})
    return run_id


@pytest.fixture
def workspace(tmp_path):
    ws = str(tmp_path / "ws")
    with RunStore(ws) as store:
        train = add_run(store, [(f"t{i}", r, h, a) for i, (_, r, h, a) in enumerate(REFS)], part="train")
        base = add_run(store, REFS)
    lexicon = tmp_path / "lexicon.csv"
    lexicon.write_text("term,language,category,misrecognitions\nmetoprolol,en,drug,\nwarfarin,en,drug,\namoxicillin,en,drug,\n")
    return ws, base, train, str(lexicon)


def test_the_leaderboard_has_the_baseline_first_with_intervals(workspace):
    ws, base, _, lexicon = workspace
    derived = session.derive_strategy_run(ws, base, "lexicon", lexicon)
    board = session.leaderboard(ws)
    assert board.baseline == base and [r.id for r in board.runs] == [base, derived]
    assert board.slices == ("overall", "accent=A", "accent=B")
    cell = board.cells[(base, "overall")]
    assert cell.utterances == 4 and cell.low <= cell.wer <= cell.high
    # the lexicon fixed "metaprol": accent A is better, and sorting by it puts lexicon first
    assert board.cells[(derived, "accent=A")].wer < board.cells[(base, "accent=A")].wer
    assert [r.label for r in board.sorted_by("accent=A")] == ["lexicon", "tiny.en"]


def test_a_derived_run_rewrites_stored_transcripts_without_decoding(workspace):
    ws, base, _, lexicon = workspace
    derived = session.derive_strategy_run(ws, base, "lexicon", lexicon)
    with RunStore(ws) as store:
        record = store.run(derived)
        hyps = {h.id: h for h in store.hypotheses(derived)}
    assert record.status == "succeeded" and record.config["base_run"] == base and record.kind == "strategy"
    assert hyps["u1"].hypothesis == "Start metoprolol twice daily."
    assert hyps["u1"].extra["baseline_hypothesis"] == "Start metaprol twice daily." and hyps["u1"].extra["replacements"]
    with pytest.raises(BadInputError, match="decode-time"):
        session.derive_strategy_run(ws, base, "prompt", lexicon)


def test_an_utterance_is_shown_aligned_in_every_run(workspace):
    ws, base, _, lexicon = workspace
    derived = session.derive_strategy_run(ws, base, "lexicon", lexicon)
    worst = session.utterance_rows(ws, base)
    assert worst[0][0] == "u4" and worst[0][1] == 3  # "war for in" for "warfarin": 1 substitution, 2 insertions
    view = session.inspect_utterance(ws, [base, derived], "u1")
    assert view.normalized_reference == "start metoprolol twice daily"
    before, after = view.rows
    assert [(w.op, w.ref, w.hyp) for w in before.words if w.op != "equal"] == [("substitute", "metoprolol", "metaprol")]
    assert after.errors == 0 and after.replacements[0]["replacement"] == "metoprolol"
    deleted = session.inspect_utterance(ws, [base], "u3").rows[0].words
    assert ("delete", "today", "") in [(w.op, w.ref, w.hyp) for w in deleted]
    with pytest.raises(BadInputError):
        session.inspect_utterance(ws, [base], "nope")


def test_suggestions_come_from_the_train_part_only(workspace):
    ws, base, train, lexicon = workspace
    mined, suggested = session.lexicon_suggestions(ws, lexicon)
    assert mined["warfarin"] == ["war for in"] and mined["metoprolol"] == ["metaprol"]
    with pytest.raises(BadInputError, match="not of the train part"):
        session.lexicon_suggestions(ws, lexicon, train_run=base)


def test_a_lexicon_is_saved_as_the_csv_it_was_read_from(tmp_path):
    lexicon = Lexicon((Term("metoprolol", "en", "drug", ("meta pro law", "metaprol")), Term("Xarelto")), "t")
    path = tmp_path / "out.csv"
    session.save_lexicon_csv(lexicon, str(path))
    again = load_lexicon(path)
    assert again.terms == lexicon.terms and not again.problems


def test_the_ladder_stops_at_the_first_rung_that_meets_the_targets(workspace):
    ws, base, _, lexicon = workspace
    session.derive_strategy_run(ws, base, "lexicon", lexicon)
    config = EscalationConfig(targets=Targets(max_wer=25.0), lexicon=lexicon)  # baseline 29.4%, lexicon 23.5%
    status = session.ladder_status(ws, config, gpu_available=False)
    assert [(rung, d.action) for rung, _, d in status] == [("baseline", "next"), ("lexicon", "stop")]
    strict = EscalationConfig(targets=Targets(max_wer=0.1), ladder=("baseline", "lexicon", "lora"), lexicon=lexicon)
    rung, _, decision = session.ladder_status(ws, strict, gpu_available=False)[-1]
    assert rung == "lexicon" and decision.action == "needs_gpu" and "no GPU" in decision.explain()


def test_an_empty_workspace_has_nothing_to_show(tmp_path):
    assert session.list_runs(str(tmp_path / "none")) == []
    assert session.leaderboard(str(tmp_path / "none")).runs == ()


def test_rejected_suggestions_are_remembered_across_sessions(tmp_path):
    ws = str(tmp_path / "ws")
    assert session.rejected_suggestions(ws) == set()
    session.reject_suggestion(ws, "heard as:warfarin:war for in")
    session.reject_suggestion(ws, "missing:milligrams:milligrams")
    assert session.rejected_suggestions(ws) == {"heard as:warfarin:war for in", "missing:milligrams:milligrams"}
    Path(ws, session.REVIEW_FILE).write_text("[1, 2]")
    with pytest.raises(BadInputError, match="lexicon-review.json"):
        session.rejected_suggestions(ws)
