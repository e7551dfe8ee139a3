"""Fine-tuning: the data path in isolation, then one real LoRA run of tiny.en on CPU.

The real run trains on a few English clips of the demo corpus's TRAIN part, is cancelled
after its first step (a checkpoint is kept), resumed to the end, exported (transformers
+ CTranslate2), and then checked: the loss on the training batch went down, the model's
output changed, and the export is scored by the normal bench path.
"""

import io
import json
import re
import threading

import numpy as np
import pytest
import torch

from workbench.bench import BenchRequest, demo_manifest, run_bench
from workbench.dataset import AudioSource, Utterance
from workbench.errors import BadInputError, CancelledError
from workbench.escalation_config import AugmentOptions, TrainingOptions
from workbench.exit_codes import ExitCode
from workbench.progress import ConsoleProgress
from workbench.service import DataSelection, ScoreRequest, score_hypotheses, select_data
from workbench.training import (
    NeedsGpuError,
    SpeechCollator,
    TrainRequest,
    augment_audio,
    split_validation,
    train,
)
from workbench.training_record import RECORD_FILE, check_no_leakage, leakage_overlap, read_record, trained_rung, write_record


def utt(i: int, **slices) -> Utterance:
    return Utterance(f"u{i}", AudioSource(path=f"/x/{i}.wav"), f"text {i}", slices)


def test_collator_drops_the_start_token_and_pads_labels_with_minus_100():
    batch = SpeechCollator(50257)(
        [
            {"input_features": np.zeros((80, 3000), np.float32), "labels": [50257, 7, 8, 9]},
            {"input_features": np.ones((80, 3000), np.float32), "labels": [50257, 5]},
        ]
    )
    assert batch["input_features"].shape == (2, 80, 3000)
    assert batch["labels"].tolist() == [[7, 8, 9], [5, -100, -100]]


def test_collator_keeps_labels_that_do_not_start_with_the_start_token():
    batch = SpeechCollator(50257)([{"input_features": np.zeros((80, 3000), np.float32), "labels": [1, 2]}])
    assert batch["labels"].tolist() == [[1, 2]]


def test_validation_is_carved_from_train_deterministically_by_id():
    train_part = [utt(i) for i in range(50)]
    fit, val = split_validation(train_part, 0.2, seed=3)
    assert len(val) == 10 and len(fit) == 40
    assert {u.id for u in fit}.isdisjoint({u.id for u in val})
    # the same ids on every call, in any input order, and adding data moves few
    assert [u.id for u in split_validation(list(reversed(train_part)), 0.2, seed=3)[1]] == [u.id for u in reversed(val)]
    grown = split_validation(train_part + [utt(i) for i in range(50, 55)], 0.2, seed=3)[1]
    assert len({u.id for u in grown} & {u.id for u in val}) >= 8
    assert split_validation(train_part[:2], 0.1)[1] and split_validation(train_part[:2], 0.1)[0]


