"""Fine-tuning Whisper on the TRAIN part: LoRA (peft) or full, with transformers' Seq2SeqTrainer.

The recipe the field converged on, in one place:

- the start model is resolved offline to a transformers folder (`models.resolve_model`);
  the processor (feature extractor + tokenizer) is saved with every export;
- labels are the tokenizer's ids with Whisper's prefix (<|startoftranscript|>, the
  utterance's language, <|transcribe|>, <|notimestamps|>) for multilingual models, the
  leading <|startoftranscript|> dropped (the model prepends it when it shifts the labels),
  padded with -100 by `SpeechCollator`;
- clips outside 1-30 s, empty or no-speech references, and labels over 448 tokens are
  left out and counted (`TrainResult.skipped`);
- augmentation (Gaussian noise at a random SNR, random gain) is applied to the training
  part only, never to validation;
- a validation part is carved from the TRAIN part (never the held-out part), by a hash
  of each utterance id, so it is the same on every run and on resume;
- cosine schedule with warm-up, weight decay, gradient accumulation, gradient
  checkpointing, bf16/fp16 on GPU;
- validation with generation (`predict_with_generate`) each epoch (or every
  `eval_steps`), early stopping on validation WER, the best checkpoint chosen by WER;
  that WER is the workbench's own (the `evaluate` module in `workbench/metrics`), and
  each validation's hypotheses are kept in `validation/step-N.jsonl`;
- progress (steps, validation batches) goes to the same `progress(stage, done, total)`
  channel as every other long job, not to tqdm;
- resumable from the last checkpoint; cancellable between steps (a checkpoint is saved);
- the result is exported as a merged transformers folder AND converted to CTranslate2,
  so it is scored by the same fast backend as the baseline, and in each shipped form
  (`ct2-float16/`, `ct2-int8/`) that deployment parity checks (`deployment`);
- a Hugging Face model card (README.md) is written in every exported folder
  (`model_card`);
- no utterance of the held-out part is trained on (checked by id before anything
  loads), and `training-record.json` beside the export keeps the train and validation
  ids and the held-out split's id (`training_record`).

Training needs CUDA unless `allow_cpu` is set (tests and small demos): the policy that
decides when to train lives in `policy.py`, the ladder that runs it in `escalation.py`.
Multi-GPU: the Trainer handles `accelerate launch` / `torchrun`; see the README.
"""

import hashlib
import json
import math
import os
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .audio import Preprocessing, load_audio
from .backends.base import language_code
from .dataset import Utterance
from .errors import CancelledError, WorkbenchError
from .escalation_config import AugmentOptions, TrainingOptions
from .exit_codes import ExitCode

__all__ = [
    "METHODS",
    "NeedsGpuError",
    "SpeechCollator",
    "TrainEvent",
    "TrainRequest",
    "TrainResult",
    "gpu_available",
    "split_validation",
    "train",
]

METHODS = ("lora", "full")
MIN_SECONDS, MAX_SECONDS = 1.0, 30.0  # Whisper's window is 30 s; under 1 s is mostly not speech
MAX_LABEL_TOKENS = 448  # the decoder's context


class NeedsGpuError(WorkbenchError):
    """Training was asked for on a machine without CUDA, and CPU training was not allowed."""

    exit_code = ExitCode.NEEDS_GPU


def gpu_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


@dataclass(frozen=True)
class TrainRequest:
    method: str  # "lora" | "full"
    model: str  # the start model: tiny.en, base, or a local folder (resolved offline)
    train: tuple[Utterance, ...]  # the TRAIN part; validation is carved from it
    output_dir: str  # checkpoints/, model/ (merged transformers), ct2/, ct2-float16/, ct2-int8/, adapter/ (LoRA), result.json, training-record.json
    options: TrainingOptions = field(default_factory=TrainingOptions)
    allow_cpu: bool = False  # permit training without CUDA (small runs: tests, demos)
    resume: bool = True  # continue from the last checkpoint in output_dir when there is one
    ct2_quantization: str = "float16"  # CTranslate2 export; faster-whisper re-quantizes at load (int8 on CPU)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    # The held-out part of the split `train` came from: recorded with the model, and no
    # utterance of it may be trained on (checked by id before anything loads).
    heldout_id: str | None = None  # Split.heldout_id
    heldout_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")


