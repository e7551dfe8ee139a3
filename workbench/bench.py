"""The baseline benchmark: transcribe the held-out part with a Whisper model, score it.

`run_bench` is what `workbench bench` (and the TUI) runs: resolve the model offline,
transcribe into the run store (resuming an interrupted run with the same configuration),
then score through the one evaluation path: WER/CER per slice on speech clips,
language-ID accuracy per slice, and hallucination on no-speech clips.
`run_parity` decodes the same utterances with two backends and compares them.
"""

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib.resources import files

from .backends import DEFAULT_BACKEND, DecodingOptions, create_backend
from .dataset import Problem, default_slice_columns
from .diagnostics import HallucinationScore, LanguageIdScore, hallucination, language_id
from .environment import environment, git_commit
from .errors import BadInputError, CancelledError
from .evaluation import Evaluation, EvaluationOptions, Thresholds, check_thresholds, evaluate
from .normalizers import get_normalizer
from .runstore import DEFAULT_WORKSPACE, RunStore
from .scoring import scorecard_to_dict
from .service import DataSelection, Progress, SelectedData, finish_scored_run, select_data
from .transcription import TranscriptionStats, transcribe_into_run

__all__ = ["BenchRequest", "BenchResult", "run_bench", "ParityResult", "run_parity", "demo_manifest"]


def demo_manifest() -> str:
    """The embedded demo corpus (synthetic speech), or the mini example if it is absent."""
    demo = files("workbench") / "examples" / "demo" / "manifest.csv"
    if demo.is_file():
        return str(demo)
    return str(files("workbench") / "examples" / "mini" / "manifest.csv")


@dataclass(frozen=True)
class BenchRequest:
    selection: DataSelection
    model: str = "base"  # tiny.en, base, a local CT2/HF directory, a .pt, or a hub id
    backend: str = DEFAULT_BACKEND
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    evaluation: EvaluationOptions = field(default_factory=EvaluationOptions)  # empty slice_columns -> defaults
    thresholds: Thresholds = field(default_factory=Thresholds)
    workspace: str = DEFAULT_WORKSPACE
    resume: bool = True  # continue the latest unfinished run with the same configuration
    # Use the latest SUCCEEDED run with the same configuration and held-out utterances
    # instead of decoding again (comparisons and escalation: the baseline is decoded once).
    reuse: bool = False
    limit: int | None = None  # only the first N held-out utterances (quick looks)
    strategy: str = "baseline"  # a decode-time strategy (strategies registry), or baseline
    lexicon: str | None = None  # lexicon file for strategies that need one


@dataclass(frozen=True)
class BenchResult:
    run_id: str
    resumed_from: int  # utterances already stored when this call started
    evaluation: Evaluation  # speech clips only
    language_id: tuple[LanguageIdScore, ...]
    hallucination: HallucinationScore
    failed: tuple[Problem, ...]  # clips that could not be decoded (excluded from scores)
    data: SelectedData
    missed: tuple[str, ...]
    stats: TranscriptionStats
    report: dict


def _config(request: BenchRequest, model_name: str, columns) -> dict:
    config = {
        "command": "bench",
        "data": request.selection.data,
        "test": request.selection.test,
        "part": request.selection.part,
        "load_options": asdict(request.selection.load),
        "split_options": asdict(request.selection.split),
        "model": model_name,
        "backend": request.backend,
        "decoding": request.decoding.to_dict(),
        "normalizer": get_normalizer(request.evaluation.normalizer).id,
        "slice_columns": list(columns),
        "bootstrap": asdict(request.evaluation.bootstrap),
        "limit": request.limit,
        "strategy": request.strategy,
        "lexicon": request.lexicon,
        "lexicon_sha256": _file_sha256(request.lexicon) if request.lexicon else None,
    }
    # Through JSON and back: exactly what the run store holds, so a resumed run's stored
    # configuration compares equal (tuples come back as lists).
    return json.loads(json.dumps(config, sort_keys=True))