def test_augmentation_adds_noise_at_the_requested_snr_and_gain():
    rng = np.random.default_rng(0)
    audio = (0.1 * np.sin(np.linspace(0, 2000, 16000))).astype(np.float32)
    untouched = augment_audio(audio, AugmentOptions(noise_prob=0.0, gain_prob=0.0), rng)
    assert np.array_equal(untouched, audio)
    noisy = augment_audio(audio, AugmentOptions(noise_prob=1.0, noise_snr_db=(10.0, 10.0), gain_prob=0.0), rng)
    snr = 10 * np.log10(np.mean(audio**2) / np.mean((noisy - audio) ** 2))
    assert 9.5 < snr < 10.5
    louder = augment_audio(audio, AugmentOptions(noise_prob=0.0, gain_prob=1.0, gain_db=(6.0, 6.0)), rng)
    assert np.allclose(louder, audio * 10 ** (6 / 20), atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_training_without_a_gpu_is_refused_unless_allowed():
    with pytest.raises(NeedsGpuError) as info:
        train(TrainRequest("lora", "tiny.en", (utt(1),), "/nonexistent/out"))
    assert info.value.exit_code == ExitCode.NEEDS_GPU
    assert "--allow-cpu" in str(info.value)


@pytest.mark.parametrize(
    "record, heldout, overlap",
    [
        ({"train_ids": ["a", "b"], "validation_ids": ["c"]}, ["x", "y"], 0),
        ({"train_ids": ["a", "b"], "validation_ids": ["c"]}, ["b", "x"], 1),
        ({"train_ids": ["a", "b"], "validation_ids": ["c"]}, ["c", "a", "b"], 3),  # validation counts too
        ({"train_ids": ["a", "a"], "validation_ids": []}, ["a"], 1),  # by id, once
        ({"train_ids": ["a"]}, [], 0),
        ({}, ["a"], 0),
    ],
)
def test_leakage_overlap_counts_trained_ids_in_the_heldout_part(record, heldout, overlap):
    assert leakage_overlap(record, heldout) == overlap


def test_training_refuses_a_train_part_that_overlaps_the_heldout_part(tmp_path):
    """Checked by id before anything loads: no model, no output folder."""
    request = TrainRequest("lora", "tiny.en", (utt(1), utt(2), utt(3)), str(tmp_path / "out"), allow_cpu=True,
                           heldout_id="sha256:h", heldout_ids=("u2", "u9"))
    with pytest.raises(BadInputError) as info:
        train(request)
    message = str(info.value)
    assert "\n" not in message and "1 utterance of the train part is also held out (u2)" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(BadInputError, match=r"escalation: 7 utterances .* \(a, b, c, d, e and 2 more\)"):
        check_no_leakage("abcdefg", "gfedcba", "escalation")
    check_no_leakage(["u1"], ["u2"])  # disjoint: no error


def test_a_trained_models_ct2_folder_is_recognised_by_its_record(tmp_path):
    out = tmp_path / "esc" / "lora"
    (out / "ct2").mkdir(parents=True)
    (out / "model").mkdir()
    write_record(out, {"method": "lora", "ct2_dir": str(out / "ct2"), "model_dir": str(out / "model")})
    assert read_record(out)["method"] == "lora" and (out / RECORD_FILE).is_file()
    assert trained_rung(str(out / "ct2")) == "lora"
    assert trained_rung(str(out / "model")) is None  # the transformers folder (decode parity) is not the rung's run
    assert trained_rung("tiny.en") is None and trained_rung(None) is None and trained_rung(str(tmp_path)) is None
    moved = tmp_path / "elsewhere"
    out.rename(moved)  # a training output moved as a whole still counts
    assert trained_rung(str(moved / "ct2")) == "lora"
    # trained before records existed: the result.json training always wrote
    old = tmp_path / "old" / "full"
    (old / "ct2").mkdir(parents=True)
    (old / "result.json").write_text('{"method": "full", "ct2_dir": "/gone/full/ct2"}')
    assert trained_rung(str(old / "ct2")) == "full"
    # since deleted: the escalation's layout alone
    assert trained_rung(str(tmp_path / "gone" / "full" / "ct2")) == "full"
    assert trained_rung(str(tmp_path / "gone" / "other" / "ct2")) is None


# ----------------------------------------------------------------------------- a real run

STEPS = 3


@pytest.fixture(scope="module")
def demo_split():
    return select_data(DataSelection(data=str(demo_manifest()), part="train")).split


@pytest.fixture(scope="module")
def english_train_clips(demo_split):
    clips = [u for u in demo_split.train if u.language == "en" and not u.no_speech]
    return tuple(clips[:8])


@pytest.fixture(scope="module")
def lora_progress():
    """What the resumed run reported: every (stage, done, total) call, and the plain lines
    the command line's progress printed for them (a StringIO is no terminal)."""
    calls, out = [], io.StringIO()
    console = ConsoleProgress(out, interval_s=0)

    def progress(stage, done, total):
        calls.append((stage, done, total))
        console(stage, done, total)

    return progress, calls, out


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, english_train_clips, demo_split, lora_progress):
    out = tmp_path_factory.mktemp("lora")
    options = TrainingOptions(
        max_steps=STEPS, batch_size=2, grad_accum=1, eval_steps=STEPS, validation_fraction=0.25,
        gradient_checkpointing=False, generation_max_length=64, learning_rate=2e-3,
        augment=AugmentOptions(noise_prob=0.0, gain_prob=0.0),
    )
    request = TrainRequest("lora", "tiny.en", english_train_clips, str(out), options, allow_cpu=True,
                           heldout_id=demo_split.heldout_id, heldout_ids=tuple(u.id for u in demo_split.heldout))
    cancel = threading.Event()

    def progress(stage, done, total):
        if stage.startswith("training") and done >= 1:
            cancel.set()  # stop after the first optimizer step

    with pytest.raises(CancelledError) as cancelled:
        train(request, progress=progress, cancel=cancel)
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*"))
    events = []
    result = train(request, progress=lora_progress[0], on_event=events.append)  # resumes from the checkpoint
    return out, str(cancelled.value), checkpoints, result, events


