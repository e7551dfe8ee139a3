"""The TUI's ladder status (`session.ladder_status`) on hand-built stored runs: a trained
rung counts through the run that scored its exported model, as `escalate` stores it, and
the forgetting guard judges it as `escalate` does."""

import pytest

from workbench import session
from workbench.escalation_config import EscalationConfig, Targets
from workbench.evaluation import EvaluationOptions, evaluate
from workbench.runstore import RunStore, StoredHypothesis
from workbench.service import finish_scored_run
from workbench.training_record import write_record

# (id, reference, baseline hypothesis, accent)
REFS = [
    ("u1", "Start metoprolol twice daily.", "Start metaprol twice daily.", "A"),
    ("u2", "Take amoxicillin with food.", "Take amoxicillin with food.", "A"),
    ("u3", "The weather is lovely today.", "The weather is lovely.", "B"),
    ("u4", "Continue warfarin at night.", "Continue war for in at night.", "B"),
]
LADDER = ("baseline", "lexicon", "lora", "full")


def add_run(store: RunStore, hypotheses: dict, model: str = "tiny.en", detected: dict | None = None, **config) -> str:
    """A succeeded held-out run as the bench stores one: hypotheses with their signals."""
    rows = [StoredHypothesis(i, ref, hypotheses[i], {"accent": acc, "language": "en"},
                             {"detected_language": (detected or {}).get(i, "en")}) for i, ref, _, acc in REFS]
    run_id = store.begin_run("bench", {"strategy": "baseline", "model": model, "part": "heldout", "slice_columns": ["accent"],
                                       "bootstrap": {"resamples": 200}, **config}, {}, "sha256:h", len(rows), "auto@1")
    store.add_hypotheses(run_id, rows)
    evaluation = evaluate(rows, {h.id: h.hypothesis for h in rows}, EvaluationOptions("auto", ("accent",)))
    finish_scored_run(store, run_id, evaluation, (), {}, {})
    return run_id


def trained_model(tmp_path, method: str = "lora") -> str:
    """An escalation output folder as training leaves it: ct2/, model/ and the record."""
    out = tmp_path / "escalation" / method
    (out / "ct2").mkdir(parents=True)
    (out / "model").mkdir()
    write_record(out, {"method": method, "ct2_dir": str(out / "ct2"), "model_dir": str(out / "model"),
                       "train_ids": ["t1"], "validation_ids": [], "heldout_id": "sha256:h", "heldout_overlap": 0})
    return str(out / "ct2")


def build(tmp_path, lora_detected: dict | None = None):
    """A baseline (29.4% WER), its lexicon run (23.5%), and a LoRA model's run (0%) plus the
    decode-parity run of the same model through transformers, stored the way escalate does."""
    ws = str(tmp_path / "ws")
    lexicon = tmp_path / "lexicon.csv"
    lexicon.write_text("term,language,category,misrecognitions\nmetoprolol,en,drug,\nwarfarin,en,drug,\namoxicillin,en,drug,\n")
    ct2 = trained_model(tmp_path)
    with RunStore(ws) as store:
        base = add_run(store, {i: hyp for i, _, hyp, _ in REFS})
    lexicon_run = session.derive_strategy_run(ws, base, "lexicon", str(lexicon))
    with RunStore(ws) as store:
        lora = add_run(store, {i: ref for i, ref, _, _ in REFS}, model=ct2, detected=lora_detected)
        add_run(store, {i: ref for i, ref, _, _ in REFS}, model=ct2.replace("/ct2", "/model"), backend="transformers")
    config = EscalationConfig(targets=Targets(max_wer=10.0), ladder=LADDER, lexicon=str(lexicon))
    return ws, config, base, lexicon_run, lora, ct2


@pytest.fixture
def ladder(tmp_path):
    return build(tmp_path)


def test_a_finished_lora_run_counts_on_the_ladder(ladder):
    ws, config, base, lexicon_run, lora, _ = ladder
    status = session.ladder_status(ws, config, gpu_available=False)
    assert [(rung, run, d.action) for rung, run, d in status] == [
        ("baseline", base, "next"), ("lexicon", lexicon_run, "next"), ("lora", lora, "stop"),
    ]
    assert status[1][2].next_rung == "lora" and status[-1][2].met  # not "needs_gpu: lora" any more


def test_a_trained_models_run_is_never_the_ladders_baseline(ladder):
    """It is the newest plain run, so the TUI may pin it as the baseline: the ladder still
    starts from the real one."""
    ws, config, base, lexicon_run, lora, _ = ladder
    status = session.ladder_status(ws, config, gpu_available=False, baseline=lora)
    assert [(rung, run) for rung, run, _ in status] == [("baseline", base), ("lexicon", lexicon_run), ("lora", lora)]


def test_a_trained_rung_the_guard_rejects_is_not_accepted(tmp_path):
    """Perfect WER, but it now detects German on English speech: rejected, and the ladder
    says what comes next (full fine-tuning, which needs a GPU) rather than stopping."""
    ws, config, base, lexicon_run, forgot, _ = build(tmp_path, lora_detected={"u1": "de", "u3": "de"})
    rung, run, decision = session.ladder_status(ws, config, gpu_available=False)[-1]
    assert (rung, run, decision.action, decision.next_rung) == ("lora", forgot, "needs_gpu", "full")
    (miss,) = decision.misses
    assert miss.target == "max_language_id_drop" and miss.describe() == (
        "forgetting guard: language ID (overall) fell 50.0 points, from 100.0% to 50.0% (0.0 allowed)")
    looser = EscalationConfig(targets=Targets(max_wer=10.0, max_language_id_drop=60.0), ladder=LADDER, lexicon=config.lexicon)
    assert session.ladder_status(ws, looser, gpu_available=False)[-1][2].action == "stop"


def test_a_full_fine_tuning_run_counts_after_a_rejected_lora(tmp_path):
    """The LoRA model forgot language ID; a full fine-tuning model trained on a GPU machine
    did not: the ladder goes on to it (stored, so no GPU is needed here) and stops there."""
    ws, config, base, lexicon_run, lora, _ = build(tmp_path, lora_detected={"u1": "de"})
    with RunStore(ws) as store:
        full = add_run(store, {i: ref for i, ref, _, _ in REFS}, model=trained_model(tmp_path / "f", "full"))
    status = session.ladder_status(ws, config, gpu_available=False)
    assert [(rung, run, d.action) for rung, run, d in status] == [
        ("baseline", base, "next"), ("lexicon", lexicon_run, "next"), ("lora", lora, "next"), ("full", full, "stop"),
    ]
