"""The baseline benchmark: transcribe the held-out part with a Whisper model, score it.

`run_bench` is what `workbench bench` (and the TUI, comparisons and escalation) runs:
resolve the model offline, claim a run by its identity (`workbench.runs`: reuse an
identical finished run, resume an identical unfinished one, or begin one), transcribe into
the run store, then score through the one path (`workbench.runs.scoring`): WER/CER per
slice on speech clips with a hypothesis, language-ID accuracy per slice, and hallucination
on no-speech clips; failed decodes and missing hypotheses are counted, never scored.
`run_parity` decodes the same utterances with two backends and compares them.
"""

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib.resources import files

from .backends import DEFAULT_BACKEND, DecodingOptions, create_backend
from .dataset import Problem, default_slice_columns
from .diagnostics import HallucinationScore, LanguageIdScore
from .engine import DecoderSpec, Engine, EngineOptions, LocalEngine, open_decoder
from .errors import BadInputError, NotStoredError
from .evaluation import Evaluation, EvaluationOptions, Thresholds
from .normalizers import get_normalizer
from .runs import Claim, Coverage, claim, code_version, file_sha256, guarded, make_identity, rows_fingerprint, score_stored, store_scores
from .runstore import DEFAULT_WORKSPACE, RunStore, StoredHypothesis
from .service import DataSelection, Progress, SelectedData, data_facts, no_utterances_message, select_data
from .transcription import TranscriptionStats, transcribe_into_run
from .slicing import unknown_columns

__all__ = ["BenchRequest", "BenchResult", "run_bench", "open_engine", "ParityResult", "run_parity", "demo_manifest", "longform_manifest"]


def demo_manifest() -> str:
    """The embedded demo corpus (synthetic speech), or the mini example if it is absent."""
    demo = files("workbench") / "examples" / "demo" / "manifest.csv"
    if demo.is_file():
        return str(demo)
    return str(files("workbench") / "examples" / "mini" / "manifest.csv")


def longform_manifest() -> str:
    """The embedded long-form demo: three ~3-minute recordings built from demo clips, with SRT references."""
    return str(files("workbench") / "examples" / "longform" / "manifest.csv")


@dataclass(frozen=True)
class BenchRequest:
    selection: DataSelection
    model: str = "base"  # tiny.en, base, a local CT2/HF directory, a .pt, or a hub id
    backend: str = DEFAULT_BACKEND
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    evaluation: EvaluationOptions = field(default_factory=EvaluationOptions)  # empty slice_columns -> defaults
    thresholds: Thresholds = field(default_factory=Thresholds)
    workspace: str = DEFAULT_WORKSPACE
    resume: bool = True  # continue an unfinished run with the same identity
    # Use a SUCCEEDED run with the same identity instead of decoding again (comparisons and
    # escalation: the baseline is decoded once). The identity covers data, split, model
    # weights, backend, decoding options as applied, strategy config, normalizer and code.
    reuse: bool = False
    # Only an identical finished run may answer (NotStoredError otherwise): for readers of
    # stored figures (scripts/readme_figures.py --check) that must never start decoding.
    stored_only: bool = False
    limit: int | None = None  # only the first N held-out utterances (quick looks)
    strategy: str = "baseline"  # a decode-time strategy (strategies registry), or baseline
    lexicon: str | None = None  # lexicon file for strategies that need one
    strategy_options: tuple[tuple[str, str], ...] = ()  # --set key=value for the strategy's config
    rung: str | None = None  # the escalation rung this run evaluates (recorded, part of the identity)
    # Where decoding happens: this process (default) or Ray workers. Recorded in the config
    # and the report, NOT in the identity: both engines give identical transcripts
    # (workbench/engine.py says why and what is checked), so either may resume or reuse a run.
    engine: EngineOptions = field(default_factory=EngineOptions)


@dataclass(frozen=True)
class BenchResult:
    run_id: str
    resumed_from: int  # utterances already stored when this call started
    evaluation: Evaluation  # speech clips with a hypothesis only (see `coverage`)
    language_id: tuple[LanguageIdScore, ...]
    hallucination: HallucinationScore
    failed: tuple[Problem, ...]  # clips that could not be decoded (excluded from scores)
    data: SelectedData
    missed: tuple[str, ...]
    stats: TranscriptionStats
    report: dict
    coverage: Coverage | None = None  # what WER covers and what it does not
    claim: str = "new"  # new | resumed | reused


