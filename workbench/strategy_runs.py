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

from dataclasses import dataclass, replace

import strategies

from .bench import BenchRequest, BenchResult, lexicon_record, run_bench, strategy_config
from .dataset import Problem
from .errors import BadInputError
from .normalizers import get_normalizer
from .runs import derive_run, post_process_hypotheses
from .runstore import RunStore
from .significance import Delta, paired_deltas
from .terms import OverCorrection, TermScore, over_corrections, term_scores
from .transcription import TranscriptionStats

__all__ = ["ComparisonRequest", "StrategyOutcome", "Comparison", "run_comparison", "post_process_hypotheses", "longform_side_by_side",
           "run_cost"]


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
    cost: dict | None = None  # what the strategy's transcripts cost to make (`run_cost`), with the post-processing
    # steps' own cost (`runs.cost_summary`: seconds, LM tokens, refused edits) as post_* keys
    # The same paired WER change and over-correction against the lexicon layer alone (when
    # the comparison ran `lexicon`), so a rung above it shows what it adds beyond it.
    versus: str | None = None
    versus_deltas: tuple[Delta, ...] = ()
    versus_over: tuple[OverCorrection, ...] = ()


@dataclass(frozen=True)
class Comparison:
    outcomes: tuple[StrategyOutcome, ...]
    mined: dict  # term -> misrecognitions learned from the train part
    suggestions: tuple  # (word, count): terms the lexicon may be missing
    train_run: str | None
    lexicon_problems: tuple = ()  # rows of the lexicon file that were dropped or flagged (Problem)
    # accent (or language, without an accent column) -> misrecognitions learned from its
    # train-part utterances alone: whose mishearings the lexicon now knows
    mined_by_accent: tuple[tuple[str, int], ...] = ()

    @property
    def data_problems(self) -> tuple:
        """Rows of the data that were excluded or flagged (every strategy ran on the same data)."""
        return self.outcomes[0].result.data.problems if self.outcomes else ()


def run_comparison(request: ComparisonRequest, progress=None, cancel=None) -> Comparison:
    specs = tuple(dict.fromkeys(("baseline",) + tuple(request.strategies)))  # the baseline always runs
    parsed = {spec: strategies.parse(spec) for spec in specs}
    lexicon = lexicon_info = None
    if request.lexicon:
        from .lexicon import load_lexicon

        lexicon = load_lexicon(request.lexicon)
        lexicon_info = lexicon_record(request.lexicon, lexicon)
    elif any(strategies.needs_lexicon(spec) for spec in specs):
        named = ", ".join(spec for spec in specs if strategies.needs_lexicon(spec))
        raise BadInputError(f"--lexicon: {named} need{'s' if ',' not in named else ''} a lexicon file")
    mined, suggestions, train_run, by_accent = {}, (), None, ()
    if request.mine and lexicon is not None:
        mined, suggestions, train_run, by_accent = _mine(request, lexicon, progress, cancel)
        lexicon = lexicon.with_misrecognitions(mined)

    decoded: dict[str, BenchResult] = {}
    outcomes = []
    for spec in specs:
        infos = parsed[spec]
        decode = strategies.decode_spec(spec)
        if decode not in decoded:
            # Decoded once: a run with the same identity (model, options, data, lexicon) is reused unless --fresh.
            # Only a strategy that reads the lexicon depends on it (and on its content hash).
            lexicon_file = request.lexicon if decode != "baseline" and strategies.needs_lexicon(decode) else None
            decoded[decode] = run_bench(replace(request.bench, strategy=decode, lexicon=lexicon_file, reuse=request.bench.resume), progress, cancel)
        posts = [i for i in infos if i.stage == "post"]
        if posts:
            result, replaced = _post_process(request, spec, decoded[decode], posts, lexicon, lexicon_info, progress, cancel)
        else:
            result, replaced = decoded[decode], 0
        outcomes.append((spec, result, replaced))

    baseline = outcomes[0][1]
    layer = next((result for spec, result, _ in outcomes if spec == "lexicon"), None)
    measured = tuple(_measure(request, spec, result, baseline, lexicon, replaced,
                              layer if spec not in ("baseline", "lexicon") else None) for spec, result, replaced in outcomes)
    return Comparison(measured, mined, suggestions, train_run, tuple(getattr(lexicon, "problems", ()) or ()), by_accent)


