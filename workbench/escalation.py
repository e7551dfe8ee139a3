"""The escalation ladder, run headless: baseline -> lexicon / prompt -> LoRA -> full fine-tuning.

Each rung is scored by the one evaluation path (`bench.run_bench` / `strategy_runs`), its
figures go to `policy.decide`, and the ladder stops at the first rung that meets every
target. Rungs run one at a time, so a rung the ladder never reaches is never decoded;
the cheap rungs share the baseline's transcripts (decoded once and reused); a training
rung runs only when the cheap ones all missed.

A training rung learns from the TRAIN part only: the ladder refuses to train when any of
its utterance ids is in the held-out part, and the trained model's `training-record.json`
keeps the ids it learned from and the held-out split's id (`training_record`).

Without a GPU (and without `allow_cpu`) a training rung is not run: the ladder ends with
the decision, writes a ready-to-run config (`train.toml`) and prints the exact command
for a GPU machine; the CLI exits with `ExitCode.NEEDS_GPU`.

The forgetting guard: every rung is scored on the FULL held-out set (slices a model was
not trained on included) and, for trained models when the config names one, on a separate
retention manifest; language-ID accuracy, output on no-speech clips and prompt echo are
compared with the baseline's, each against its own allowance (`Targets`). A slice
significantly worse beyond `max_regression` fails the rung through the policy; the guard's
findings travel with the rung's scores (`RungScores.guard`), so the policy never accepts
a rejected rung nor reports it as the best one tried.

Deployment parity: a trained rung's shipped forms (the merged LoRA model, each
CTranslate2 quantization) are decoded and compared with the model as trained
(`workbench.deployment`); a form significantly worse beyond `max_parity_wer_rise`
refuses the rung the same way. The trained model's cards (`model_card`) are rewritten
with the held-out figures, the guard's and parity's results and the decision.
"""

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import strategies

from .atomic import write_text_atomic
from .bench import BenchRequest, BenchResult, run_bench
from .escalation_config import EscalationConfig, Targets, dump_config
from .policy import OVERALL, TRAINING_RUNGS, Decision, GuardFigures, Miss, RungScores, SliceFigure, decide, guard_misses, misses
from .service import DataSelection
from .significance import paired_deltas
from .training_record import check_no_leakage

__all__ = ["EscalationRequest", "RungOutcome", "Escalation", "run_escalation", "rung_scores", "guard_findings", "guard_figures_of",
           "training_data", "deployment_parity", "parity_lines"]


@dataclass(frozen=True)
class EscalationRequest:
    config: EscalationConfig
    bench: BenchRequest  # data, start model, backend, workspace: what the baseline runs with
    output_dir: str  # training outputs and the ready-to-run config go here
    allow_cpu: bool = False


@dataclass(frozen=True)
class RungOutcome:
    rung: str
    run_id: str | None
    scores: RungScores
    decision: Decision
    guard: tuple[str, ...] = ()  # forgetting-guard findings that rejected this rung (scores.guard, described)
    train: dict | None = None  # TrainResult.to_dict() for training rungs
    retention_run: str | None = None
    parity: dict | None = None  # deployment parity: each shipped form vs the model as trained, same clips (deployment_parity)


@dataclass(frozen=True)
class Escalation:
    outcomes: tuple[RungOutcome, ...]
    final: Decision
    training_config: str | None = None  # written when a training rung needs a GPU
    command: str | None = None  # the command to run it there
    skipped: tuple[str, ...] = field(default=())  # rungs left out, with why