def test_a_cancelled_run_keeps_a_checkpoint_and_resumes_to_the_end(lora_run):
    _, message, checkpoints, result, events = lora_run
    assert "resume" in message and checkpoints == ["checkpoint-1"]
    assert result.resumed_from_step == 1 and result.steps == STEPS
    assert any(e.validation_wer is not None for e in events) and any(e.loss is not None for e in events)
    assert result.best_validation_wer is not None


def test_the_trainers_validation_wer_is_the_workbench_wer_of_the_same_hypotheses(lora_run, demo_split, tmp_path):
    """The WER the Trainer logged (and chose the best checkpoint by) on the validation part
    equals what `workbench score` reports for the hypotheses that validation decoded."""
    out, _, _, result, _ = lora_run
    (logged,) = [h for h in result.history if "eval_wer" in h]  # one validation, at the last step
    predictions = out / "validation" / f"step-{logged['step']}.jsonl"
    assert result.validation_dir == str(out / "validation") and predictions.is_file()
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(result.validation_ids) and all(r["hypothesis"].strip() for r in rows)
    scored = score_hypotheses(ScoreRequest(DataSelection(data=str(demo_manifest()), part="train"), str(predictions),
                                           workspace=str(tmp_path / "ws")))
    overall = scored.evaluation.normalized.overall
    assert scored.evaluation.normalized.normalizer == "auto@1" and overall.utterances == len(rows)
    assert round(logged["eval_wer"], 4) == round(100 * overall.wer, 4)
    assert round(logged["eval_cer"], 4) == round(100 * overall.cer, 4)
    assert result.best_validation_wer == logged["eval_wer"]


def test_training_progress_goes_to_the_progress_channel_as_plain_lines(lora_run, lora_progress):
    """Steps and validation batches reach the same progress object as every long job; into
    a non-terminal stream it writes plain lines with done/total, rate and ETA."""
    _, calls, out = lora_progress
    steps = [c for c in calls if c[0] == "training lora"]
    assert steps[0] == ("training lora", 1, STEPS) and steps[-1] == ("training lora", STEPS, STEPS)  # resumed at 1
    assert ("validating lora", 1, 1) in calls  # 2 validation clips, batch size 2: one batch
    text = out.getvalue()
    assert re.search(rf"^training lora: 2/{STEPS} \(67%\)  [\d.]+(?:/s|s/it)  elapsed \d+:\d\d  ETA \d+:\d\d$", text, re.M), text
    assert re.search(rf"^training lora: {STEPS}/{STEPS} done in ", text, re.M) and "\x1b[" not in text


def test_lora_exports_a_merged_model_an_adapter_and_a_ct2_model(lora_run):
    out, _, _, result, _ = lora_run
    assert result.method == "lora" and result.device == "cpu" and result.precision == "fp32"
    assert 0 < result.trainable_parameters < result.total_parameters / 20  # only the adapters learn
    assert result.adapter_bytes and result.adapter_bytes < 10 * 2**20
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "tokenizer.json", "generation_config.json"):
        assert (out / "model" / name).is_file(), name
    assert (out / "ct2" / "model.bin").is_file() and (out / "result.json").is_file()
    assert not (out / "model.partial").exists() and not (out / "ct2.partial").exists()


