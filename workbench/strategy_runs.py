"""Compare adaptation strategies side by side, all scored by the one evaluation path.

Each decode-time component (the baseline's plain decoding, or a prompt) is one bench run,
decoded once and cached in the run store. Post-processing strategies (lexicon
correction) start from the stored transcripts of the run they build on and write a
derived run: they never re-decode. Every run is then scored identically (WER/CER per
slice, language ID, hallucination on no-speech clips), plus term recall and precision,
over-correction and a paired WER change against the baseline per slice.

Misrecognitions can be mined from the TRAIN part only (baseline transcripts of the train
utterances aligned with their references): the held-out part never informs a strategy.
"""

import time
from dataclasses import dataclass, replace

import strategies

from .bench import BenchRequest, BenchResult, _score, run_bench
from .environment import environment, git_commit
from .errors import BadInputError, CancelledError
from .normalizers import get_normalizer
from .runstore import RunStore, StoredHypothesis
from .significance import Delta, paired_deltas
from .terms import OverCorrection, TermScore, over_corrections, term_scores
from .transcription import TranscriptionStats

__all__ = ["ComparisonRequest", "StrategyOutcome", "Comparison", "run_comparison", "post_process_hypotheses"]


@dataclass(frozen=True)
class ComparisonRequest:
    bench: BenchRequest  # data, model, backend, decoding, evaluation options
    strategies: tuple[str, ...] = ("baseline", "lexicon", "prompt", "lexicon+prompt")
    lexicon: str | None = None
    mine: bool = False  # learn misrecognitions from baseline transcripts of the train part


@dataclass(frozen=True)
class StrategyOutcome:
    spec: str
    result: BenchResult  # the run and its scores
    terms: tuple[TermScore, ...]
    deltas: tuple[Delta, ...]  # paired WER change vs the baseline, per slice
    over: tuple[OverCorrection, ...]  # vs the baseline, per slice
    replacements: int  # corrections made by post-processing strategies


@dataclass(frozen=True)
class Comparison:
    outcomes: tuple[StrategyOutcome, ...]
    mined: dict  # term -> misrecognitions learned from the train part
    suggestions: tuple  # (word, count): terms the lexicon may be missing
    train_run: str | None


def run_comparison(request: ComparisonRequest, progress=None, cancel=None) -> Comparison:
    specs = tuple(dict.fromkeys(("baseline",) + tuple(request.strategies)))  # the baseline always runs
    parsed = {spec: strategies.parse(spec) for spec in specs}
    lexicon = None
    if request.lexicon:
        from .lexicon import load_lexicon

        lexicon = load_lexicon(request.lexicon)
    elif any(i.name != "baseline" for infos in parsed.values() for i in infos):
        raise BadInputError("--lexicon: the lexicon and prompt strategies need a lexicon file")
    mined, suggestions, train_run = {}, (), None
    if request.mine and lexicon is not None:
        mined, suggestions, train_run = _mine(request, lexicon, progress, cancel)
        lexicon = lexicon.with_misrecognitions(mined)

    decoded: dict[str, BenchResult] = {}
    outcomes = []
    for spec in specs:
        infos = parsed[spec]
        decode = next((i.name for i in infos if i.stage == "decode"), "baseline")
        if decode not in decoded:
            # Decoded once: an identical succeeded run (same model, options, data) is reused unless --fresh.
            lexicon_file = request.lexicon if decode != "baseline" else None  # the baseline does not depend on it
            decoded[decode] = run_bench(replace(request.bench, strategy=decode, lexicon=lexicon_file, reuse=request.bench.resume), progress, cancel)
        posts = [i for i in infos if i.stage == "post"]
        if posts:
            result, replaced = _post_process(request, spec, decoded[decode], posts, lexicon)
        else:
            result, replaced = decoded[decode], 0
        outcomes.append((spec, result, replaced))

    baseline = outcomes[0][1]
    return Comparison(tuple(_measure(request, spec, result, baseline, lexicon, replaced) for spec, result, replaced in outcomes), mined, suggestions, train_run)