def _strategy(request: BenchRequest):
    """(the decode-time strategy object or None, its full config, its lexicon, the spec of
    its first pass or None). `strategy` names one decode-time strategy or several that
    combine ('nbest+bias')."""
    if request.strategy == "baseline":
        return None, {}, None, None  # options are for the strategies run beside it (checked up front)
    import strategies

    infos = strategies.parse(request.strategy)
    posts = [i.name for i in infos if i.stage != "decode"]
    if posts:
        raise BadInputError(f"strategy {posts[0]!r} does not change decoding; it runs on a decoded run")
    lexicon = None
    if request.lexicon:
        from .lexicon import load_lexicon

        lexicon = load_lexicon(request.lexicon)
    pipeline = strategies.build(request.strategy, dict(request.strategy_options), lexicon)
    config = {s.info.name: asdict(s.config) for s in pipeline.steps}
    decoder, first_spec = pipeline.decode, None
    if getattr(decoder, "first_pass", False):
        # The first pass: the plain decoding, or (a two-pass strategy's first_pass="rest")
        # the same decoding without what decodes again ('bias+nbest': the n-best run).
        rest = [s.info.name for s in pipeline.steps if not getattr(s.strategy, "first_pass", False)]
        two_pass = [s for s in pipeline.steps if getattr(s.strategy, "first_pass", False)]
        first_spec = "+".join(rest) if rest and all(getattr(s.config, "first_pass", "plain") == "rest" for s in two_pass) else "baseline"
    # One strategy's config as before (identities of existing runs stay the same).
    return decoder, (next(iter(config.values())) if len(config) == 1 else config), lexicon, first_spec


def _first_pass(request: BenchRequest, decoder, spec: str, utterances, progress, cancel):
    """For a strategy that decodes again only what its first pass calls for (targeted
    biasing): the first pass is the decoding of the same data by the rest of the spec
    (plain decoding, or n-best for 'bias+nbest'; a stored one is reused), and each
    utterance either keeps it or gets the fields it is decoded again with. Returns
    (first-pass run id, its identity, {id: fields}, {id: row kept})."""
    from dataclasses import replace

    import strategies

    lexicon = request.lexicon if spec != "baseline" and strategies.needs_lexicon(spec) else None
    first = run_bench(replace(request, strategy=spec, lexicon=lexicon, rung=None, reuse=True), progress, cancel)
    with RunStore(request.workspace) as store:
        rows = {h.utterance_id: h for h in store.hypotheses(first.run_id)}
        identity = store.run(first.run_id).identity
    again: dict[str, dict] = {}
    kept: dict[str, StoredHypothesis] = {}
    for u in utterances:
        row = rows.get(u.id)
        extra = dict(row.extra or {}) if row is not None else {}
        fields = None
        if row is not None and "error" not in extra:
            fields = decoder.second_pass(u.language, request.backend, row.hypothesis, extra)
        if fields is None and row is not None:
            kept[u.id] = StoredHypothesis(u.id, u.reference, row.hypothesis, dict(u.slices),
                                          {**extra, "first_pass": first.run_id, "decoded_again": False})
        else:
            again[u.id] = fields or {}
    return first.run_id, identity, again, kept


def strategy_config(info, options: tuple[tuple[str, str], ...]):
    """The strategy's config dataclass with --set overrides applied (typed by the registry)."""
    import strategies

    if hasattr(strategies, "make_config"):
        return strategies.make_config(info.name, dict(options))
    if options:
        raise BadInputError(f"--set: strategy {info.name!r} takes no options here")
    return info.config_type()


def open_engine(spec: DecoderSpec, options: EngineOptions, progress: Progress | None = None, create=None) -> Engine:
    """The engine `options` names, ready to decode `spec`: this process's backend, or Ray
    workers (`workbench.ray_engine`, the only module that imports Ray, and only here)."""
    if options.name == "local":
        backend, facts = open_decoder(spec, progress, create)
        return LocalEngine(backend, facts, spec.preprocessing)
    from .ray_engine import RayEngine

    return RayEngine(spec, options, progress)