def _file_sha256(path: str) -> str:
    import hashlib
    from pathlib import Path

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _decode_overrides(request: BenchRequest):
    """Per-utterance decoding fields from a decode-time strategy (None for the baseline)."""
    if request.strategy == "baseline":
        return None
    import strategies

    info = strategies.get(request.strategy)
    if info.stage != "decode":
        raise BadInputError(f"strategy {request.strategy!r} does not change decoding; it runs on a decoded run")
    lexicon = None
    if request.lexicon:
        from .lexicon import load_lexicon

        lexicon = load_lexicon(request.lexicon)
    strategy = info.factory(info.config_type(), lexicon)
    return lambda u: strategy.decode_overrides(u.language, request.backend)


def _latest_run(store: RunStore, config: dict, statuses: tuple[str, ...], identity: str | None = None, size: int | None = None) -> str | None:
    """The newest bench run with this exact configuration and one of these statuses (and,
    when given, this held-out identity and size)."""
    for record in store.runs(limit=200):
        if (record.kind == "bench" and record.config == config and record.effective_status in statuses
                and (identity is None or (record.heldout_id == identity and record.heldout_size == size))):
            return record.id
    return None


def run_bench(request: BenchRequest, progress: Progress | None = None, cancel: threading.Event | None = None) -> BenchResult:
    from .models import resolve_model

    data = select_data(request.selection, progress)
    utterances = data.utterances[: request.limit] if request.limit else data.utterances
    if not utterances:
        raise BadInputError(f"{request.selection.test or request.selection.data}: no valid held-out utterances to transcribe")
    columns = request.evaluation.slice_columns or default_slice_columns(utterances, data.slice_columns)
    unknown = [c for c in columns if c not in data.slice_columns]
    if unknown:
        raise BadInputError(f"--slices: unknown column {unknown[0]!r} (the data has: {', '.join(data.slice_columns) or 'none'})")
    config = _config(request, request.model, columns)
    model = resolve_model(request.model, request.backend, progress)
    from .split import heldout_identity

    identity = data.split.heldout_id if utterances == data.split.heldout else heldout_identity(utterances)
    with RunStore(request.workspace) as store:
        if request.reuse and (done := _latest_run(store, config, ("succeeded",), identity, len(utterances))):
            stored = TranscriptionStats(len(utterances), len(utterances), 0, (), 0.0, 0.0)
            return _score(store, done, utterances, columns, request, data, stored)
        run_id = _latest_run(store, config, ("interrupted", "cancelled", "failed")) if request.resume else None
        if run_id:
            store.reopen_run(run_id)
        else:
            run_id = store.begin_run("bench", config, environment(), identity, len(utterances), config["normalizer"], git_commit())
        try:
            overrides = _decode_overrides(request)
            backend = create_backend(request.backend, model, request.decoding)
            stats = transcribe_into_run(store, run_id, utterances, backend, request.selection.load.preprocessing, progress, cancel, overrides)
            result = _score(store, run_id, utterances, columns, request, data, stats)
        except (KeyboardInterrupt, CancelledError) as exc:
            store.end_run(run_id, "cancelled", str(exc) or "interrupted by the user")
            kept = len(store.hypotheses(run_id))
            raise CancelledError(f"run {run_id} cancelled; finished utterances are kept — run the same command again to resume",
                                 run_id=run_id, kept=kept) from None
        except BaseException as exc:
            store.end_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
    return result