def rung_scores(rung: str, result: BenchResult, baseline: BenchResult | None) -> RungScores:
    """A rung's held-out figures in the policy's terms: WER per slice and the paired change."""
    card = result.evaluation.normalized
    deltas = {}
    if baseline is not None:
        items = {u.id: u.slices for u in result.data.utterances}
        columns = result.evaluation.options.slice_columns
        for d in paired_deltas(baseline.evaluation.per_utterance, result.evaluation.per_utterance, items, columns,
                               result.evaluation.options.bootstrap):
            deltas[(d.column, d.value)] = d
    base = baseline.evaluation.normalized if baseline is not None else None
    base_wer = {(s.column, s.value): s.wer for s in base.slices} if base else {}
    if base:
        base_wer[("overall", "all")] = base.overall.wer
    figures = []
    for s in (card.overall, *card.slices):
        if s.wer is None:
            continue
        key = (s.column, s.value)
        d = deltas.get(key)
        bw = base_wer.get(key)
        figures.append(
            SliceFigure(
                key=OVERALL if s.column == "overall" else f"{s.column}={s.value}",
                utterances=s.utterances,
                wer=100.0 * s.wer,
                baseline_wer=100.0 * bw if bw is not None else None,
                change_low=100.0 * d.interval.low if d is not None and d.interval is not None else None,
                change_high=100.0 * d.interval.high if d is not None and d.interval is not None else None,
            )
        )
    return RungScores(rung, tuple(figures))


def review_scores(workspace: str, run_id: str, budget: str, baseline: RungScores) -> RungScores:
    """The review rung in the policy's terms: each slice's SIMULATED WER after people correct
    the queue's head within `budget` (`workbench.review.simulated_slice_wer`), against the
    baseline's WER. No interval: review only replaces hypotheses by their references."""
    from .review import simulated_slice_wer

    base = {f.key: f.wer for f in baseline.slices}
    figures = tuple(
        SliceFigure(OVERALL if s.key == "overall" else s.key, s.utterances, s.wer_after, base.get(OVERALL if s.key == "overall" else s.key))
        for s in simulated_slice_wer(workspace, run_id, budget) if s.wer_after is not None
    )
    return RungScores("review", figures)


def guard_figures_of(workspace: str, result: BenchResult) -> GuardFigures:
    """The forgetting guard's measures of a scored run, from its stored hypotheses."""
    from .diagnostics import run_guard_figures
    from .runstore import RunStore

    with RunStore(workspace) as store:
        return run_guard_figures(store, result.run_id, result.evaluation.options.slice_columns)


def guard_findings(workspace: str, tuned: BenchResult, baseline: BenchResult, targets: Targets, where: str = "") -> tuple[Miss, ...]:
    """What a rung broke outside WER against the baseline on the same clips: language ID,
    words on no-speech clips, prompt echo; each against its own allowance in `targets`."""
    return guard_misses(guard_figures_of(workspace, tuned), guard_figures_of(workspace, baseline), targets, where)


def _with_target_slices(bench, targets):
    """The bench request slicing by every column a per-slice target names (beside the
    columns asked for, or the data's default ones), so each such target is judged."""
    from .dataset import default_slice_columns
    from .escalation_config import slice_target_columns
    from .service import select_data

    needed = slice_target_columns(targets)
    asked = bench.evaluation.slice_columns
    if not needed or all(c in asked for c in needed):
        return bench
    if not asked:
        data = select_data(bench.selection)
        asked = default_slice_columns(data.utterances, data.slice_columns)
    columns = tuple(dict.fromkeys(tuple(asked) + needed))
    return replace(bench, evaluation=replace(bench.evaluation, slice_columns=columns))