def longform_side_by_side(comparison: Comparison) -> list[dict] | None:
    """The long recordings' measures of every strategy, side by side: for each, its run's
    long-form totals as scored and stored with it (`RunScores.longform`: whole-recording
    WER, segment WER, words in reference silences, loops, dropped and deleted segments,
    timestamp error), overall and per slice, and the summary of its WER per minute
    (`longform.minute_summary`). None when the data has no long recording."""
    from .longform import RecordingScore, minute_summary

    rows = []
    for o in comparison.outcomes:
        longform = o.result.report.get("longform") or {}
        slices = longform.get("slices") or []
        recordings = [(r["utterance_id"], RecordingScore.from_dict(r)) for r in longform.get("recordings") or []]
        rows.append({"strategy": o.spec, "run_id": o.result.run_id,
                     "overall": next((x for x in slices if x["column"] == "overall"), None),
                     "slices": [x for x in slices if x["column"] != "overall"],
                     "per_minute": minute_summary(recordings) if recordings else None})
    return rows if any(r["overall"] for r in rows) else None


def _mine(request: ComparisonRequest, lexicon, progress, cancel):
    from strategies.lexicon_correction import mine_misrecognitions, suggest_terms

    # The same --limit as the held-out part (a quick look stays quick); reused when already decoded.
    train = run_bench(replace(request.bench, selection=replace(request.bench.selection, part="train"), strategy="baseline",
                              reuse=request.bench.resume), progress, cancel)
    heldout_ids = {u.id for u in train.data.split.heldout}
    with RunStore(request.bench.workspace) as store:
        rows = store.hypotheses(train.run_id)
    leaked = sorted({h.utterance_id for h in rows} & heldout_ids)
    if leaked:  # by construction of the split this cannot happen; checked by id all the same
        raise BadInputError(f"run {train.run_id}: {len(leaked)} train-part utterances are held out (e.g. {leaked[0]!r}); "
                            "mining them would grade the lexicon on its own answers")
    usable = [h for h in rows if h.reference and "error" not in (h.extra or {})]
    pairs = [(h.reference, h.hypothesis, h.slices.get("language")) for h in usable]
    if not pairs:
        raise BadInputError(f"--mine: the train part of {request.bench.selection.data or request.bench.selection.test} has no "
                            "transcribed utterance to learn from (with --test and no --data there is no train part)")
    # A mined misrecognition is replaced on sight, so only spans clearly like the term are kept.
    mined = mine_misrecognitions(pairs, lexicon, min_similarity=65)
    # The same mining, accent by accent: how many of the mishearings each accent's speakers
    # taught the lexicon (an accent that taught it none is one the layer barely serves).
    column = "accent" if any(h.slices.get("accent") for h in usable) else "language"
    groups: dict[str, list] = {}
    for h, pair in zip(usable, pairs):
        groups.setdefault(h.slices.get(column) or "", []).append(pair)
    by_accent = tuple(sorted(((value, sum(len(v) for v in mine_misrecognitions(group, lexicon, min_similarity=65).values()))
                              for value, group in groups.items() if value), key=lambda kv: (-kv[1], kv[0])))
    return mined, tuple(suggest_terms(pairs, lexicon)), train.run_id, by_accent


def _post_process(request: ComparisonRequest, spec: str, base: BenchResult, posts, lexicon, lexicon_info, progress=None,
                  cancel=None) -> tuple[BenchResult, int]:
    from dataclasses import asdict

    bench = request.bench
    # Each step takes the --set / [strategies] options that name it (or a field it has).
    configs = {info.name: strategy_config(info, bench.strategy_options) for info in posts}
    steps = [info.factory(configs[info.name], lexicon) for info in posts]
    with RunStore(bench.workspace) as store:
        derived = derive_run(store, base.run_id, spec, steps, {k: asdict(v) for k, v in configs.items()}, lexicon, lexicon_info,
                             base.evaluation.options, bench.thresholds, progress, cancel)
        record = store.run(derived.run_id)
    scores = derived.scores
    by_id = {u.id: u for u in base.data.utterances}
    failed = tuple(Problem(by_id[i].audio.describe(), by_id[i].row, why, field="audio", utterance_id=i)
                   for i, why in scores.coverage.failed if i in by_id)
    stats = TranscriptionStats(len(derived.rows), 0, 0, (), 0.0, 0.0)
    report = {**base.report, "run_id": derived.run_id, "kind": "strategy", "strategy": spec, "base_run": base.run_id,
              "created_at": record.created_at, "status": record.status, "config": record.config,
              "identity": record.config.get("identity"), "claim": "new", **scores.to_dict()}
    result = BenchResult(derived.run_id, 0, scores.evaluation, scores.language_id, scores.hallucination, failed, base.data,
                         scores.missed, stats, report, scores.coverage, "new")
    return result, derived.replacements