def _score(store: RunStore, run_id: str, utterances, columns, request: BenchRequest, data: SelectedData, stats: TranscriptionStats) -> BenchResult:
    started = time.perf_counter()
    stored = {h.utterance_id: h for h in store.hypotheses(run_id)}
    errors = {i: h.extra["error"] for i, h in stored.items() if h.extra and "error" in h.extra}
    failed = tuple(
        Problem(u.audio.describe(), u.row, errors[u.id], field="audio", utterance_id=u.id) for u in utterances if u.id in errors
    )
    usable = [u for u in utterances if u.id in stored and u.id not in errors]
    speech = [u for u in usable if not u.no_speech]
    silent = [u for u in usable if u.no_speech]
    hyps = {i: h.hypothesis for i, h in stored.items()}
    options = EvaluationOptions(request.evaluation.normalizer, tuple(columns), request.evaluation.bootstrap)
    if not speech:
        raise BadInputError(f"run {run_id}: no speech utterance could be transcribed")
    evaluation = evaluate(speech, hyps, options)
    signals = {i: (h.extra or {}) for i, h in stored.items()}
    lid = tuple(language_id(speech, signals, columns))
    halluc = hallucination(silent, hyps)
    missed = tuple(check_thresholds(evaluation.normalized, request.thresholds))
    timings = {
        "transcribe_s": round(stats.wall_s, 3),
        "audio_s": round(stats.audio_s, 3),
        "real_time_factor": round(stats.wall_s / stats.audio_s, 4) if stats.audio_s else None,
        "score_s": round(time.perf_counter() - started, 3),
    }
    summary = {
        "utterances": len(utterances),
        "speech_scored": len(speech),
        "no_speech_clips": len(silent),
        "failed": len(failed),
        "language_id_accuracy": lid[0].accuracy if lid else None,
        "hallucination_rate": halluc.rate,
    }
    record = finish_scored_run(store, run_id, evaluation, missed, timings, summary)
    report = {
        "run_id": run_id,
        "kind": "bench",
        "created_at": record.created_at,
        "status": record.status,
        "synthetic_data": request.selection.data == demo_manifest(),
        "heldout_id": record.heldout_id,
        "model": request.model,
        "backend": request.backend,
        "decoding": request.decoding.to_dict(),
        "data": {
            "sources": [d.source for d in data.datasets],
            "utterances": len(utterances),
            "speech_scored": len(speech),
            "no_speech_clips": len(silent),
            "failed": [str(p) for p in failed],
            "excluded_rows": sum(d.excluded for d in data.datasets),
            "problems": [str(p) for p in data.problems],
            "split": {"method": data.split.method, "train": len(data.split.train), "heldout": len(data.split.heldout), "notes": list(data.split.notes)},
        },
        "normalizer": {"id": evaluation.normalized.normalizer, "description": get_normalizer(options.normalizer).description},
        "thresholds": {**asdict(request.thresholds), "missed": list(missed)},
        "language_id": [asdict(s) | {"accuracy": s.accuracy} for s in lid],
        "hallucination": asdict(halluc) | {"rate": halluc.rate},
        "config": record.config,
        "environment": record.environment,
        "git_commit": record.git_commit,
        "timings": timings,
        "scores": {"normalized": scorecard_to_dict(evaluation.normalized), "raw": scorecard_to_dict(evaluation.raw)},
    }
    return BenchResult(run_id, stats.resumed, evaluation, lid, halluc, failed, data, missed, stats, report)


@dataclass(frozen=True)
class ParityResult:
    runs: tuple[BenchResult, BenchResult]
    wer_difference: float  # second minus first, normalized WER (fraction)
    disagreements: tuple[tuple[str, str, str, str], ...]  # (utterance id, reference, first, second) normalized


def run_parity(request: BenchRequest, backends: tuple[str, str], progress: Progress | None = None, cancel=None) -> ParityResult:
    """The same utterances, model and decoding options through two backends."""
    from dataclasses import replace

    first = run_bench(replace(request, backend=backends[0]), progress, cancel)
    second = run_bench(replace(request, backend=backends[1]), progress, cancel)
    normalizer = get_normalizer(request.evaluation.normalizer)
    with RunStore(request.workspace) as store:
        a = {h.utterance_id: h for h in store.hypotheses(first.run_id)}
        b = {h.utterance_id: h for h in store.hypotheses(second.run_id)}
    disagreements = []
    for utt_id, h in a.items():
        if utt_id not in b:
            continue
        language = h.slices.get("language")
        x, y = normalizer(h.hypothesis, language), normalizer(b[utt_id].hypothesis, language)
        if x != y:
            disagreements.append((utt_id, normalizer(h.reference, language), x, y))
    diff = (second.evaluation.normalized.overall.wer or 0.0) - (first.evaluation.normalized.overall.wer or 0.0)
    return ParityResult((first, second), diff, tuple(disagreements))
