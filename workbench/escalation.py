"""The escalation ladder, run headless: baseline -> lexicon / prompt -> LoRA -> full fine-tuning.

Each rung is scored by the one evaluation path (`bench.run_bench` / `strategy_runs`), its
figures go to `policy.decide`, and the ladder stops at the first rung that meets every
target. Rungs run one at a time, so a rung the ladder never reaches is never decoded;
the cheap rungs share the baseline's transcripts (decoded once and reused); a training
rung runs only when the cheap ones all missed.

Without a GPU (and without `allow_cpu`) a training rung is not run: the ladder ends with
the decision, writes a ready-to-run config (`train.toml`) and prints the exact command
for a GPU machine; the CLI exits with `ExitCode.NEEDS_GPU`.

The forgetting guard: every tuned model is scored on the FULL held-out set (slices it was
not trained on included) and, when the config names one, on a separate retention
manifest; language-ID accuracy and output on no-speech clips are compared with the
baseline's. A slice significantly worse beyond `max_regression` fails the rung through
the policy; a drop in language-ID accuracy or new hallucinated words fails it here.
"""

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .atomic import write_text_atomic
from .bench import BenchRequest, BenchResult, run_bench
from .escalation_config import EscalationConfig, Targets, dump_config
from .policy import OVERALL, TRAINING_RUNGS, Decision, RungScores, SliceFigure, decide
from .service import DataSelection
from .significance import paired_deltas

__all__ = ["EscalationRequest", "RungOutcome", "Escalation", "run_escalation", "rung_scores", "guard_findings"]


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
    guard: tuple[str, ...] = ()  # forgetting-guard findings that failed this rung
    train: dict | None = None  # TrainResult.to_dict() for training rungs
    retention_run: str | None = None
    parity: dict | None = None  # the tuned transformers model vs its CTranslate2 export, same clips


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


def guard_findings(tuned: BenchResult, baseline: BenchResult, targets: Targets) -> tuple[str, ...]:
    """What fine-tuning broke outside WER: language ID and no-speech output, each against its own allowance."""
    found = []
    allowed = targets.max_language_id_drop
    base_lid = {(s.column, s.value): s for s in baseline.language_id}
    for s in tuned.language_id:
        b = base_lid.get((s.column, s.value))
        if b is None or s.accuracy is None or b.accuracy is None:
            continue
        drop = 100.0 * (b.accuracy - s.accuracy)
        if drop > allowed:
            where = "overall" if s.column == "overall" else f"{s.column}={s.value}"
            found.append(f"language ID ({where}) fell from {100 * b.accuracy:.1f}% to {100 * s.accuracy:.1f}%")
    h, hb = tuned.hallucination, baseline.hallucination
    if h.clips and h.words - hb.words > targets.max_no_speech_insertions:
        found.append(f"no-speech clips: {h.words} words produced against the baseline's {hb.words}")
    return tuple(found)


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
        needs_lexicon = [r for r in cheap if r != "baseline"]
        if needs_lexicon:
            skipped.append(f"{', '.join(needs_lexicon)}: no lexicon in the config")
            cheap = ["baseline"]
    ladder = tuple(r for r in ladder if r in cheap or r in TRAINING_RUNGS)

    from .strategy_runs import ComparisonRequest, run_comparison

    bench = replace(request.bench, model=config.model) if config.model else request.bench

    def score_rung(rung: str):
        # One rung at a time, so a rung the ladder never reaches is never decoded; the
        # baseline's transcripts are decoded once and reused (BenchRequest.reuse).
        mine = config.lexicon is not None and "lexicon" in rung
        comparison = run_comparison(ComparisonRequest(bench, (rung,), config.lexicon, mine=mine), progress, cancel)
        return {o.spec: o for o in comparison.outcomes}[rung].result

    baseline = score_rung("baseline")
    outcomes: list[RungOutcome] = []
    earlier: list[RungScores] = []
    decision = None
    for rung in ladder:
        if rung in TRAINING_RUNGS:
            break
        result = baseline if rung == "baseline" else score_rung(rung)
        scores = rung_scores(rung, result, None if rung == "baseline" else baseline)
        decision = decide(scores, ladder, config.targets, gpu_available=gpu, allow_cpu=request.allow_cpu, earlier=tuple(earlier))
        outcomes.append(RungOutcome(rung, result.run_id, scores, decision))
        earlier.append(scores)
        say(decision.explain())
        if decision.action == "needs_gpu":
            config_path, command = write_training_handoff(request, bench, decision.next_rung)
            say(f"wrote {config_path}; on a GPU machine run:\n  {command}")
            return Escalation(tuple(outcomes), decision, config_path, command, tuple(skipped))
        if decision.action != "next":
            return Escalation(tuple(outcomes), decision, skipped=tuple(skipped))

    out = Path(request.output_dir)
    train_utterances = _train_part(bench)
    while decision.action == "next" and decision.next_rung in TRAINING_RUNGS:
        rung = decision.next_rung
        from .training import TrainRequest, train

        say(f"training {rung} on {len(train_utterances)} utterances of the train part ({'GPU' if gpu else 'CPU, allowed'})")
        trained = train(
            TrainRequest(rung, config.model, train_utterances, str(out / rung), config.training, allow_cpu=request.allow_cpu),
            progress, on_train_event, cancel,
        )
        tuned = run_bench(replace(bench, model=trained.ct2_dir, strategy="baseline", lexicon=None), progress, cancel)
        scores = rung_scores(rung, tuned, baseline)
        parity = None
        if config.training.parity_check:
            parity = decode_parity(bench, tuned, trained.model_dir, progress, cancel)
            say(f"decode parity: transformers {parity['transformers_wer']:.1f}% vs CTranslate2 {parity['ct2_wer']:.1f}% WER, "
                f"{parity['identical']}/{parity['utterances']} transcripts identical after normalization")
        guard = guard_findings(tuned, baseline, config.targets)
        retention_run = None
        if config.retention:
            retention_run, extra = _retention(bench, trained.ct2_dir, config, progress, cancel)
            guard += extra
        decision = decide(scores, ladder, config.targets, gpu_available=gpu, allow_cpu=request.allow_cpu, earlier=tuple(earlier))
        if guard and decision.action == "stop":
            # The policy saw only WER: a model that forgot how to identify languages or
            # started talking over silence is not accepted either.
            nxt = _after(ladder, rung)
            action = "exhausted" if nxt is None else ("next" if gpu or request.allow_cpu else "needs_gpu")
            decision = Decision(action=action, rung=rung, met=False, misses=(), next_rung=nxt)
        outcomes.append(RungOutcome(rung, tuned.run_id, scores, decision, guard, trained.to_dict(), retention_run, parity))
        earlier.append(scores)
        say(decision.explain() + "".join(f"\nforgetting guard: {g}" for g in guard))
    config_path = command = None
    if decision.action == "needs_gpu":
        config_path, command = write_training_handoff(request, bench, decision.next_rung)
        say(f"wrote {config_path}; on a GPU machine run:\n  {command}")
    return Escalation(tuple(outcomes), decision, config_path, command, tuple(skipped))