def test_the_leakage_record_lies_beside_the_model_and_shows_no_overlap(lora_run, english_train_clips, demo_split):
    out, _, _, result, _ = lora_run
    record = read_record(out)
    assert record is not None and result.record == str(out / RECORD_FILE)
    heldout = [u.id for u in demo_split.heldout]
    # every clip given was used: 2 validated on (0.25 of 8), the other 6 trained on
    assert sorted(record["train_ids"] + record["validation_ids"]) == sorted(u.id for u in english_train_clips)
    assert len(record["validation_ids"]) == 2 and not set(record["train_ids"]) & set(record["validation_ids"])
    assert record["heldout_id"] == demo_split.heldout_id and record["heldout_size"] == len(heldout) > 0
    assert record["heldout_overlap"] == 0 and leakage_overlap(record, heldout) == 0
    assert leakage_overlap(record, heldout + [record["train_ids"][0]]) == 1  # the helper would see a leak
    as_dict = result.to_dict()  # the same in the result (escalation.json carries it)
    assert list(as_dict["train_ids"]) == record["train_ids"] and list(as_dict["validation_ids"]) == record["validation_ids"]
    assert as_dict["heldout_id"] == demo_split.heldout_id and as_dict["heldout_overlap"] == 0
    assert trained_rung(result.ct2_dir) == "lora" and trained_rung(result.model_dir) is None


def test_training_exports_the_shipped_forms_and_writes_a_card_in_every_folder(lora_run):
    """ct2-float16 (the ct2/ weights, linked) and ct2-int8 beside the model, recorded; a
    Hugging Face card in every folder, with the training config and record, not yet any
    held-out figures (the escalation adds them: tests/test_escalation.py)."""
    from workbench import __version__
    from workbench.conversion import read_ct2_model
    from workbench.environment import git_commit
    from workbench.model_card import card_metadata

    out, _, _, result, _ = lora_run
    record = read_record(out)
    assert record["forms"] == result.forms == {"ct2-float16": str(out / "ct2-float16"), "ct2-int8": str(out / "ct2-int8")}
    assert (out / "ct2-float16" / "model.bin").read_bytes() == (out / "ct2" / "model.bin").read_bytes()
    int8 = read_ct2_model(out / "ct2-int8" / "model.bin", header_only=True)
    assert any(str(v.dtype) == "int8" for v in int8.variables.values())
    assert not list(out.glob("*.partial"))
    libraries = {"model": "transformers", "ct2": "ctranslate2", "ct2-float16": "ctranslate2", "ct2-int8": "ctranslate2",
                 "adapter": "peft"}
    for folder, library in libraries.items():
        meta = card_metadata(out / folder / "README.md")
        assert meta["library_name"] == library and meta["pipeline_tag"] == "automatic-speech-recognition"
        assert meta["base_model"] == "openai/whisper-tiny.en" and meta["language"] == ["en"] and "lora" in meta["tags"]
        assert "model-index" not in meta  # not scored on the held-out part yet
        wb = meta["workbench"]
        assert wb["version"] == __version__ and wb["commit"] == git_commit() and wb["evaluation"] is None
        assert wb["method"] == "lora" and wb["start_model"] == "tiny.en"
        assert wb["training"]["steps"] == STEPS and wb["training"]["options"]["learning_rate"] == 2e-3
        assert wb["training"]["options"]["lora"]["r"] == 32
        tr = wb["training_record"]
        assert (tr["train_utterances"], tr["validation_utterances"]) == (len(record["train_ids"]), len(record["validation_ids"])) == (6, 2)
        assert tr["heldout_id"] == record["heldout_id"] and tr["heldout_overlap"] == 0 and tr["leakage_check"].startswith("passed")
    assert "int8" in card_metadata(out / "ct2-int8" / "README.md")["tags"]
    assert "Not evaluated yet" in (out / "model" / "README.md").read_text()