@dataclass(frozen=True)
class TrainEvent:
    """One progress report: what the CLI prints and the TUI charts."""

    step: int
    total_steps: int
    epoch: float
    loss: float | None = None  # training loss of the last logging window
    validation_wer: float | None = None  # percent, after an evaluation
    eta_s: float | None = None


@dataclass(frozen=True)
class TrainResult:
    method: str
    model_dir: str  # merged transformers folder, processor included
    ct2_dir: str  # the same model for faster-whisper
    adapter_dir: str | None  # LoRA only: the adapter as peft saved it
    adapter_bytes: int | None
    device: str
    precision: str
    train_utterances: int
    validation_utterances: int
    skipped: dict  # reason -> count
    steps: int
    epochs: float
    wall_s: float
    samples_per_s: float
    peak_memory_mb: float  # GPU: torch.cuda.max_memory_allocated; CPU: the process's max RSS
    trainable_parameters: int
    total_parameters: int
    first_loss: float | None
    last_loss: float | None
    best_validation_wer: float | None
    resumed_from_step: int | None
    history: tuple[dict, ...]  # the Trainer's log history
    # The leakage record (also in training-record.json beside the model): what it learned
    # from, and the held-out part it must never have seen.
    train_ids: tuple[str, ...] = ()  # utterances trained on (after filtering)
    validation_ids: tuple[str, ...] = ()  # utterances validated on
    heldout_id: str | None = None
    heldout_overlap: int | None = None  # train/validation ids in the held-out part: 0
    best_step: int | None = None  # the checkpoint exported (the best by validation WER), None without validation
    record: str | None = None  # path of training-record.json
    validation_dir: str | None = None  # step-N.jsonl: the hypotheses each validation's WER was computed on
    forms: dict = field(default_factory=dict)  # shipped form -> its folder: {"ct2-float16": ..., "ct2-int8": ...}

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- data


