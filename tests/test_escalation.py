"""`workbench escalate`: the ladder end to end through the CLI, on real tiny.en runs.

Three paths: a target the baseline already meets (stop, exit 0); a target it misses on a
machine without a GPU (the decision, a hand-off config that loads back, exit 5); and
with --allow-cpu, a real LoRA rung trained, exported, scored on the held-out part and
judged (exit 3: a 0.1% WER target is out of reach).
"""

import csv
import json
from pathlib import Path

import pytest
import torch

from workbench.bench import demo_manifest
from workbench.cli import main
from workbench.escalation_config import Targets, load_config
from workbench.exit_codes import ExitCode
from workbench.policy import Miss, RungScores, SliceFigure, decide

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")


def small_manifest(tmp_path: Path, train: int = 8, heldout: int = 3) -> Path:
    """English demo clips with the demo's own split column, audio paths made absolute."""
    source = Path(demo_manifest())
    with open(source, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["language"] == "en" and r["no_speech"] != "yes"]
    chosen = [r for r in rows if r["split"] == "train"][:train] + [r for r in rows if r["split"] == "heldout"][:heldout]
    out = tmp_path / "small.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(chosen[0]))
        writer.writeheader()
        for r in chosen:
            writer.writerow({**r, "audios": str((source.parent / r["audios"]).resolve())})
    return out


def escalate(tmp_path, *extra) -> tuple[int, dict]:
    out = tmp_path / "esc"
    code = main(["escalate", "--model", "tiny.en", "--workspace", str(tmp_path / "ws"), "--out", str(out), *extra])
    return code, json.loads((out / "escalation.json").read_text())


def test_a_met_target_stops_at_the_baseline(tmp_path, capsys):
    code, report = escalate(tmp_path, "--data", str(small_manifest(tmp_path)), "--max-wer", "100")
    assert code == ExitCode.OK
    assert [r["rung"] for r in report["rungs"]] == ["baseline"]
    assert report["final"]["action"] == "stop" and report["final"]["met"]
    assert "baseline meets every target" in capsys.readouterr().out.lower()


@no_gpu
def test_without_a_gpu_it_explains_writes_the_training_config_and_exits_5(tmp_path, capsys):
    manifest = small_manifest(tmp_path)
    code, report = escalate(tmp_path, "--data", str(manifest), "--max-wer", "0.1", "--max-regression", "3")
    assert code == ExitCode.NEEDS_GPU
    printed = capsys.readouterr().out
    assert "LoRA needed: overall at" in printed and "misses the 0.1% target" in printed and "no GPU here" in printed
    assert report["final"]["action"] == "needs_gpu" and report["final"]["next_rung"] == "lora"
    handoff = load_config(report["training_config"])  # ready to run: it loads back
    assert handoff.targets.max_wer == 0.1 and handoff.targets.max_regression == 3.0 and handoff.model == "tiny.en"
    assert handoff.data == str(manifest.resolve())
    assert report["command"].startswith("workbench escalate --config ") and "--device cuda" in report["command"]
    assert report["skipped"] and "no lexicon" in report["skipped"][0]


def test_a_ladder_whose_only_target_meeting_rung_the_guard_rejected_does_not_exit_0():
    """baseline misses, LoRA meets the WER target but forgot language ID, full misses: the
    ladder is exhausted on a rung the guard passed, and the CLI exits 4 (a regression)."""
    from workbench.cli import _escalation_exit
    from workbench.escalation import Escalation, RungOutcome

    targets, ladder = Targets(max_wer=15.0), ("baseline", "lora", "full")
    finding = Miss("max_language_id_drop", "overall", 12.5, 0.0, "from 100.0% to 87.5%")
    rungs = [
        RungScores("baseline", (SliceFigure("overall", 10, 20.0, None),)),
        RungScores("lora", (SliceFigure("overall", 10, 10.0, 20.0, -12.0, -8.0),), (finding,)),
        RungScores("full", (SliceFigure("overall", 10, 16.0, 20.0, -5.0, -3.0),)),
    ]
    outcomes = []
    for k, scores in enumerate(rungs):  # as run_escalation climbs: each rung judged with the ones before
        decision = decide(scores, ladder, targets, gpu_available=True, earlier=tuple(rungs[:k]))
        outcomes.append(RungOutcome(scores.rung, f"run{k}", scores, decision, tuple(m.describe() for m in scores.guard)))
    assert [o.decision.action for o in outcomes] == ["next", "next", "exhausted"]
    final = outcomes[-1].decision
    assert (final.rung, final.met) == ("full", False)
    assert _escalation_exit(Escalation(tuple(outcomes), final)) == ExitCode.THRESHOLD_MISSED
    # the guard-rejected rung last: exhausted on the best rung the guard passed, exit 4
    last = decide(rungs[1], ("baseline", "lora"), targets, gpu_available=True, earlier=(rungs[0],))
    assert (last.action, last.rung) == ("exhausted", "baseline")
    rejected = RungOutcome("lora", "run1", rungs[1], last, (finding.describe(),))
    assert _escalation_exit(Escalation((outcomes[0], rejected), last)) == ExitCode.REGRESSION