def _batch_loss(model_dir_or_name: str, clips) -> float:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from workbench.audio import load_audio
    from workbench.models import resolve_model

    path = resolve_model(model_dir_or_name, "transformers").hf_dir
    processor = WhisperProcessor.from_pretrained(str(path))
    model = WhisperForConditionalGeneration.from_pretrained(str(path)).eval()
    features = processor.feature_extractor([load_audio(u.audio) for u in clips], sampling_rate=16000, return_tensors="pt").input_features
    labels = SpeechCollator(processor.tokenizer.convert_tokens_to_ids("<|startoftranscript|>"))(
        [{"input_features": f.numpy(), "labels": processor.tokenizer(u.reference).input_ids} for f, u in zip(features, clips)]
    )["labels"]
    with torch.no_grad():
        return float(model(input_features=features, labels=labels).loss)


def test_training_lowers_the_loss_on_its_training_clips(lora_run, english_train_clips):
    out, _, _, result, _ = lora_run
    clips = english_train_clips[:4]
    assert _batch_loss(str(out / "model"), clips) < _batch_loss("tiny.en", clips)


def test_the_tuned_model_is_scored_by_the_normal_path_and_its_output_changed(lora_run, tmp_path):
    out, _, _, result, _ = lora_run
    selection = DataSelection(data=str(demo_manifest()), part="train")
    runs = {}
    for name, model in (("base", "tiny.en"), ("tuned", result.ct2_dir)):
        runs[name] = run_bench(BenchRequest(selection, model=model, workspace=str(tmp_path / "ws"), limit=6))
    tuned = runs["tuned"]
    assert tuned.report and tuned.evaluation.normalized.overall.wer is not None
    from workbench.runstore import RunStore

    with RunStore(str(tmp_path / "ws")) as store:
        before = {h.id: h.hypothesis for h in store.hypotheses(runs["base"].run_id)}
        after = {h.id: h.hypothesis for h in store.hypotheses(tuned.run_id)}
        assert store.run(tuned.run_id).config["model"] == result.ct2_dir
    assert before.keys() == after.keys() and before != after


def test_early_stopping_exports_the_best_checkpoint_not_the_last(tmp_path, english_train_clips):
    """Validation every step, patience 1: training stops at the first validation that does
    not beat the best, and the model exported is the best checkpoint's (by validation WER),
    not the last one's. A learning rate this small leaves the transcripts, hence the WER,
    unchanged, so the second validation does not improve: best step 1, stopped at step 2."""
    from safetensors.torch import load_file

    options = TrainingOptions(
        max_steps=6, batch_size=2, grad_accum=1, eval_steps=1, validation_fraction=0.25, early_stopping_patience=1,
        learning_rate=1e-7, warmup_ratio=0.0, gradient_checkpointing=False, generation_max_length=48,
        augment=AugmentOptions(noise_prob=0.0, gain_prob=0.0),
    )
    out = tmp_path / "early"
    result = train(TrainRequest("lora", "tiny.en", english_train_clips, str(out), options, allow_cpu=True))
    evaluations = [(h["step"], h["eval_wer"]) for h in result.history if "eval_wer" in h]
    best_wer = min(w for _, w in evaluations)
    best_step = next(step for step, w in evaluations if w == best_wer)  # a tie is no improvement: the first stays best
    assert result.steps < options.max_steps  # stopped early
    assert result.steps == evaluations[-1][0] == best_step + options.early_stopping_patience
    assert (result.best_step, result.best_validation_wer) == (best_step, best_wer)
    exported = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    best = load_file(str(out / "checkpoints" / f"checkpoint-{best_step}" / "adapter_model.safetensors"))
    last = load_file(str(out / "checkpoints" / f"checkpoint-{result.steps}" / "adapter_model.safetensors"))
    assert exported.keys() == best.keys() == last.keys() and exported
    assert all(torch.equal(exported[k], best[k]) for k in exported)
    assert any(not torch.equal(exported[k], last[k]) for k in exported)  # the last step did change the weights
    assert read_record(out)["best_step"] == best_step