def _bucket(utterance_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{utterance_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_validation(train: Sequence[Utterance], fraction: float, seed: int = 0) -> tuple[list[Utterance], list[Utterance]]:
    """(training, validation): a deterministic share of the TRAIN part by a hash of each id.

    By id, not by position, so adding data moves few utterances and a resumed run sees
    the same validation part. At least one utterance goes to each side when there are two.
    """
    ranked = sorted(train, key=lambda u: (_bucket(u.id, seed), u.id))
    if fraction <= 0:
        return list(train), []
    n_val = min(max(1, round(len(ranked) * fraction)), len(ranked) - 1) if len(ranked) > 1 else 0
    validation = set(u.id for u in ranked[:n_val])
    return [u for u in train if u.id not in validation], [u for u in train if u.id in validation]


@dataclass
class _Example:
    utterance: Utterance
    labels: list[int]


class _SpeechDataset:
    """Utterances -> {"input_features", "labels"}; audio decoded once and kept in memory."""

    def __init__(self, examples: list[_Example], extractor, preprocessing: Preprocessing,
                 augment: AugmentOptions | None, seed: int):
        self.examples = examples
        self.extractor = extractor
        self.preprocessing = preprocessing
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self._audio: dict[int, np.ndarray] = {}
        self._features: dict[int, np.ndarray] = {}  # without augmentation the features never change

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        example = self.examples[i]
        if self.augment is None and i in self._features:
            return {"input_features": self._features[i], "labels": example.labels}
        audio = self._audio.get(i)
        if audio is None:
            audio = self._audio[i] = load_audio(example.utterance.audio, self.preprocessing)
        if self.augment is not None:
            audio = augment_audio(audio, self.augment, self.rng)
        features = self.extractor(audio, sampling_rate=16000, return_tensors="np").input_features[0]
        if self.augment is None:
            self._features[i] = features
        return {"input_features": features, "labels": example.labels}


def augment_audio(audio: np.ndarray, options: AugmentOptions, rng: np.random.Generator) -> np.ndarray:
    """Random gain, then Gaussian noise at a random SNR, each with its probability."""
    out = audio
    if options.gain_prob > 0 and rng.random() < options.gain_prob:
        out = out * np.float32(10 ** (rng.uniform(*options.gain_db) / 20))
    if options.noise_prob > 0 and rng.random() < options.noise_prob:
        power = float(np.mean(out.astype(np.float64) ** 2))
        if power > 0:
            snr = rng.uniform(*options.noise_snr_db)
            noise = rng.standard_normal(out.shape) * math.sqrt(power / 10 ** (snr / 10))
            out = out + noise.astype(np.float32)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


class SpeechCollator:
    """Stacks log-mel features; pads labels with -100 (ignored by the loss).

    The tokenizer's ids start with <|startoftranscript|>; the model prepends it itself
    when it shifts labels right into decoder inputs, so it is dropped here.
    """

    def __init__(self, decoder_start_token_id: int):
        self.start = decoder_start_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        inputs = torch.tensor(np.stack([f["input_features"] for f in features]))
        labels = [list(f["labels"]) for f in features]
        if labels and all(seq and seq[0] == self.start for seq in labels):
            labels = [seq[1:] for seq in labels]
        width = max((len(seq) for seq in labels), default=0)
        padded = torch.full((len(labels), width), -100, dtype=torch.long)
        for row, seq in enumerate(labels):
            padded[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        return {"input_features": inputs, "labels": padded}


def _examples(utterances: Sequence[Utterance], tokenizer, multilingual: bool, skipped: dict) -> list[_Example]:
    out = []
    for u in utterances:
        reason = None
        if u.no_speech or not u.reference.strip():
            reason = "no speech or empty reference"
        elif u.duration_s is not None and not MIN_SECONDS <= u.duration_s <= MAX_SECONDS:
            reason = f"outside {MIN_SECONDS:g}-{MAX_SECONDS:g} s"
        if reason is None:
            code = language_code(u.language) if multilingual else None
            try:
                tokenizer.set_prefix_tokens(language=code, task="transcribe" if multilingual else None, predict_timestamps=False)
                labels = tokenizer(u.reference).input_ids
            except ValueError:  # a language Whisper does not know
                reason = "language unknown to Whisper"
            else:
                if len(labels) > MAX_LABEL_TOKENS:
                    reason = f"label over {MAX_LABEL_TOKENS} tokens"
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        out.append(_Example(u, labels))
    return out


def _write_predictions(path: Path, utterances: Sequence[Utterance], hypotheses: Sequence[str]) -> None:
    """One validation's hypotheses as JSONL (id, hypothesis, reference, language): what the
    Trainer's WER was computed on, re-scorable with `workbench score --hyp`."""
    from .atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps({"id": u.id, "hypothesis": h, "reference": u.reference, "language": u.language}, ensure_ascii=False)
             for u, h in zip(utterances, hypotheses))
    write_text_atomic(path, "".join(line + "\n" for line in lines))


# ----------------------------------------------------------------------------- the run


def _checkpointing_args(enabled: bool) -> dict:
    """Gradient (activation) checkpointing, under the argument names this transformers has."""
    import inspect

    from transformers import Seq2SeqTrainingArguments

    names = inspect.signature(Seq2SeqTrainingArguments.__init__).parameters
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    # Non-reentrant checkpointing works when the inputs need no gradient (LoRA's frozen embeddings).
    return {prefix: enabled, f"{prefix}_kwargs": {"use_reentrant": False}}


def _precision(requested: str, device: str) -> str:
    import torch

    if device == "cpu":
        return "fp32"  # half precision training on CPU is slow and unsupported by much of torch
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _last_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def train(
    request: TrainRequest,
    progress: Callable[[str, int, int], None] | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
    cancel=None,  # a threading.Event (or anything with is_set()): stop after the current step
) -> TrainResult | None:
    """Fine-tune, export (transformers + CTranslate2) and return what it measured.

    Under a multi-process launcher (torchrun, accelerate launch) the Trainer trains with
    data parallelism; only the main process exports and returns a result, the others None.
    """
    if progress is None:
        return _train(request, progress, on_event, cancel)
    # The caller shows progress: transformers' own tqdm bars (loading and writing weights)
    # would print beside it, as carriage-return lines in a log. Off for the run, then restored.
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return _train(request, progress, on_event, cancel)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _train(request: TrainRequest, progress, on_event, cancel) -> TrainResult | None:
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not request.allow_cpu:
        raise NeedsGpuError(
            f"{request.method} training needs a CUDA GPU and none is visible here; "
            "pass --allow-cpu for a small CPU run (tests, demos)"
        )
    from .training_record import check_no_leakage

    check_no_leakage((u.id for u in request.train), request.heldout_ids, f"{request.method} training")
    device = "cuda" if cuda else "cpu"
    started = time.perf_counter()
    from transformers import (
        EarlyStoppingCallback,
        PrinterCallback,
        Seq2SeqTrainingArguments,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    from .models import resolve_model

    o = request.options
    out = Path(request.output_dir)
    checkpoints = out / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)
    files = resolve_model(request.model, "transformers", progress)
    processor = WhisperProcessor.from_pretrained(str(files.hf_dir))
    tokenizer = processor.tokenizer
    skipped: dict[str, int] = {}
    training_part, validation_part = split_validation(request.train, o.validation_fraction, o.seed)
    train_examples = _examples(training_part, tokenizer, files.multilingual, skipped)
    val_examples = _examples(validation_part, tokenizer, files.multilingual, skipped)
    tokenizer.set_prefix_tokens(language=None, task=None, predict_timestamps=False)
    validate = o.validation_fraction > 0
    if not train_examples or (validate and not val_examples):
        raise WorkbenchError(
            f"not enough training data: {len(train_examples)} training and {len(val_examples)} validation "
            f"utterances after filtering ({', '.join(f'{k}: {v}' for k, v in skipped.items()) or 'none skipped'})"
        )

    precision = _precision(o.precision, device)
    model = WhisperForConditionalGeneration.from_pretrained(str(files.hf_dir))
    # The language comes from the labels (training) or is passed per batch (validation),
    # so no decoder ids are forced; the generation config keeps Whisper's own settings.
    model.config.forced_decoder_ids = None
    model.generation_config.forced_decoder_ids = None
    # The KV cache is useless in teacher-forced training and clashes with gradient
    # checkpointing; validation generates, where it makes decoding several times faster.
    model.config.use_cache = False
    model.generation_config.use_cache = True
    if request.method == "full" and o.freeze_encoder:
        model.model.encoder.requires_grad_(False)
    if request.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(r=o.lora.r, lora_alpha=o.lora.alpha, lora_dropout=o.lora.dropout,
                       target_modules=list(o.lora.target_modules), bias="none"),
        )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    lang_tokens = {}
    if files.multilingual:
        lang_to_id = getattr(model.generation_config, "lang_to_id", None) or {}
        lang_tokens = {i: tok.strip("<|>") for tok, i in lang_to_id.items()}

    # Validation WER is the workbench's own metric (the `evaluate` module shipped in
    # workbench/metrics): the same normalizer and corpus-level sums as `workbench score`,
    # so the figure the Trainer logs and picks the best checkpoint by is the one the
    # workbench reports for the same hypotheses. They are kept in validation/step-N.jsonl,
    # a hypotheses file `workbench score` reads.
    wer_metric = None
    if validate:
        from .metrics import load_workbench_wer

        wer_metric = load_workbench_wer("auto", keep_in_memory=True)
    validation_dir = out / "validation"

    def compute_metrics(prediction) -> dict:
        preds = prediction.predictions
        if isinstance(preds, tuple):
            preds = preds[0]
        preds = np.where(preds < 0, tokenizer.pad_token_id, preds)
        hyps = tokenizer.batch_decode(preds, skip_special_tokens=True)
        # The evaluation dataloader keeps order, so row i is validation example i: scored
        # against the utterance's own reference, as the workbench scores it.
        utterances = [e.utterance for e in val_examples]
        if len(hyps) != len(utterances):
            raise WorkbenchError(f"validation returned {len(hyps)} predictions for {len(utterances)} utterances")
        scores = wer_metric.compute(predictions=hyps, references=[u.reference for u in utterances],
                                    language=[u.language for u in utterances])
        if trainer.is_world_process_zero():
            _write_predictions(validation_dir / f"step-{trainer.state.global_step}.jsonl", utterances, hyps)
        # None only when no reference has a word left after normalization: every checkpoint ties.
        return {"wer": 100.0 * (scores["wer"] or 0.0), "cer": 100.0 * (scores["cer"] or 0.0)}

    steps_per_epoch = max(1, math.ceil(len(train_examples) / (o.batch_size * o.grad_accum)))
    total_steps = o.max_steps if o.max_steps > 0 else max(1, math.ceil(steps_per_epoch * o.epochs))
    strategy = "steps" if o.eval_steps else "epoch"
    # Without a validation part there is nothing to pick the best checkpoint by, nor to stop early on.
    args = Seq2SeqTrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=o.batch_size,
        per_device_eval_batch_size=o.batch_size,
        gradient_accumulation_steps=o.grad_accum,
        learning_rate=o.lr_for(request.method),
        warmup_steps=o.warmup_ratio,  # a float below 1 is a share of the total steps
        weight_decay=o.weight_decay,
        lr_scheduler_type=o.scheduler,
        num_train_epochs=o.epochs,
        max_steps=o.max_steps,
        **_checkpointing_args(o.gradient_checkpointing),
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        use_cpu=device == "cpu",
        eval_strategy=strategy if validate else "no",
        save_strategy=strategy,
        eval_steps=o.eval_steps,
        save_steps=o.eval_steps,
        logging_steps=1 if total_steps <= 50 else 10,
        predict_with_generate=True,
        generation_max_length=o.generation_max_length,
        load_best_model_at_end=validate,
        metric_for_best_model="wer" if validate else None,
        greater_is_better=False if validate else None,
        save_total_limit=2,  # the best and the last
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
        report_to="none",
        seed=o.seed,
        disable_tqdm=True,
    )
    train_set = _SpeechDataset(train_examples, processor.feature_extractor, request.preprocessing, o.augment, o.seed)
    val_set = _SpeechDataset(val_examples, processor.feature_extractor, request.preprocessing, None, o.seed) if validate else None
    trainer_cls, callback_cls = _trainer_classes()
    callbacks = [callback_cls(request.method, progress, on_event, cancel)]
    if validate and o.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=o.early_stopping_patience))
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=SpeechCollator(tokenizer.convert_tokens_to_ids("<|startoftranscript|>")),
        processing_class=processor.feature_extractor,
        compute_metrics=compute_metrics if validate else None,
        callbacks=callbacks,
    )
    trainer.lang_tokens = lang_tokens
    # With tqdm disabled the Trainer prints every log dict; the progress channel and
    # on_event report instead (bars or log lines, and one line per event).
    trainer.remove_callback(PrinterCallback)
    resume_from = _last_checkpoint(checkpoints) if request.resume else None
    if not request.resume and checkpoints.exists():
        shutil.rmtree(checkpoints)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    fit_started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    fit_s = time.perf_counter() - fit_started
    if not trainer.is_world_process_zero():
        # Under torchrun / accelerate launch every process trains; only the first exports.
        return None
    if cancel is not None and cancel.is_set():
        raise CancelledError(
            f"training cancelled at step {trainer.state.global_step}; a checkpoint is in {checkpoints}: "
            "run the same command again to resume"
        )

    history = tuple(trainer.state.log_history)
    losses = [h["loss"] for h in history if "loss" in h]
    best_wer = trainer.state.best_metric
    adapter_dir = adapter_bytes = None
    final = trainer.model
    if request.method == "lora":
        adapter_dir = out / "adapter"
        final.save_pretrained(str(adapter_dir))
        adapter_bytes = _tree_bytes(adapter_dir)
        final = final.merge_and_unload()
    model_dir = out / "model"
    tmp_dir = out / "model.partial"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    final.config.use_cache = True
    final.save_pretrained(str(tmp_dir))
    processor.save_pretrained(str(tmp_dir))
    processor.feature_extractor.save_pretrained(str(tmp_dir))  # preprocessor_config.json: faster-whisper reads it
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(tmp_dir, model_dir)  # never a half-written model folder

    from .conversion import hf_dir_to_ct2

    ct2_dir = out / "ct2"
    tmp_ct2 = out / "ct2.partial"
    shutil.rmtree(tmp_ct2, ignore_errors=True)
    hf_dir_to_ct2(model_dir, tmp_ct2, quantization=request.ct2_quantization, progress=progress)
    shutil.rmtree(ct2_dir, ignore_errors=True)
    os.replace(tmp_ct2, ct2_dir)
    from .deployment import export_ct2_forms

    # The shipped forms (ct2-float16, ct2-int8), each in its own folder: what deployment
    # parity decodes and compares with the model as trained. The one ct2/ already is is linked.
    forms = export_ct2_forms(model_dir, out, o.shipped_forms, progress, existing={f"ct2-{request.ct2_quantization}": ct2_dir})

    steps = trainer.state.global_step
    samples = output.metrics.get("train_samples_per_second") or 0.0
    best = trainer.state.best_model_checkpoint
    best_step = int(Path(best).name.split("-")[-1]) if validate and best else None
    from .training_record import leakage_overlap, write_record

    train_ids = tuple(e.utterance.id for e in train_examples)
    validation_ids = tuple(e.utterance.id for e in val_examples)
    ids = {"train_ids": train_ids, "validation_ids": validation_ids}
    record = write_record(out, {
        "method": request.method,
        "start_model": request.model,
        "model_dir": str(model_dir),
        "ct2_dir": str(ct2_dir),
        **ids,
        "heldout_id": request.heldout_id,
        "heldout_size": len(request.heldout_ids),
        "heldout_overlap": leakage_overlap(ids, request.heldout_ids),
        "best_step": best_step,
        "steps": steps,
        "seed": o.seed,
        "forms": forms,
        "languages": sorted({language_code(e.utterance.language) or e.utterance.language
                             for e in (*train_examples, *val_examples) if e.utterance.language}),
        "adapter_dir": str(adapter_dir) if adapter_dir else None,
        "options": asdict(o),  # the training config, for the model card and a rerun
    })
    result = TrainResult(
        method=request.method,
        model_dir=str(model_dir),
        ct2_dir=str(ct2_dir),
        adapter_dir=str(adapter_dir) if adapter_dir else None,
        adapter_bytes=adapter_bytes,
        device=device,
        precision=precision,
        train_utterances=len(train_examples),
        validation_utterances=len(val_examples),
        skipped=skipped,
        steps=steps,
        epochs=float(trainer.state.epoch or 0.0),
        wall_s=time.perf_counter() - started,
        samples_per_s=float(samples) if samples else len(train_examples) * float(trainer.state.epoch or 0) / max(fit_s, 1e-9),
        peak_memory_mb=_peak_memory_mb(device),
        trainable_parameters=trainable,
        total_parameters=total,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        best_validation_wer=float(best_wer) if best_wer is not None else None,
        resumed_from_step=int(resume_from.name.split("-")[-1]) if resume_from else None,
        history=history,
        train_ids=train_ids,
        validation_ids=validation_ids,
        heldout_id=request.heldout_id,
        heldout_overlap=leakage_overlap(ids, request.heldout_ids),
        best_step=best_step,
        record=record,
        validation_dir=str(validation_dir) if validate else None,
        forms=forms,
    )
    from .atomic import write_text_atomic

    write_text_atomic(out / "result.json", json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    from .model_card import write_model_cards

    # A card beside every exported folder, with what training knows; the escalation
    # rewrites it with the held-out scores, the guard and deployment parity.
    write_model_cards(out)
    return result


def _trainer_classes():
    """The Trainer subclass and callback, defined on first use: transformers is imported
    only when training runs."""
    from transformers import Seq2SeqTrainer, TrainerCallback

    class WhisperTrainer(Seq2SeqTrainer):
        """Generation in validation uses each utterance's language, read from its labels."""

        lang_tokens: dict = {}

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
            labels = inputs.get("labels")
            if self.lang_tokens and labels is not None and labels.shape[1] > 0:
                languages = [self.lang_tokens.get(int(t)) for t in labels[:, 0]]
                if all(languages):
                    gen_kwargs = {**gen_kwargs, "language": languages, "task": "transcribe"}
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys, **gen_kwargs)

    class ProgressCallback(TrainerCallback):
        """Training steps and validation batches to the progress channel (the command
        line's bars or log lines, the TUI's job bar) in place of transformers' tqdm bars;
        loss, validation WER and ETA to `on_event`; cancellation between steps."""

        def __init__(self, method, progress, on_event, cancel):
            self.stage = f"training {method}"
            self.validation_stage = f"validating {method}"
            self.progress, self.on_event, self.cancel = progress, on_event, cancel
            self.started = None
            self.first_step = 0
            self.validated = 0  # batches of the validation in progress

        def _report(self, state, stage: str, done: int, total: int) -> None:
            if self.progress and state.is_world_process_zero:  # one report, not one per GPU process
                self.progress(stage, done, total)

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()
            self.first_step = state.global_step
            self._report(state, self.stage, state.global_step, state.max_steps)

        def _eta(self, state) -> float | None:
            done = state.global_step - self.first_step
            if not done or self.started is None:
                return None
            return (time.perf_counter() - self.started) / done * max(state.max_steps - state.global_step, 0)

        def on_step_end(self, args, state, control, **kwargs):
            self._report(state, self.stage, state.global_step, state.max_steps)
            if self.cancel is not None and self.cancel.is_set():
                control.should_save = True  # keep what finished: resume starts here
                control.should_training_stop = True

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            try:
                total = len(eval_dataloader)
            except TypeError:  # no length (None or an iterable dataset): nothing to count against
                return
            self.validated += 1
            self._report(state, self.validation_stage, self.validated, total)

        def on_evaluate(self, args, state, control, **kwargs):
            self.validated = 0

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.cancel is not None and self.cancel.is_set():
                # A cancel breaks out of the epoch; do not spend minutes validating on the way out.
                control.should_evaluate = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not self.on_event or not logs:
                return
            wer = logs.get("eval_wer")
            loss = logs.get("loss")
            if wer is None and loss is None:
                return
            self.on_event(TrainEvent(state.global_step, state.max_steps, float(state.epoch or 0.0),
                                     loss=loss, validation_wer=wer, eta_s=self._eta(state)))

    return WhisperTrainer, ProgressCallback