def _measure(request, spec, result: BenchResult, baseline: BenchResult, lexicon, replaced, layer: BenchResult | None = None) -> StrategyOutcome:
    columns = result.evaluation.options.slice_columns
    normalizer = get_normalizer(result.evaluation.options.normalizer)
    with RunStore(request.bench.workspace) as store:
        hyps = {h.utterance_id: h.hypothesis for h in store.hypotheses(result.run_id)}
        base_hyps = {h.utterance_id: h.hypothesis for h in store.hypotheses(baseline.run_id)}
        layer_hyps = {h.utterance_id: h.hypothesis for h in store.hypotheses(layer.run_id)} if layer is not None else {}
        record = store.run(result.run_id)
    summary = record.summary or {}
    post_cost = {k: v for k, v in summary.items() if k.startswith("post_")} if record.kind == "strategy" else {}
    speech_ids = {s.id for s in result.evaluation.per_utterance}
    items = [u for u in result.data.utterances if u.id in speech_ids]
    terms: tuple[TermScore, ...] = ()
    if lexicon is not None:
        terms = tuple(term_scores(items, hyps, lambda lang: [t.text for t in lexicon.for_language(lang).terms], normalizer, columns))
    slices_by_id = {u.id: u.slices for u in items}
    deltas = tuple(paired_deltas(baseline.evaluation.per_utterance, result.evaluation.per_utterance, slices_by_id, columns, result.evaluation.options.bootstrap))
    over = tuple(over_corrections(items, base_hyps, hyps, normalizer, columns))
    versus_deltas, versus_over = (), ()
    if layer is not None:
        versus_deltas = tuple(paired_deltas(layer.evaluation.per_utterance, result.evaluation.per_utterance, slices_by_id, columns,
                                            result.evaluation.options.bootstrap))
        versus_over = tuple(over_corrections(items, layer_hyps, hyps, normalizer, columns))
    with RunStore(request.bench.workspace) as store:
        cost = {**run_cost(store, result.run_id), **post_cost}
    return StrategyOutcome(spec, result, terms, deltas, over, replaced, cost, "lexicon" if layer is not None else None,
                           versus_deltas, versus_over)


def run_cost(store: RunStore, run_id: str) -> dict:
    """What a run's transcripts cost, from the timings stored with it and the runs it builds
    on: decoding seconds (a two-pass strategy's first pass included), post-processing
    seconds, the audio they cover, and how many utterances were decoded again.
    `decode_s` of a reused run is what it cost when it was made."""
    record = store.run(run_id)
    config, timings = record.config or {}, record.timings or {}
    if config.get("base_run"):  # derived: the decoded run it rewrote, plus the rewriting
        cost = run_cost(store, config["base_run"])
        return {**cost, "post_s": round(cost["post_s"] + float(timings.get("post_process_s") or 0.0), 3)}
    cost = {"decode_s": float(timings.get("transcribe_s") or 0.0), "audio_s": float(timings.get("audio_s") or 0.0),
            "post_s": 0.0, "decoded_again": None}
    if config.get("first_pass_run"):
        first = run_cost(store, config["first_pass_run"])
        again = sum(1 for h in store.hypotheses(run_id) if (h.extra or {}).get("decoded_again") is not False)
        cost = {**cost, "decode_s": cost["decode_s"] + first["decode_s"], "audio_s": first["audio_s"],
                "second_pass_s": cost["decode_s"], "decoded_again": again}
    cost["decode_s"] = round(cost["decode_s"], 3)
    cost["real_time_factor"] = round(cost["decode_s"] / cost["audio_s"], 4) if cost["audio_s"] else None
    return cost