def run_bench(request: BenchRequest, progress: Progress | None = None, cancel: threading.Event | None = None) -> BenchResult:
    from .split import heldout_identity

    data = select_data(request.selection, progress)
    _refuse_reference_only(data)
    utterances = data.utterances[: request.limit] if request.limit else data.utterances
    if not utterances:
        raise BadInputError(no_utterances_message(request.selection, data))
    columns = request.evaluation.slice_columns or default_slice_columns(utterances, data.slice_columns)
    unknown = unknown_columns(columns, data.slice_columns)
    if unknown:
        raise BadInputError(f"--slices: unknown column {unknown[0]!r} (the data has: {', '.join(data.slice_columns) or 'none'})")
    decoder, strategy_cfg, lexicon, first_spec = _strategy(request)
    overrides = (lambda u: decoder.decode_overrides(u.language, request.backend)) if decoder is not None else None
    first_pass = None  # (run id, identity) of the first pass a two-pass strategy builds on
    kept: dict = {}
    if decoder is not None and getattr(decoder, "first_pass", False):
        first_run, first_identity, again, kept = _first_pass(request, decoder, first_spec, utterances, progress, cancel)
        first_pass = (first_run, first_identity)
        overrides = lambda u: again.get(u.id, {})  # noqa: E731
    spec = DecoderSpec(request.backend, request.model, request.decoding, request.selection.load.preprocessing)
    # `create_backend` looked up here, so a caller may swap in cached backends (benchmarks/bench_transcription.py).
    engine = open_engine(spec, request.engine, progress, create=lambda *a: create_backend(*a))
    decoding = engine.facts.decoding
    # The weights by content: the same weights in another folder are the same model.
    weights = (decoding.get("model") or {}).get("sha256")
    decoding_identity = {k: v for k, v in decoding.items() if k != "model"}
    heldout = data.split.heldout_id if utterances == data.split.heldout else heldout_identity(utterances)
    normalizer = get_normalizer(request.evaluation.normalizer).id
    lexicon_info = lexicon_record(request.lexicon, lexicon) if request.lexicon and request.strategy != "baseline" else None
    identity = make_identity({
        "kind": "decode",
        "rows": rows_fingerprint(utterances),
        "heldout_id": heldout,
        "split_heldout_id": data.split.heldout_id,
        "part": request.selection.part,
        "strategy": {"name": request.strategy, "config": strategy_cfg,
                     "lexicon_sha256": lexicon_info["sha256"] if lexicon_info else None,
                     **({"first_pass": first_pass[1]} if first_pass else {})},
        "model": {"name": request.model, "weights": weights},
        "backend": request.backend,
        "decoding": decoding_identity,
        "normalizer": normalizer,
        "rung": request.rung,
        "code": code_version(),
        # The int8/float kernels round differently per instruction set (benchmarks/README.md):
        # a run made with other kernels is other transcripts, so never reused or resumed.
        "kernels": engine.facts.kernels,
    })
    config = {**_config(request, columns, decoding, lexicon_info), "engine": engine.record()}
    if first_pass:
        config["first_pass_run"] = first_pass[0]
    with RunStore(request.workspace) as store:
        if request.stored_only:
            claimed = Claim(_stored_run(store, request, identity), "reused")
        else:
            claimed = claim(store, "bench", identity, config, heldout, len(utterances), normalizer,
                            reuse=request.reuse, resume=request.resume)
        if claimed.how == "reused":
            stored = TranscriptionStats(len(utterances), len(utterances), 0, (), 0.0, 0.0)
            return _score(store, claimed, utterances, columns, request, data, stored)
        with guarded(store, claimed.run_id):
            stats = transcribe_into_run(store, claimed.run_id, utterances, None, request.selection.load.preprocessing,
                                        progress, cancel, overrides, engine=engine, kept=kept)
            result = _score(store, claimed, utterances, columns, request, data, stats)
            result.report["engine"] = engine.record()  # the engine of this call (the config keeps the one that began the run)
            return result


def _stored_run(store: RunStore, request: BenchRequest, identity) -> str:
    """The newest finished run identical to `identity` in everything but the code version
    that made it (readers of stored figures accept a run made by an earlier commit; the
    run id says which), or NotStoredError: stored results only, nothing is decoded."""
    wanted = {k: v for k, v in identity.to_dict()["parts"].items() if k != "code"}
    for record in store.runs():
        if record.kind != "bench" or record.status != "succeeded":
            continue
        if record.identity == identity.digest:
            return record.id
        parts = ((record.config or {}).get("identity") or {}).get("parts") or {}
        if {k: v for k, v in parts.items() if k != "code"} == wanted:
            return record.id
    raise NotStoredError(f"no finished {request.strategy} run of {request.model} on these utterances is stored in "
                         f"{request.workspace} (stored results only: nothing was decoded)")