def decode_parity(bench: BenchRequest, ct2_run: BenchResult, model_dir: str, progress=None, cancel=None) -> dict:
    """The tuned model decoded by transformers (as trained) against its CTranslate2 export
    (as scored): the same clips and decoding options. A large gap means the conversion,
    not the training, moved the score."""
    from .normalizers import get_normalizer
    from .runstore import RunStore

    hf = run_bench(replace(bench, model=model_dir, backend="transformers", strategy="baseline", lexicon=None), progress, cancel)
    normalizer = get_normalizer(ct2_run.evaluation.options.normalizer)
    with RunStore(bench.workspace) as store:
        a = {h.utterance_id: h for h in store.hypotheses(ct2_run.run_id)}
        b = {h.utterance_id: h.hypothesis for h in store.hypotheses(hf.run_id)}
    same = sum(1 for i, h in a.items() if i in b and normalizer(h.hypothesis, h.language) == normalizer(b[i], h.language))
    wer = lambda r: 100.0 * (r.evaluation.normalized.overall.wer or 0.0)  # noqa: E731
    return {"transformers_run": hf.run_id, "ct2_run": ct2_run.run_id, "transformers_wer": wer(hf), "ct2_wer": wer(ct2_run),
            "utterances": len(a), "identical": same}


def _after(ladder, rung: str) -> str | None:
    i = ladder.index(rung)
    return ladder[i + 1] if i + 1 < len(ladder) else None


def _train_part(bench: BenchRequest):
    from .service import select_data

    selection = replace(bench.selection, part="train")
    return tuple(select_data(selection).utterances)


def _retention(bench: BenchRequest, model: str, config: EscalationConfig, progress, cancel):
    """Baseline and tuned model on the retention manifest, whole: what the tuned one forgot."""
    selection = DataSelection(data=None, test=config.retention, part="heldout")
    base = run_bench(replace(bench, selection=selection, model=config.model, strategy="baseline", lexicon=None), progress, cancel)
    tuned = run_bench(replace(bench, selection=selection, model=model, strategy="baseline", lexicon=None), progress, cancel)
    scores = rung_scores("retention", tuned, base)
    found = [f"retention set: {f.key} rose {f.rise:.1f} points (significant)" for f in scores.slices
             if f.significantly_worse and f.rise is not None and f.rise > (config.targets.max_regression or 0.0)]
    return tuned.run_id, tuple(found) + guard_findings(tuned, base, config.targets)


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