def _mine(request: ComparisonRequest, lexicon, progress, cancel):
    from strategies.lexicon_correction import mine_misrecognitions, suggest_terms

    # The same --limit as the held-out part (a quick look stays quick); reused when already decoded.
    train = run_bench(replace(request.bench, selection=replace(request.bench.selection, part="train"), strategy="baseline",
                              reuse=request.bench.resume), progress, cancel)
    with RunStore(request.bench.workspace) as store:
        pairs = [(h.reference, h.hypothesis, h.slices.get("language")) for h in store.hypotheses(train.run_id) if h.reference]
    # A mined misrecognition is replaced on sight, so only spans clearly like the term are kept.
    return mine_misrecognitions(pairs, lexicon, min_similarity=65), tuple(suggest_terms(pairs, lexicon)), train.run_id


def post_process_hypotheses(hypotheses, steps, progress=None, stage: str = "post-processing") -> tuple[list[StoredHypothesis], int]:
    """Stored transcripts rewritten by post-processing steps, in order, each change recorded
    (`replacements`) beside the transcript it started from (`baseline_hypothesis`); clips
    that failed to decode are left as they are. Returns (rows, replacements made)."""
    rows, replaced = [], 0
    hypotheses = list(hypotheses)
    for k, h in enumerate(hypotheses):
        text, extra, made = h.hypothesis, dict(h.extra or {}), []
        if "error" not in extra:
            for step in steps:
                text, changes = step.postprocess(text, h.slices.get("language"))
                made.extend(changes)
        replaced += len(made)
        extra["replacements"], extra["baseline_hypothesis"] = made, h.hypothesis
        rows.append(StoredHypothesis(h.utterance_id, h.reference, text, h.slices, extra))
        if progress:
            progress(stage, k + 1, len(hypotheses))
    return rows, replaced


def _post_process(request: ComparisonRequest, spec: str, base: BenchResult, posts, lexicon) -> tuple[BenchResult, int]:
    bench = request.bench
    steps = [info.factory(info.config_type(), lexicon) for info in posts]
    with RunStore(bench.workspace) as store:
        base_record = store.run(base.run_id)
        config = {
            **base_record.config,
            "command": "strategy",
            "strategy": spec,
            "base_run": base.run_id,
            "lexicon_terms": len(lexicon.terms) if lexicon is not None else 0,
            "mined_misrecognitions": sum(len(t.misrecognitions) for t in lexicon.terms) if lexicon is not None else 0,
        }
        run_id = store.begin_run("strategy", config, environment(), base_record.heldout_id, base_record.heldout_size, base_record.normalizer, git_commit())
        try:
            started = time.perf_counter()
            rows, replaced = post_process_hypotheses(store.hypotheses(base.run_id), steps)
            store.add_hypotheses(run_id, rows)
            utterances = base.data.utterances[: bench.limit] if bench.limit else base.data.utterances
            stats = TranscriptionStats(len(rows), 0, 0, (), 0.0, time.perf_counter() - started)
            result = _score(store, run_id, utterances, list(base.evaluation.options.slice_columns), bench, base.data, stats)
        except (KeyboardInterrupt, CancelledError):
            store.end_run(run_id, "cancelled", "interrupted by the user")
            raise
        except BaseException as exc:
            store.end_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
    return result, replaced


def _measure(request, spec, result: BenchResult, baseline: BenchResult, lexicon, replaced) -> StrategyOutcome:
    columns = result.evaluation.options.slice_columns
    normalizer = get_normalizer(result.evaluation.options.normalizer)
    with RunStore(request.bench.workspace) as store:
        hyps = {h.utterance_id: h.hypothesis for h in store.hypotheses(result.run_id)}
        base_hyps = {h.utterance_id: h.hypothesis for h in store.hypotheses(baseline.run_id)}
    speech_ids = {s.id for s in result.evaluation.per_utterance}
    items = [u for u in result.data.utterances if u.id in speech_ids]
    terms: tuple[TermScore, ...] = ()
    if lexicon is not None:
        terms = tuple(term_scores(items, hyps, lambda lang: [t.text for t in lexicon.for_language(lang).terms], normalizer, columns))
    slices_by_id = {u.id: u.slices for u in items}
    deltas = tuple(paired_deltas(baseline.evaluation.per_utterance, result.evaluation.per_utterance, slices_by_id, columns, result.evaluation.options.bootstrap))
    over = tuple(over_corrections(items, base_hyps, hyps, normalizer, columns))
    return StrategyOutcome(spec, result, terms, deltas, over, replaced)