def run_escalation(
    request: EscalationRequest,
    progress: Callable[[str, int, int], None] | None = None,
    report: Callable[[str], None] | None = None,  # one line per step, for the console or the TUI
    cancel=None,
    on_train_event=None,
) -> Escalation:
    from .training import gpu_available

    say = report or (lambda line: None)
    config = request.config
    gpu = gpu_available()
    ladder = config.ladder
    skipped = []
    cheap = [r for r in ladder if r not in TRAINING_RUNGS]
    if config.lexicon is None:
        needs_lexicon = [r for r in cheap if r != "review" and strategies.needs_lexicon(r)]
        if needs_lexicon:
            skipped.append(f"{', '.join(needs_lexicon)}: no lexicon in the config")
            cheap = [r for r in cheap if r not in needs_lexicon]
    ladder = tuple(r for r in ladder if r in cheap or r in TRAINING_RUNGS)
    # Misrecognitions are mined from the TRAIN part; a --test manifest without --data has none,
    # so the lexicon rungs run on the lexicon as written (and say so) instead of failing.
    can_mine = request.bench.selection.data is not None
    if config.lexicon is not None and not can_mine and any("lexicon" in r for r in cheap):
        say("no train part (--test without --data): the lexicon is used as written, no misrecognitions are mined")

    from .strategy_runs import ComparisonRequest, run_comparison

    bench = replace(request.bench, model=config.model) if config.model else request.bench
    bench = _with_target_slices(bench, config.targets)

    def score_rung(rung: str):
        # One rung at a time, so a rung the ladder never reaches is never decoded; the
        # baseline's transcripts are decoded once and reused (BenchRequest.reuse).
        # LM rescoring starts from the lexicon layer's corrections: it learns the same mishearings.
        mine = can_mine and config.lexicon is not None and ("lexicon" in rung or "lmrescore" in rung)
        comparison = run_comparison(ComparisonRequest(bench, (rung,), config.lexicon, mine=mine), progress, cancel)
        return {o.spec: o for o in comparison.outcomes}[rung].result

    if config.targets.max_regression is not None and bench.evaluation.bootstrap.resamples == 0:
        say("bootstrap off (--bootstrap 0): no paired intervals, so a rise cannot be told from noise; "
            f"every rise above max_regression ({config.targets.max_regression:g} points) counts as a regression")
    baseline = score_rung("baseline")
    outcomes: list[RungOutcome] = []
    earlier: list[RungScores] = []
    decision = None
    for rung in ladder:
        if rung in TRAINING_RUNGS:
            break
        if rung == "review":
            # People check the least confident transcripts of the best rung so far: its figures
            # are simulated (a reviewed hypothesis becomes its reference), and say so.
            reviewed_run = outcomes[-1].run_id
            scores = review_scores(bench.workspace, reviewed_run, config.review.budget, outcomes[0].scores)
            decision = decide(scores, ladder, config.targets, gpu_available=gpu, allow_cpu=request.allow_cpu, earlier=tuple(earlier))
            outcomes.append(RungOutcome(rung, reviewed_run, scores, decision, (),
                                        {"simulated": True, "budget": config.review.budget, "reviewed_run": reviewed_run}))
            earlier.append(scores)
            say(f"review (SIMULATED, budget {config.review.budget} of run {reviewed_run}): " + decision.explain())
            if decision.action == "needs_gpu":
                config_path, command = write_training_handoff(request, bench, decision.next_rung)
                say(f"wrote {config_path}; on a GPU machine run:\n  {command}")
                return Escalation(tuple(outcomes), decision, config_path, command, tuple(skipped))
            if decision.action != "next":
                return Escalation(tuple(outcomes), decision, skipped=tuple(skipped))
            continue
        result = baseline if rung == "baseline" else score_rung(rung)
        scores = rung_scores(rung, result, None if rung == "baseline" else baseline)
        if rung != "baseline":
            # A prompt can make Whisper write on silence or copy the prompt out: the guard
            # judges every rung against the baseline, not only trained ones.
            scores = replace(scores, guard=guard_findings(bench.workspace, result, baseline, config.targets))
        decision = decide(scores, ladder, config.targets, gpu_available=gpu, allow_cpu=request.allow_cpu, earlier=tuple(earlier))
        outcomes.append(RungOutcome(rung, result.run_id, scores, decision, _described(scores.guard)))
        earlier.append(scores)
        say(decision.explain())
        if decision.action == "needs_gpu":
            config_path, command = write_training_handoff(request, bench, decision.next_rung)
            say(f"wrote {config_path}; on a GPU machine run:\n  {command}")
            return Escalation(tuple(outcomes), decision, config_path, command, tuple(skipped))
        if decision.action != "next":
            return Escalation(tuple(outcomes), decision, skipped=tuple(skipped))

    out = Path(request.output_dir)
    train_utterances, heldout_id, heldout_ids = training_data(bench)
    # Leakage is refused before anything trains: no held-out utterance (by id) may be learned.
    check_no_leakage((u.id for u in train_utterances), heldout_ids, "escalation")
    while decision.action == "next" and decision.next_rung in TRAINING_RUNGS:
        rung = decision.next_rung
        from .training import TrainRequest, train

        say(f"training {rung} on {len(train_utterances)} utterances of the train part ({'GPU' if gpu else 'CPU, allowed'})")
        trained = train(
            TrainRequest(rung, config.model, train_utterances, str(out / rung), config.training, allow_cpu=request.allow_cpu,
                         heldout_id=heldout_id, heldout_ids=heldout_ids),
            progress, on_train_event, cancel,
        )
        tuned = run_bench(replace(bench, model=trained.ct2_dir, strategy="baseline", lexicon=None), progress, cancel)
        scores = rung_scores(rung, tuned, baseline)
        parity = refused = None
        if config.training.parity_check:
            parity, refused = deployment_parity(bench, tuned, str(out / rung), config.targets, progress, cancel)
            for line in parity_lines(parity):
                say(line)
        guard = guard_findings(bench.workspace, tuned, baseline, config.targets)
        retention_run = None
        if config.retention:
            retention_run, extra = _retention(bench, trained.ct2_dir, config, progress, cancel)
            guard += extra
        # The findings are misses of the rung's own: a model that forgot how to identify
        # languages or started talking over silence, or whose shipped form lost accuracy on
        # the way out, is never accepted, nor later reported as the best rung tried
        # (earlier carries them).
        scores = replace(scores, guard=guard + (refused or ()))
        decision = decide(scores, ladder, config.targets, gpu_available=gpu, allow_cpu=request.allow_cpu, earlier=tuple(earlier))
        outcome = RungOutcome(rung, tuned.run_id, scores, decision, _described(scores.guard), trained.to_dict(), retention_run,
                              parity)
        outcomes.append(outcome)
        earlier.append(scores)
        _write_cards(bench.workspace, str(out / rung), outcome, baseline, tuned)
        say(decision.explain())
    config_path = command = None
    if decision.action == "needs_gpu":
        config_path, command = write_training_handoff(request, bench, decision.next_rung)
        say(f"wrote {config_path}; on a GPU machine run:\n  {command}")
    return Escalation(tuple(outcomes), decision, config_path, command, tuple(skipped))