def test_the_ladder_trains_only_on_utterances_outside_the_heldout_part(tmp_path):
    """What a training rung would learn from, without training: the train part, disjoint by id
    from the held-out part, also when a separate test manifest repeats some of its ids."""
    from workbench.bench import BenchRequest
    from workbench.escalation import training_data
    from workbench.service import DataSelection, select_data
    from workbench.training_record import leakage_overlap

    manifest = small_manifest(tmp_path, train=6, heldout=3)
    selection = DataSelection(data=str(manifest), part="heldout")
    train, heldout_id, heldout_ids = training_data(BenchRequest(selection))
    scored = select_data(selection)
    assert [u.id for u in train] == [u.id for u in scored.split.train] and len(train) == 6
    assert heldout_id == scored.split.heldout_id and sorted(heldout_ids) == sorted(u.id for u in scored.utterances)
    assert leakage_overlap({"train_ids": [u.id for u in train]}, heldout_ids) == 0
    # a test manifest holding two of the train ids: they are held out, never trained on
    rows = manifest.read_text().splitlines()
    test = tmp_path / "test.csv"
    test.write_text("\n".join(rows[:1] + rows[1:3]) + "\n")
    train, _, heldout_ids = training_data(BenchRequest(DataSelection(data=str(manifest), test=str(test), part="heldout")))
    assert len(heldout_ids) == 2 and len(train) == 7  # 9 rows, 2 of them now held out
    assert leakage_overlap({"train_ids": [u.id for u in train]}, heldout_ids) == 0