def _refuse_reference_only(data: SelectedData) -> None:
    """An SCTK reference file (trn/stm/ctm) is a dataset without audio: it can be scored
    against (`workbench score`), never decoded."""
    from .sctk_import import is_sctk_file

    for dataset in data.datasets:
        if is_sctk_file(dataset.source):
            raise BadInputError(f"{dataset.source}: an SCTK reference file holds no audio to decode; score a system's "
                                f"hypotheses against it with `workbench score --data {dataset.source} --hyp HYPOTHESES`")


def lexicon_record(path: str, lexicon=None) -> dict:
    """What a run keeps of its lexicon: where it was, its content hash and its terms, so the
    report can measure the terms even after the file moved or changed."""
    from pathlib import Path

    if lexicon is None:
        from .lexicon import load_lexicon

        lexicon = load_lexicon(path)
    return {
        "path": str(Path(path).resolve()),
        "sha256": file_sha256(path),
        "terms": [[t.text, t.language or ""] for t in lexicon.terms],
    }


def _config(request: BenchRequest, columns, decoding: dict, lexicon_info: dict | None) -> dict:
    config = {
        "command": "bench",
        "data": request.selection.data,
        "test": request.selection.test,
        "part": request.selection.part,
        "load_options": asdict(request.selection.load),
        "split_options": asdict(request.selection.split),
        "model": request.model,
        "backend": request.backend,
        "decoding": decoding,
        "normalizer": get_normalizer(request.evaluation.normalizer).id,
        "slice_columns": list(columns),
        "bootstrap": asdict(request.evaluation.bootstrap),
        "limit": request.limit,
        "strategy": request.strategy,
        "strategy_options": [list(kv) for kv in request.strategy_options],
        "lexicon": lexicon_info["path"] if lexicon_info else None,
        "lexicon_sha256": lexicon_info["sha256"] if lexicon_info else None,
        "lexicon_snapshot": lexicon_info,
        "rung": request.rung,
    }
    # Through JSON and back: exactly what the run store holds.
    return json.loads(json.dumps(config, sort_keys=True))


def _score(store: RunStore, claimed: Claim, utterances, columns, request: BenchRequest, data: SelectedData,
           stats: TranscriptionStats) -> BenchResult:
    """Score the run's stored hypotheses through the one path and finish the run."""
    run_id = claimed.run_id
    started = time.perf_counter()
    options = EvaluationOptions(request.evaluation.normalizer, tuple(columns), request.evaluation.bootstrap)
    by_id = {u.id: u for u in utterances}
    scores = score_stored(store.hypotheses(run_id), options, request.thresholds, [u.id for u in utterances], f"run {run_id}")
    failed = tuple(Problem(by_id[i].audio.describe(), by_id[i].row, why, field="audio", utterance_id=i)
                   for i, why in scores.coverage.failed)
    timings = {
        "transcribe_s": round(stats.wall_s, 3),
        "audio_s": round(stats.audio_s, 3),
        "real_time_factor": round(stats.wall_s / stats.audio_s, 4) if stats.audio_s else None,
        "score_s": round(time.perf_counter() - started, 3),
    }
    store_scores(store, run_id, scores, timings if claimed.how != "reused" else store.run(run_id).timings,
                 {"utterances": len(utterances)})
    record = store.run(run_id)
    report = {
        "run_id": run_id,
        "kind": "bench",
        "claim": claimed.how,
        "created_at": record.created_at,
        "status": record.status,
        "synthetic_data": request.selection.data == demo_manifest(),
        "heldout_id": record.heldout_id,
        "identity": (record.config or {}).get("identity"),
        "model": request.model,
        "backend": request.backend,
        "decoding": (record.config or {}).get("decoding"),
        "data": {**data_facts(data, len(utterances)), "failed": [str(p) for p in failed]},
        "thresholds": {**asdict(request.thresholds), "missed": list(scores.missed)},
        "config": record.config,
        "environment": record.environment,
        "git_commit": record.git_commit,
        "timings": timings,
        **scores.to_dict(),
    }
    return BenchResult(run_id, stats.resumed, scores.evaluation, scores.language_id, scores.hallucination, failed, data,
                       scores.missed, stats, report, scores.coverage, claimed.how)


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