def deployment_parity(bench: BenchRequest, scored: BenchResult, output_dir: str, targets: Targets, progress=None, cancel=None):
    """(the parity dict, the misses that refuse the rung) of a training output: the model
    as trained (transformers; a LoRA adapter unmerged) against each shipped form (the
    merged model, the CTranslate2 forms), on the held-out clips (`workbench.deployment`).

    The dict also keeps the earlier summary of the CTranslate2 export as the ladder scored
    it against the merged transformers model (`transformers_run`, `ct2_run`, their WER, the
    transcripts identical after normalization)."""
    from .deployment import forms_of_training_output, run_forms_parity
    from .normalizers import get_normalizer
    from .policy import parity_misses
    from .runstore import RunStore
    from .scoring import scorecard_from_dict

    reference, forms = forms_of_training_output(output_dir)
    parity = run_forms_parity(bench, reference, forms, progress, cancel)
    result = parity.to_dict()
    merged = next((f for f in parity.forms if f.form == "merged"), None)
    hf_run = merged.run_id if merged is not None else parity.reference_run
    normalizer = get_normalizer(scored.evaluation.options.normalizer)
    with RunStore(bench.workspace) as store:
        a = {h.utterance_id: h for h in store.hypotheses(scored.run_id)}
        b = {h.utterance_id: h.hypothesis for h in store.hypotheses(hf_run)}
        hf_card = store.scores(hf_run)
        hf_normalizer = store.run(hf_run).normalizer
    hf_wer = scorecard_from_dict(hf_card[hf_normalizer]).overall.wer
    same = sum(1 for i, h in a.items() if i in b and normalizer(h.hypothesis, h.language) == normalizer(b[i], h.language))
    result.update({"transformers_run": hf_run, "ct2_run": scored.run_id, "transformers_wer": 100.0 * (hf_wer or 0.0),
                   "ct2_wer": 100.0 * (scored.evaluation.normalized.overall.wer or 0.0), "utterances": len(a), "identical": same})
    return result, parity_misses(parity.figures(), targets)


