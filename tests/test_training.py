"""Fine-tuning: the data path in isolation, then one real LoRA run of tiny.en on CPU.

The real run trains on a few English clips of the demo corpus's TRAIN part, is cancelled
after its first step (a checkpoint is kept), resumed to the end, exported (transformers
+ CTranslate2), and then checked: the loss on the training batch went down, the model's
output changed, and the export is scored by the normal bench path.
"""

import threading

import numpy as np
import pytest
import torch

from workbench.bench import BenchRequest, demo_manifest, run_bench
from workbench.dataset import AudioSource, Utterance
from workbench.errors import CancelledError
from workbench.escalation_config import AugmentOptions, TrainingOptions
from workbench.exit_codes import ExitCode
from workbench.service import DataSelection, select_data
from workbench.training import (
    NeedsGpuError,
    SpeechCollator,
    TrainRequest,
    augment_audio,
    split_validation,
    train,
)


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


# ----------------------------------------------------------------------------- a real run

STEPS = 3


@pytest.fixture(scope="module")
def english_train_clips():
    selected = select_data(DataSelection(data=str(demo_manifest()), part="train"))
    clips = [u for u in selected.utterances if u.language == "en" and not u.no_speech]
    return tuple(clips[:8])


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, english_train_clips):
    out = tmp_path_factory.mktemp("lora")
    options = TrainingOptions(
        max_steps=STEPS, batch_size=2, grad_accum=1, eval_steps=STEPS, validation_fraction=0.25,
        gradient_checkpointing=False, generation_max_length=64, learning_rate=2e-3,
        augment=AugmentOptions(noise_prob=0.0, gain_prob=0.0),
    )
    request = TrainRequest("lora", "tiny.en", english_train_clips, str(out), options, allow_cpu=True)
    cancel = threading.Event()

    def progress(stage, done, total):
        if stage.startswith("training") and done >= 1:
            cancel.set()  # stop after the first optimizer step

    with pytest.raises(CancelledError) as cancelled:
        train(request, progress=progress, cancel=cancel)
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*"))
    events = []
    result = train(request, on_event=events.append)  # resumes from the checkpoint
    return out, str(cancelled.value), checkpoints, result, events


def test_a_cancelled_run_keeps_a_checkpoint_and_resumes_to_the_end(lora_run):
    _, message, checkpoints, result, events = lora_run
    assert "resume" in message and checkpoints == ["checkpoint-1"]
    assert result.resumed_from_step == 1 and result.steps == STEPS
    assert any(e.validation_wer is not None for e in events) and any(e.loss is not None for e in events)
    assert result.best_validation_wer is not None


def test_lora_exports_a_merged_model_an_adapter_and_a_ct2_model(lora_run):
    out, _, _, result, _ = lora_run
    assert result.method == "lora" and result.device == "cpu" and result.precision == "fp32"
    assert 0 < result.trainable_parameters < result.total_parameters / 20  # only the adapters learn
    assert result.adapter_bytes and result.adapter_bytes < 10 * 2**20
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "tokenizer.json", "generation_config.json"):
        assert (out / "model" / name).is_file(), name
    assert (out / "ct2" / "model.bin").is_file() and (out / "result.json").is_file()
    assert not (out / "model.partial").exists() and not (out / "ct2.partial").exists()


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