def test_with_allow_cpu_a_lora_rung_is_trained_scored_and_judged(tmp_path):
    manifest = small_manifest(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text(
        'ladder = ["baseline", "lora"]\n'
        "[targets]\nmax_wer = 0.1\nmin_slice_utterances = 1\n"
        "[training]\nmax_steps = 2\nbatch_size = 2\ngrad_accum = 1\neval_steps = 2\nvalidation_fraction = 0.25\n"
        "gradient_checkpointing = false\ngeneration_max_length = 64\n"
        "[training.augment]\nnoise_prob = 0.0\ngain_prob = 0.0\n"
    )
    code, report = escalate(tmp_path, "--data", str(manifest), "--config", str(config), "--allow-cpu")
    baseline, lora = report["rungs"]
    # a rung the guard or deployment parity rejected exits 4 (a regression), else 3
    assert code == (ExitCode.REGRESSION if lora["guard"] else ExitCode.THRESHOLD_MISSED)
    assert baseline["rung"] == "baseline" and baseline["action"] == "next"
    assert lora["rung"] == "lora" and lora["train"]["steps"] == 2 and lora["train"]["device"] == "cpu"
    # the leakage record: trained on the 8 train clips, none of the 3 held out
    assert lora["train"]["heldout_overlap"] == 0 and lora["train"]["heldout_id"].startswith("sha256:")
    assert len(lora["train"]["train_ids"]) + len(lora["train"]["validation_ids"]) == 8
    assert Path(lora["train"]["record"]).is_file()
    assert lora["run"] != baseline["run"]
    # scored on the same held-out utterances as the baseline, with the paired change per slice
    overall = next(s for s in lora["slices"] if s["key"] == "overall")
    assert overall["utterances"] == 3 and overall["baseline_wer"] is not None and overall["change_low"] is not None
    assert report["final"]["action"] == "exhausted" and not report["final"]["met"]
    assert Path(lora["train"]["ct2_dir"], "model.bin").is_file()
    # decode parity: the tuned transformers model and its CTranslate2 export on the same clips
    parity = lora["parity"]
    assert parity["ct2_run"] == lora["run"] and parity["transformers_run"] not in (lora["run"], baseline["run"])
    assert parity["ct2_wer"] == pytest.approx(overall["wer"])
    from workbench.normalizers import get_normalizer
    from workbench.runstore import RunStore
    from workbench.scoring import scorecard_from_dict

    with RunStore(str(tmp_path / "ws")) as store:
        hf_run = store.run(parity["transformers_run"])
        # the other side of the comparison is the trained model itself, decoded by transformers
        assert hf_run.config["backend"] == "transformers" and hf_run.config["model"] == lora["train"]["model_dir"]
        assert store.run(lora["run"]).config["model"] == lora["train"]["ct2_dir"]
        normalize = get_normalizer(hf_run.normalizer)
        ct2 = {h.id: normalize(h.hypothesis, h.language) for h in store.hypotheses(lora["run"])}
        hf = {h.id: normalize(h.hypothesis, h.language) for h in store.hypotheses(hf_run.id)}
        stored_wer = scorecard_from_dict(store.scores(hf_run.id)[hf_run.normalizer]).overall.wer
    assert ct2.keys() == hf.keys() and parity["utterances"] == len(ct2) == 3
    assert parity["identical"] == sum(ct2[i] == hf[i] for i in ct2)  # counted on the stored transcripts
    assert parity["transformers_wer"] == pytest.approx(100.0 * stored_wer)
    check_deployment_parity_and_cards(tmp_path, report, lora)


def check_deployment_parity_and_cards(tmp_path, report, lora):
    """The LoRA rung's shipped forms against the model as trained (the adapter, unmerged),
    each a stored run; and the cards rewritten with the held-out figures, read back."""
    from workbench import __version__
    from workbench.model_card import card_metadata
    from workbench.models import ModelError, resolve_model
    from workbench.runstore import RunStore
    from workbench.scoring import scorecard_from_dict

    parity, out = lora["parity"], Path(lora["train"]["model_dir"]).parent
    assert parity["reference"]["model"] == str(out / "adapter") and parity["reference"]["backend"] == "transformers"
    forms = {f["form"]: f for f in parity["forms"]}
    assert list(forms) == ["merged", "ct2-float16", "ct2-int8"]
    assert parity["transformers_run"] == forms["merged"]["run_id"]
    with RunStore(str(tmp_path / "ws")) as store:
        reference = store.run(parity["reference_run"])
        # the adapter decoded on its base model: the model as trained, unmerged
        assert reference.config["model"] == str(out / "adapter") and reference.config["backend"] == "transformers"
        assert reference.config["decoding"]["model"]["sha256"] != store.run(forms["merged"]["run_id"]).config["decoding"]["model"]["sha256"]
        for name, form in forms.items():
            run = store.run(form["run_id"])
            assert run.config["model"] == (str(out / "model") if name == "merged" else str(out / name))
            assert run.heldout_id == reference.heldout_id and form["transcripts"] == 3
        card = scorecard_from_dict(store.scores(lora["run"])[store.run(lora["run"]).normalizer])
    # merging is exact up to float rounding: the same transcripts as the adapter unmerged
    merged_overall = next(f for f in forms["merged"]["slices"] if f["key"] == "overall")
    assert forms["merged"]["identical"] == 3 and merged_overall["change_low"] == merged_overall["change_high"] == 0.0
    assert forms["ct2-float16"]["compute_type"] == "float32" and forms["ct2-int8"]["compute_type"].startswith("int8")
    with pytest.raises(ModelError, match="decodes with --backend transformers only"):
        resolve_model(str(out / "adapter"), "faster-whisper")
    # the cards, now with what the ladder measured
    for folder, library in (("model", "transformers"), ("ct2", "ctranslate2"), ("ct2-int8", "ctranslate2"), ("adapter", "peft")):
        meta = card_metadata(out / folder / "README.md")
        assert meta["library_name"] == library and meta["base_model"] == "openai/whisper-tiny.en"
        assert meta["datasets"] == ["small"] and meta["workbench"]["version"] == __version__
        (index,) = meta["model-index"]
        wer = {r["dataset"]["config"]: r["metrics"][0] for r in index["results"]}
        assert all(r["task"]["type"] == "automatic-speech-recognition" and r["dataset"]["split"] == "heldout" for r in index["results"])
        evaluation = meta["workbench"]["evaluation"]
        assert evaluation["run"] == lora["run"] and evaluation["baseline_run"] == report["rungs"][0]["run"]
        stored = {"overall": card.overall, **{f"{s.column}={s.value}": s for s in card.slices}}
        assert set(wer) == {k for k, s in stored.items() if s.wer is not None}
        for s in evaluation["slices"]:
            score = stored[s["slice"]]
            assert wer[s["slice"]]["type"] == "wer" and wer[s["slice"]]["value"] == s["wer"] == round(100 * score.wer, 2)
            assert (s["wer_low"], s["wer_high"]) == (round(100 * score.wer_ci.low, 2), round(100 * score.wer_ci.high, 2))
            assert f"95% CI [{s['wer_low']:.1f}, {s['wer_high']:.1f}]" in wer[s["slice"]]["name"]
        guard = evaluation["forgetting_guard"]
        assert guard["passed"] == (not [g for g in lora["guard"] if not g.startswith("deployment parity")])
        assert guard["figures"]["trained"]["no_speech_clips"] == guard["figures"]["baseline"]["no_speech_clips"]
        dp = evaluation["deployment_parity"]
        assert [f["form"] for f in dp["forms"]] == list(forms) and dp["reference_run"] == parity["reference_run"]
        assert dp["passed"] == (not [g for g in lora["guard"] if g.startswith("deployment parity")])
        assert evaluation["decision"] == report["final"]["explanation"]
        assert meta["workbench"]["training_record"]["leakage_check"].startswith("passed")


def test_the_cheap_rungs_with_a_lexicon_through_the_cli(tmp_path, capsys):
    """baseline, lexicon, prompt, lexicon+prompt on real tiny.en transcripts, lexicon
    misrecognitions mined from the train part; an out-of-reach target exhausts the ladder.
    The bootstrap is off: the ladder says so, and no rung has an interval."""
    lexicon = Path(demo_manifest()).parent / "lexicon.csv"
    config = tmp_path / "c.toml"
    config.write_text('ladder = ["baseline", "lexicon", "prompt", "lexicon+prompt"]\n[targets]\nmax_wer = 0.1\n')
    code, report = escalate(tmp_path, "--data", str(small_manifest(tmp_path, train=4, heldout=3)), "--config", str(config),
                            "--lexicon", str(lexicon), "--limit", "3", "--bootstrap", "0", "--max-regression", "50")
    printed = capsys.readouterr().out
    assert "bootstrap off (--bootstrap 0)" in printed and "every rise above max_regression (50 points)" in printed
    rungs = report["rungs"]
    assert [r["rung"] for r in rungs] == ["baseline", "lexicon", "prompt", "lexicon+prompt"]
    assert [r["action"] for r in rungs] == ["next", "next", "next", "exhausted"] and not report["skipped"]
    assert len({r["run"] for r in rungs}) == 4  # each rung is its own stored run
    assert all(s["change_low"] is None for r in rungs[1:] for s in r["slices"])
    assert report["final"]["action"] == "exhausted" and not report["final"]["met"]
    assert report["final"]["rung"] in [r["rung"] for r in rungs if not r["guard"]]  # never one the guard rejected
    for r in rungs:
        assert any("0.1% target" in m for m in r["misses"]) and all(s["utterances"] <= 3 for s in r["slices"])
    regressed = bool(rungs[-1]["guard"]) or " rose " in report["final"]["explanation"]
    assert code == (ExitCode.REGRESSION if regressed else ExitCode.THRESHOLD_MISSED)
    from workbench.runstore import RunStore

    with RunStore(str(tmp_path / "ws")) as store:
        lexicon_run = store.run(rungs[1]["run"])
        assert lexicon_run.config.get("base_run") == rungs[0]["run"]  # post-processing of the baseline's transcripts
        for r in rungs[2:]:  # the prompt rungs decoded with the lexicon's terms, stored per utterance
            for h in store.hypotheses(r["run"]):
                assert "metoprolol" in (h.extra.get("hotwords") or h.extra.get("prompt") or "")


def test_workbench_train_fine_tunes_the_decoder_alone_and_exports(tmp_path, capsys):
    """Full fine-tuning with the encoder frozen and no validation part, through the CLI."""
    import torch as _torch
    from safetensors.torch import load_file

    from workbench.models import resolve_model

    config = tmp_path / "t.toml"
    config.write_text(
        'model = "tiny.en"\n[training]\nmax_steps = 2\nbatch_size = 2\ngrad_accum = 1\nvalidation_fraction = 0\n'
        "freeze_encoder = true\ngradient_checkpointing = false\n[training.augment]\nnoise_prob = 0.0\ngain_prob = 0.0\n"
    )
    out = tmp_path / "full"
    code = main(["train", "--method", "full", "--config", str(config), "--data", str(small_manifest(tmp_path, 4, 1)),
                 "--out", str(out), "--allow-cpu"])
    assert code == ExitCode.OK
    assert "trained full for 2 steps" in capsys.readouterr().out
    before = load_file(str(resolve_model("tiny.en", "transformers").hf_dir / "model.safetensors"))
    after = load_file(str(out / "model" / "model.safetensors"))
    encoder = [k for k in before if k.startswith("model.encoder.")]
    decoder = [k for k in before if k.startswith("model.decoder.layers.")]
    assert encoder and all(_torch.equal(before[k], after[k]) for k in encoder)  # frozen
    assert any(not _torch.equal(before[k], after[k]) for k in decoder)  # trained
    assert (out / "ct2" / "model.bin").is_file() and not (out / "adapter").exists()