def parity_lines(parity: dict) -> list[str]:
    """One line per shipped form: identical transcripts and the paired WER change."""
    lines = [f"deployment parity against the model as trained ({Path(parity['reference']['model']).name}, "
             f"{parity['reference']['backend']} {parity['reference_compute_type'] or ''}):"]
    for f in parity["forms"]:
        overall = next((s for s in f["slices"] if s["key"] == "overall"), None)
        if overall is None:  # nothing to score: no speech clip both decoded
            lines.append(f"  {f['form']:<12} {f['compute_type'] or '':<13} {f['identical']}/{f['transcripts']} transcripts identical")
            continue
        rise = overall["wer"] - overall["baseline_wer"]
        interval = (f" [{overall['change_low']:+.1f}, {overall['change_high']:+.1f}]"
                    if overall["change_low"] is not None else " (no interval)")
        lines.append(f"  {f['form']:<12} {f['compute_type'] or '':<13} {f['identical']}/{f['transcripts']} transcripts identical, "
                     f"WER {overall['wer']:.1f}% ({rise:+.1f}{interval} points)")
    return lines


def _write_cards(workspace: str, output_dir: str, outcome: RungOutcome, baseline: BenchResult, tuned: BenchResult) -> None:
    """Rewrite the trained model's cards with what the ladder measured of it."""
    from .model_card import evaluation_from_outcome, write_model_cards

    figures = {"trained": guard_figures_of(workspace, tuned), "baseline": guard_figures_of(workspace, baseline)}
    write_model_cards(output_dir, evaluation_from_outcome(workspace, outcome, baseline.run_id, figures))


def _described(guard: tuple[Miss, ...]) -> tuple[str, ...]:
    return tuple(m.describe() for m in guard)


def training_data(bench: BenchRequest) -> tuple[tuple, str, tuple[str, ...]]:
    """(the train part's utterances, the held-out split's id, the held-out part's ids) of
    the data the ladder scores: what a training rung may learn from, and what it may not."""
    from .service import select_data

    data = select_data(replace(bench.selection, part="train"))
    return tuple(data.utterances), data.split.heldout_id, tuple(u.id for u in data.split.heldout)


def _retention(bench: BenchRequest, model: str, config: EscalationConfig, progress, cancel):
    """Baseline and tuned model on the retention manifest, whole: what the tuned one forgot."""
    selection = DataSelection(data=None, test=config.retention, part="heldout")
    base = run_bench(replace(bench, selection=selection, model=config.model, strategy="baseline", lexicon=None), progress, cancel)
    tuned = run_bench(replace(bench, selection=selection, model=model, strategy="baseline", lexicon=None), progress, cancel)
    scores = rung_scores("retention", tuned, base)
    # The same regression rule as the held-out slices (policy.misses), on the retention set.
    limits = Targets(max_regression=config.targets.max_regression or 0.0, min_slice_utterances=config.targets.min_slice_utterances)
    found = tuple(replace(m, slice=f"retention set {m.slice}") for m in misses(scores, limits) if m.target == "max_regression")
    return tuned.run_id, found + guard_findings(bench.workspace, tuned, base, config.targets, "retention set ")


def write_training_handoff(request: EscalationRequest, bench: BenchRequest, rung: str) -> tuple[str, str]:
    """The config and command that run the next training rung on a GPU machine."""
    out = Path(request.output_dir)
    config = request.config
    data = bench.selection.data or config.data
    handoff = replace(config, data=str(Path(data).resolve()) if data else None,
                      lexicon=str(Path(config.lexicon).resolve()) if config.lexicon else None)
    path = out / "train.toml"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, dump_config(handoff))
    args = ["workbench", "escalate", "--config", str(path.resolve())]
    if data:
        args += ["--data", str(Path(data).resolve())]
    args += ["--device", "cuda"]  # decode there on the GPU too
    return str(path), " ".join(shlex.quote(a) for a in args)
