"""Deployment parity: the refusal rule as a table, the config, and one real run.

The real run treats the bundled tiny.en weights as the trained model: its transformers
form (float32) against its CTranslate2 float16 and int8 exports, on a few held-out demo
clips, through `workbench parity --forms`; every figure is then recomputed from the run
store. (The LoRA path, adapter unmerged against merged and exported forms, is checked by
the escalation test that trains one: tests/test_escalation.py.)
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.conversion import read_ct2_model
from workbench.errors import BadInputError
from workbench.escalation_config import EscalationConfig, Targets, TrainingOptions, dump_config, load_config
from workbench.exit_codes import ExitCode
from workbench.policy import UNJUDGED, Miss, RungScores, SliceFigure, decide, parity_misses

# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "figure, limit, refused",
    [
        (SliceFigure("overall", 50, 12.0, 10.0, 0.5, 3.5), 0.0, True),  # significant rise of 2 points
        (SliceFigure("overall", 50, 12.0, 10.0, 0.5, 3.5), 2.0, False),  # within the allowance
        (SliceFigure("overall", 50, 12.0, 10.0, -0.5, 4.5), 0.0, False),  # not significant: noise
        (SliceFigure("overall", 50, 9.0, 10.0, -2.0, -0.1), 0.0, False),  # better
        (SliceFigure("overall", 50, 10.4, 10.0), 0.0, True),  # no interval (bootstrap off): the rise counts
        (SliceFigure("overall", 50, 10.4, 10.0), 0.5, False),
        (SliceFigure("accent=Scottish", 9, 30.0, 10.0, 5.0, 35.0), 0.0, False),  # below min_slice_utterances: not gated
        (SliceFigure("accent=Scottish", 10, 30.0, 10.0, 5.0, 35.0), 0.0, True),
        (SliceFigure("overall", 3, 30.0, 10.0, 5.0, 35.0), 0.0, True),  # overall is always gated
    ],
)
def test_a_shipped_form_is_refused_only_for_a_significant_rise_beyond_the_allowance(figure, limit, refused):
    found = parity_misses({"ct2-int8": (figure,)}, Targets(max_parity_wer_rise=limit, min_slice_utterances=10))
    assert bool(found) == refused
    if refused:
        (miss,) = found
        assert miss.guard and miss.target == "max_parity_wer_rise" and miss.slice == f"ct2-int8 {figure.key}"
        assert miss.value == pytest.approx(figure.rise) and miss.limit == limit
        text = miss.describe()
        assert text.startswith("deployment parity: ct2-int8 ") and "targets.max_parity_wer_rise" in text
        assert (UNJUDGED in text) == (figure.change_low is None)


def test_a_refused_rung_is_never_accepted_nor_the_best_tried():
    """A LoRA rung meeting the WER target whose int8 form lost accuracy: the ladder goes on,
    and when exhausted reports the rung parity passed."""
    targets, ladder = Targets(max_wer=15.0, max_parity_wer_rise=0.5), ("baseline", "lora", "full")
    refusal = parity_misses({"ct2-int8": (SliceFigure("overall", 40, 14.0, 11.0, 1.0, 5.0),)}, targets)
    baseline = RungScores("baseline", (SliceFigure("overall", 40, 20.0, None),))
    lora = RungScores("lora", (SliceFigure("overall", 40, 11.0, 20.0, -12.0, -6.0),), refusal)
    full = RungScores("full", (SliceFigure("overall", 40, 16.0, 20.0, -6.0, -2.0),))
    assert decide(lora, ladder, targets, gpu_available=True).action == "next"
    last = decide(full, ladder, targets, gpu_available=True, earlier=(baseline, lora))
    assert (last.action, last.rung) == ("exhausted", "full")
    assert isinstance(refusal[0], Miss) and lora.rejected


def test_the_config_validates_shipped_forms_and_the_allowance(tmp_path):
    assert TrainingOptions().shipped_forms == ("ct2-float16", "ct2-int8") and Targets().max_parity_wer_rise == 0.0
    with pytest.raises(ValueError, match=r"shipped_forms: must be one of .*got 'ct2-int4'"):
        TrainingOptions(shipped_forms=("ct2-int4",))
    with pytest.raises(ValueError, match="lists a form twice"):
        TrainingOptions(shipped_forms=("ct2-int8", "ct2-int8"))
    with pytest.raises(ValueError, match=r"max_parity_wer_rise: must be a number from 0 to 1000, got -1"):
        Targets(max_parity_wer_rise=-1)
    config = EscalationConfig(targets=Targets(max_parity_wer_rise=1.5), training=TrainingOptions(shipped_forms=["ct2-int8"]))
    path = tmp_path / "c.toml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    assert "max_parity_wer_rise = 1.5" in path.read_text() and 'shipped_forms = ["ct2-int8"]' in path.read_text()
    path.write_text("[training]\nshipped_forms = [\"ct2-int16\"]\n")
    with pytest.raises(BadInputError, match=r"\[training\] shipped_forms: .*did you mean"):
        load_config(path)


# --------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def tiny_parity(tmp_path_factory):
    """`workbench parity --forms` on 4 held-out demo clips: tiny.en (transformers, float32)
    against its CTranslate2 float16 and int8 exports."""
    tmp = tmp_path_factory.mktemp("parity")
    workspace, exports, report = tmp / "ws", tmp / "exports", tmp / "parity.json"
    code = main(["parity", "--model", "tiny.en", "--forms", "ct2-float16,ct2-int8", "--limit", "4", "--workspace", str(workspace),
                 "--export-dir", str(exports), "--max-parity-wer-rise", "1000", "--json", str(report)])
    return code, json.loads(report.read_text()), workspace, exports


def test_each_form_is_exported_with_its_own_weights(tiny_parity):
    _, _, _, exports = tiny_parity
    kinds = {}
    for form in ("ct2-float16", "ct2-int8"):
        model = read_ct2_model(exports / form / "model.bin", header_only=True)
        kinds[form] = {str(v.dtype) for name, v in model.variables.items() if name.endswith("/weight") and np.ndim(v) == 2}
        assert (exports / form / "tokenizer.json").is_file() and (exports / form / "preprocessor_config.json").is_file()
    assert kinds["ct2-float16"] == {"float16"} and "int8" in kinds["ct2-int8"]
    assert (exports / "ct2-int8" / "model.bin").stat().st_size < 0.7 * (exports / "ct2-float16" / "model.bin").stat().st_size
    # unchanged source: the exports are kept, not converted again
    from workbench.deployment import export_ct2_forms
    from workbench.models import resolve_model

    before = {f: os.stat(exports / f / "model.bin").st_mtime_ns for f in kinds}
    export_ct2_forms(resolve_model("tiny.en", "transformers").hf_dir, exports)
    assert {f: os.stat(exports / f / "model.bin").st_mtime_ns for f in kinds} == before


def test_parity_reports_identical_transcripts_and_the_paired_change_of_every_form(tiny_parity):
    from workbench.normalizers import get_normalizer
    from workbench.runstore import RunStore
    from workbench.scoring import scorecard_from_dict

    code, report, workspace, exports = tiny_parity
    assert code == ExitCode.OK and report["refused"] == [] and report["max_parity_wer_rise"] == 1000
    assert report["reference"] == {"name": "trained", "model": "tiny.en", "backend": "transformers", "compute_type": None}
    assert report["reference_compute_type"] == "float32"
    forms = {f["form"]: f for f in report["forms"]}
    assert list(forms) == ["ct2-float16", "ct2-int8"]
    # a CPU has no float16 arithmetic in CTranslate2: the float16 weights are computed in float32
    assert forms["ct2-float16"]["compute_type"] == "float32" and forms["ct2-int8"]["compute_type"].startswith("int8")
    with RunStore(str(workspace)) as store:
        reference = store.run(report["reference_run"])
        assert reference.config["backend"] == "transformers" and reference.config["model"] == "tiny.en"
        normalize = get_normalizer(reference.normalizer)
        ref_hyps = {h.id: h for h in store.hypotheses(reference.id)}
        ref_wer = scorecard_from_dict(store.scores(reference.id)[reference.normalizer]).overall.wer
        for name, form in forms.items():
            run = store.run(form["run_id"])
            assert run.config["backend"] == "faster-whisper" and run.config["model"] == str(exports / name)
            assert run.config["decoding"]["compute_type"] == form["compute_type"]
            hyps = {h.id: h for h in store.hypotheses(run.id)}
            assert hyps.keys() == ref_hyps.keys() and form["transcripts"] == len(hyps) == 4
            assert form["identical"] == sum(hyps[i].hypothesis.strip() == ref_hyps[i].hypothesis.strip() for i in hyps)
            assert form["identical_normalized"] == sum(
                normalize(hyps[i].hypothesis, hyps[i].language) == normalize(ref_hyps[i].hypothesis, hyps[i].language) for i in hyps)
            assert form["identical_share"] == pytest.approx(form["identical"] / 4)
            overall = next(s for s in form["slices"] if s["key"] == "overall")
            form_wer = scorecard_from_dict(store.scores(run.id)[run.normalizer]).overall.wer
            # the paired change is the difference of the two runs' stored WER, inside its own interval
            assert overall["wer"] == pytest.approx(100 * form_wer) and overall["baseline_wer"] == pytest.approx(100 * ref_wer)
            assert overall["utterances"] == 4 and overall["change_low"] <= overall["change_high"]
            if form["identical_normalized"] == 4:
                assert overall["change_low"] == overall["change_high"] == 0.0


def test_a_form_that_is_not_a_form_is_refused_in_one_line(tmp_path, capsys):
    code = main(["parity", "--model", "tiny.en", "--forms", "ct2-int4", "--workspace", str(tmp_path / "ws")])
    assert code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "--forms: unknown form 'ct2-int4'" in err and "ct2-float16, ct2-int8" in err
    code = main(["parity", "--model", "tiny.en", "--forms", "merged", "--workspace", str(tmp_path / "ws")])
    assert code == ExitCode.BAD_INPUT and "merged is the form of a LoRA training output" in capsys.readouterr().err
    assert not Path(tmp_path / "ws" / "exports").exists()


def test_the_python_api_returns_the_same_comparison_as_records_and_a_frame(tiny_parity):
    """`api.parity` on two of the clips: the same runs' figures, one row per form and slice."""
    from workbench import api

    _, _, workspace, exports = tiny_parity
    result = api.parity("tiny.en", ["ct2-int8"], limit=2, workspace=str(workspace), export_dir=str(exports))
    assert result.forms == ("ct2-int8",) and len(result.runs) == 1
    table = result.frame()
    (form,) = result.detail.forms
    assert list(table["slice"]) == [s.key for s in form.slices] and set(table["form"]) == {"ct2-int8"}
    overall = table[table["slice"] == "overall"].iloc[0]
    assert overall["utterances"] == 2 and overall["run_id"] == result.runs[0]
    assert overall["change"] == pytest.approx(overall["wer"] - overall["trained_wer"])
    assert overall["identical"] == form.identical <= overall["transcripts"] == 2
