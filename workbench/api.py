"""The workbench from Python (notebooks, scripts): load data, run strategies, score, compare, export.

Each function is a thin layer over the calls the command line and the terminal UI make
(`bench.run_bench`, `strategy_runs.run_comparison`, `service.score_hypotheses`,
`regression.report_runs`, `run_export.export_run`): the same runs in the same run store,
scored by the same path, so a figure here is the figure `workbench runs show` prints.
Results are plain frozen records; their `frame()` methods (and `frame(records)` for any
sequence of them) give pandas DataFrames. WER and CER are in percent, as printed.

    from workbench import api

    data = api.load_data(part="heldout")              # the embedded demo corpus
    run = api.bench(model="tiny.en", limit=3)
    run.frame()                                       # one row per slice: wer, interval, S/D/I
    run.utterances()                                  # one row per utterance, with its errors
    both = api.compare_strategies(["baseline", "lexicon"], model="tiny.en", limit=3,
                                  lexicon=api.demo_lexicon())
    both.frame()                                      # every strategy x slice, change vs baseline
    api.compare(both.runs[0].run_id, both.runs[1].run_id).frame()   # the regression report
    api.export(run.run_id, "trn")                     # for sclite
    api.parity("tiny.en", ["ct2-int8"], limit=3).frame()  # a shipped form against the model as trained

`import workbench` stays cheap: this module (and pandas) load on first use of
`workbench.api` or of a name re-exported from it (`workbench.bench`, ...: see
`workbench.__init__`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from .backends import DEFAULT_BACKEND, DecodingOptions
from .bootstrap import BootstrapOptions
from .evaluation import EvaluationOptions, Thresholds
from .manifest import LoadOptions
from .runstore import DEFAULT_WORKSPACE, RunStore
from .scoring import SliceScore, scorecard_from_dict
from .service import DataSelection
from .split import SplitOptions

if TYPE_CHECKING:  # pandas is imported when a DataFrame is asked for
    import pandas

__all__ = [
    "Data",
    "SliceResult",
    "RunResult",
    "StrategyComparison",
    "RunComparison",
    "load_data",
    "bench",
    "compare_strategies",
    "score",
    "compare",
    "run",
    "list_runs",
    "utterances",
    "export",
    "FormsParity",
    "parity",
    "frame",
    "demo_manifest",
    "demo_lexicon",
]

Progress = Callable[[str, int, int], None]  # (stage, done, total), as every long job reports


def frame(records: Iterable) -> "pandas.DataFrame":
    """A DataFrame of frozen records (dataclasses) or dicts, one row each."""
    import pandas as pd

    rows = [asdict(r) if is_dataclass(r) else dict(r) for r in records]
    return pd.DataFrame(rows)


def demo_manifest() -> str:
    """The embedded demo corpus (SYNTHETIC speech) the commands use by default."""
    from .bench import demo_manifest as _demo

    return _demo()


def demo_lexicon() -> str:
    """The demo corpus's 211-term clinical lexicon."""
    from importlib.resources import files

    return str(files("workbench") / "examples" / "demo" / "lexicon.csv")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    """The utterances of a data selection, with what loading left out and the split."""

    source: str  # the manifest (or SCTK reference file) loaded
    part: str  # all | heldout | train
    utterances: tuple = field(repr=False)  # workbench.dataset.Utterance, the ones selected
    problems: tuple = field(repr=False)  # workbench.dataset.Problem: rows excluded or flagged
    heldout_id: str  # the held-out split's identity (sha256 of its ids and references)
    heldout_ids: frozenset = field(repr=False)  # ids in the held-out part of the split
    slice_columns: tuple[str, ...]  # every slice column the data has

    def frame(self) -> "pandas.DataFrame":
        """One row per utterance: id, reference, duration_s, part, then every slice column."""
        return frame({"id": u.id, "reference": u.reference, "duration_s": u.duration_s,
                      "part": "heldout" if u.id in self.heldout_ids else "train", **dict(u.slices)} for u in self.utterances)

    def problems_frame(self) -> "pandas.DataFrame":
        return frame({"source": p.source, "row": p.row, "field": p.field, "reason": p.reason, "kind": p.kind} for p in self.problems)


def _selection(data, test, part, load, split, language) -> DataSelection:
    load = load or LoadOptions(language=language)
    if data is None and test is None:
        data = demo_manifest()
    return DataSelection(None if data is None else str(data), None if test is None else str(test), part, load, split or SplitOptions())


def load_data(data: str | None = None, *, test: str | None = None, part: str = "all", language: str | None = None,
              load: LoadOptions | None = None, split: SplitOptions | None = None, progress: Progress | None = None) -> Data:
    """Load and validate a dataset (default: the embedded demo corpus) and split it, as
    `workbench data inspect` does; `part` picks the utterances returned."""
    from .service import select_data

    selection = _selection(data, test, part, load, split, language)
    selected = select_data(selection, progress)
    return Data(selection.test or selection.data, part, selected.utterances, selected.problems, selected.split.heldout_id,
                frozenset(u.id for u in selected.split.heldout), selected.slice_columns)


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class SliceResult:
    """One slice of a run's stored scorecard (column "overall" for the whole run)."""

    run_id: str
    column: str
    value: str
    utterances: int
    ref_words: int
    wer: float | None  # percent, under the run's normalizer
    wer_low: float | None  # the bootstrap interval, percent (None without resamples)
    wer_high: float | None
    cer: float | None  # percent
    raw_wer: float | None  # percent, casing and punctuation counted (raw@1)
    substitutions: int
    deletions: int
    insertions: int
    normalizer: str


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _slice_result(run_id: str, s: SliceScore, raw: SliceScore | None, normalizer: str) -> SliceResult:
    ci = s.wer_ci
    return SliceResult(run_id, s.column, s.value, s.utterances, s.ref_words, _pct(s.wer), _pct(ci.low) if ci else None,
                       _pct(ci.high) if ci else None, _pct(s.cer), _pct(raw.wer) if raw else None, s.substitutions,
                       s.deletions, s.insertions, normalizer)


@dataclass(frozen=True)
class RunResult:
    """A stored run and its scores, as the run store holds them."""

    run_id: str
    kind: str  # bench | strategy | score | ...
    status: str  # succeeded, failed, cancelled, running, interrupted
    strategy: str  # baseline, lexicon, prompt, ... ("" for a scored file)
    model: str | None
    normalizer: str  # the normalizer of `wer` and of every slice
    wer: float | None  # overall, percent
    cer: float | None
    raw_wer: float | None
    speech_scored: int  # what WER covers (the coverage rule); the rest is counted below
    no_speech: int
    failed: int
    missing: int
    slices: tuple[SliceResult, ...]  # overall first, then every slice
    workspace: str  # the run store's folder, absolute (the record outlives a change of directory)
    # what the command returned (BenchResult, ScoreResult, ...): the CLI prints from it
    detail: object = field(default=None, compare=False, repr=False)

    def frame(self) -> "pandas.DataFrame":
        """One row per slice (overall first)."""
        return frame(self.slices)

    def utterances(self) -> "pandas.DataFrame":
        """One row per utterance of the run (see `utterances`)."""
        return utterances(self.run_id, self.workspace)


def run(run_id: str, workspace: str = DEFAULT_WORKSPACE, normalizer: str | None = None, detail: object = None) -> RunResult:
    """A stored run (id, unique prefix or 'latest') with its latest scorecard under
    `normalizer` (default: the run's own)."""
    with RunStore(workspace, read_only=True) as store:
        record = store.run(run_id)
        cards = store.scores(record.id)
    name = normalizer or record.normalizer or ""
    card = scorecard_from_dict(cards[name]) if name in cards else None
    raw = scorecard_from_dict(cards["raw@1"]) if "raw@1" in cards else None
    raw_by_key = {(s.column, s.value): s for s in ((raw.overall, *raw.slices) if raw else ())}
    slices = tuple(_slice_result(record.id, s, raw_by_key.get((s.column, s.value)), name)
                   for s in ((card.overall, *card.slices) if card else ()))
    config = record.config or {}
    coverage = (record.summary or {}).get("coverage") or {}
    overall = slices[0] if slices else None
    return RunResult(
        record.id, record.kind, record.effective_status, str(config.get("strategy") or ("" if record.kind == "score" else "baseline")),
        config.get("model"), name, overall.wer if overall else None, overall.cer if overall else None,
        overall.raw_wer if overall else None, int(coverage.get("speech_scored", 0)), int(coverage.get("no_speech_clips", 0)),
        int(coverage.get("failed", 0)), int(coverage.get("missing", 0)), slices, str(Path(workspace).absolute()), detail,
    )


def list_runs(workspace: str = DEFAULT_WORKSPACE, limit: int | None = None) -> tuple:
    """The stored runs, newest first (`session.RunSummary` records; `frame(...)` tabulates them)."""
    from .session import list_runs as _list

    return tuple(_list(workspace, limit))


def utterances(run_id: str, workspace: str = DEFAULT_WORKSPACE) -> "pandas.DataFrame":
    """One row per utterance of a run: id, reference, hypothesis, status (speech, no_speech,
    failed, missing), every slice, and for speech utterances the alignment counts under the
    run's normalizer (ref_words, substitutions, deletions, insertions, errors), computed by
    the run's own scoring function (`runs.score_stored`, without storing anything)."""
    from .runs import partition, score_stored

    with RunStore(workspace, read_only=True) as store:
        record = store.run(run_id)
        rows = store.hypotheses(record.id)
    coverage = partition(rows)
    status = {h.utterance_id: "speech" for h in coverage.speech}
    status.update({h.utterance_id: "no_speech" for h in coverage.no_speech})
    status.update({i: "failed" for i, _ in coverage.failed})
    status.update({i: "missing" for i in coverage.missing})
    counts = {}
    if coverage.speech:
        options = EvaluationOptions(record.normalizer or "auto", (), BootstrapOptions(resamples=0))
        counts = {s.id: s for s in score_stored(rows, options, label=f"run {record.id}").evaluation.per_utterance}
    out = []
    for h in rows:
        s = counts.get(h.utterance_id)
        out.append({"id": h.utterance_id, "reference": h.reference, "hypothesis": h.hypothesis, "status": status[h.utterance_id],
                    **dict(h.slices), "ref_words": s.ref_words if s else None, "substitutions": s.substitutions if s else None,
                    "deletions": s.deletions if s else None, "insertions": s.insertions if s else None,
                    "errors": s.errors if s else None})
    return frame(out)


def _evaluation(normalizer: str, slices: Sequence[str], bootstrap: int, confidence: float = 0.95, seed: int = 42) -> EvaluationOptions:
    return EvaluationOptions(normalizer, tuple(slices), BootstrapOptions(bootstrap, confidence, seed))


def bench(data: str | None = None, *, model: str = "base", strategy: str = "baseline", lexicon: str | None = None,
          part: str = "heldout", test: str | None = None, limit: int | None = None, backend: str = DEFAULT_BACKEND,
          decoding: DecodingOptions | None = None, normalizer: str = "auto", slices: Sequence[str] = (), bootstrap: int = 1000,
          language: str | None = None, load: LoadOptions | None = None, split: SplitOptions | None = None,
          workspace: str = DEFAULT_WORKSPACE, fresh: bool = False, request=None, progress: Progress | None = None,
          cancel: threading.Event | None = None) -> RunResult:
    """Transcribe a part of the data with a model and score it: `workbench bench`. A
    decode-time `strategy` (e.g. prompt) runs in place of plain decoding; for post-processing
    strategies (lexicon) use `compare_strategies`. `request` (a `bench.BenchRequest`) replaces
    every other option. An identical unfinished run is resumed unless `fresh`; `cancel`
    stops after the current clip, keeping what finished."""
    from .bench import BenchRequest, run_bench

    if request is None:
        request = BenchRequest(_selection(data, test, part, load, split, language), model, backend, decoding or DecodingOptions(),
                               _evaluation(normalizer, slices, bootstrap), Thresholds(), str(workspace), resume=not fresh,
                               limit=limit, strategy=strategy, lexicon=lexicon)
    result = run_bench(request, progress, cancel)
    return run(result.run_id, request.workspace, detail=result)


@dataclass(frozen=True)
class StrategyComparison:
    """Strategies run on the same held-out utterances, each scored by the one path."""

    strategies: tuple[str, ...]
    runs: tuple[RunResult, ...]  # one per strategy, the baseline first
    workspace: str
    detail: object = field(default=None, compare=False, repr=False)  # strategy_runs.Comparison

    def frame(self) -> "pandas.DataFrame":
        """One row per strategy and slice: its scores and, against the baseline, the paired
        WER change (percentage points) with its interval and `significance`: worse, better
        or unchanged (the interval holds 0; the baseline's own rows: 0, unchanged)."""
        deltas = {}
        for outcome in getattr(self.detail, "outcomes", ()):
            for d in outcome.deltas:
                deltas[(outcome.spec, d.column, d.value)] = d
        rows = []
        for spec, result in zip(self.strategies, self.runs):
            for s in result.slices:
                d = deltas.get((spec, s.column, s.value))
                ci = d.interval if d is not None else None
                verdict = None if d is None else ("worse" if d.significantly_worse else "better" if d.significantly_better else "unchanged")
                rows.append({"strategy": spec, **asdict(s), "change": _pct(d.delta_wer) if d is not None else None,
                             "change_low": _pct(ci.low) if ci else None, "change_high": _pct(ci.high) if ci else None,
                             "significance": verdict})
        return frame(rows)


def compare_strategies(strategies: Sequence[str] = ("baseline", "lexicon", "prompt", "lexicon+prompt"), data: str | None = None, *,
                       lexicon: str | None = None, mine: bool = False, model: str = "base", part: str = "heldout",
                       test: str | None = None, limit: int | None = None, backend: str = DEFAULT_BACKEND,
                       decoding: DecodingOptions | None = None, normalizer: str = "auto", slices: Sequence[str] = (),
                       bootstrap: int = 1000, language: str | None = None, workspace: str = DEFAULT_WORKSPACE, fresh: bool = False,
                       request=None, progress: Progress | None = None, cancel: threading.Event | None = None) -> StrategyComparison:
    """Run adaptation strategies side by side: `workbench bench --strategies ...`. The
    baseline always runs; an identical decoded baseline is reused unless `fresh`.
    `request` (a `strategy_runs.ComparisonRequest`) replaces every other option."""
    from .bench import BenchRequest
    from .strategy_runs import ComparisonRequest, run_comparison

    if request is None:
        bench_request = BenchRequest(_selection(data, test, part, None, None, language), model, backend, decoding or DecodingOptions(),
                                     _evaluation(normalizer, slices, bootstrap), Thresholds(), str(workspace), resume=not fresh,
                                     limit=limit)
        request = ComparisonRequest(bench_request, tuple(strategies), lexicon, mine)
    comparison = run_comparison(request, progress, cancel)
    workspace = request.bench.workspace
    runs = tuple(run(o.result.run_id, workspace, detail=o.result) for o in comparison.outcomes)
    return StrategyComparison(tuple(o.spec for o in comparison.outcomes), runs, str(Path(workspace).absolute()), comparison)


def score(hypotheses: str, data: str | None = None, *, test: str | None = None, part: str = "all", normalizer: str = "auto",
          slices: Sequence[str] = (), bootstrap: int = 1000, language: str | None = None, load: LoadOptions | None = None,
          split: SplitOptions | None = None, thresholds: Thresholds | None = None, strict: bool = False,
          workspace: str = DEFAULT_WORKSPACE, request=None, progress: Progress | None = None) -> RunResult:
    """Score a hypotheses file (CSV/TSV/JSONL, or SCTK trn/ctm/stm) against a dataset or SCTK
    references (trn/stm/ctm): `workbench score`. Stored as a run like any other.
    `request` (a `service.ScoreRequest`) replaces every other option."""
    from .service import ScoreRequest, score_hypotheses

    if request is None:
        if data is None and test is None:
            raise ValueError("score: name the data (a manifest, or SCTK references) the hypotheses are of")
        request = ScoreRequest(_selection(data, test, part, load, split, language), str(hypotheses), _evaluation(normalizer, slices, bootstrap),
                               thresholds or Thresholds(), str(workspace), strict)
    result = score_hypotheses(request, progress)
    return run(result.run_id, request.workspace, detail=result)


@dataclass(frozen=True)
class RunComparison:
    """The regression report of candidates against a baseline (`workbench compare`/`report`)."""

    baseline: str
    candidates: tuple[str, ...]
    regressed: bool  # any slice significantly worse beyond the tolerance
    report: dict = field(compare=False, repr=False)  # the full report (schema regression-report.v1.json)

    def frame(self) -> "pandas.DataFrame":
        """One row per candidate and slice: baseline and candidate WER, the paired change with
        its interval, p-value and verdict (improved, unchanged, regressed, too few)."""
        rows = []
        for comparison in self.report["comparisons"]:
            for s in comparison["slices"]:
                rows.append({"candidate": comparison["run"]["id"], **s})
        return frame(rows)


def compare(baseline: str, candidates: str | Sequence[str], *, workspace: str = DEFAULT_WORKSPACE, tolerance: float = 0.0,
            min_utterances: int = 5, normalizer: str | None = None, slices: Sequence[str] = (), bootstrap: int = 1000,
            cluster: str | None = None, options=None) -> RunComparison:
    """Compare stored runs, paired on the utterances they share: `workbench compare A B`.
    `options` (a `regression.ReportOptions`) replaces the keyword options."""
    from .regression import ReportOptions, report_runs

    names = (candidates,) if isinstance(candidates, str) else tuple(candidates)
    if options is None:
        options = ReportOptions(tolerance_pp=tolerance, min_utterances=min_utterances, normalizer=normalizer,
                                slice_columns=tuple(slices), cluster=cluster, bootstrap=BootstrapOptions(bootstrap))
    report = report_runs(str(workspace), baseline, list(names), options)
    return RunComparison(report["baseline"]["id"], tuple(c["run"]["id"] for c in report["comparisons"]), bool(report["regressed"]), report)


def export(run_id: str, format: str, path: str | None = None, *, workspace: str = DEFAULT_WORKSPACE, normalized: bool = False):
    """Write a run as jsonl, csv or SCTK trn/stm/ctm (`run_export.ExportResult`): `workbench export`."""
    from .run_export import export_run

    return export_run(run_id, format, path, str(workspace), normalized)


@dataclass(frozen=True)
class FormsParity:
    """Shipped forms against the model as trained, on the same clips: `workbench parity --forms`."""

    reference_run: str  # the model as trained, decoded by transformers
    runs: tuple[str, ...]  # one per form, in `forms` order
    forms: tuple[str, ...]
    detail: object = field(default=None, compare=False, repr=False)  # deployment.Parity

    def frame(self) -> "pandas.DataFrame":
        """One row per form and slice: WER of the form and of the model as trained (percent),
        the paired change with its 95% interval, and the form's identical transcripts."""
        rows = []
        for f in self.detail.forms:
            for s in f.slices:
                rows.append({"form": f.form, "compute_type": f.compute_type, "run_id": f.run_id, "slice": s.key,
                             "utterances": s.utterances, "wer": s.wer, "trained_wer": s.baseline_wer, "change": s.rise,
                             "change_low": s.change_low, "change_high": s.change_high, "identical": f.identical,
                             "identical_normalized": f.identical_normalized, "transcripts": f.transcripts})
        return frame(rows)


def parity(model: str = "base", forms: Sequence[str] = (), data: str | None = None, *, part: str = "heldout",
           test: str | None = None, limit: int | None = None, decoding: DecodingOptions | None = None, normalizer: str = "auto",
           slices: Sequence[str] = (), bootstrap: int = 1000, language: str | None = None, export_dir: str | None = None,
           workspace: str = DEFAULT_WORKSPACE, progress: Progress | None = None,
           cancel: threading.Event | None = None) -> FormsParity:
    """Deployment parity (`deployment.prepare_forms`, `deployment.run_forms_parity`): the model
    as trained (transformers) against its shipped forms (ct2-float16, ct2-int8; merged for a
    LoRA training output, given as `model`), each decoded as a run of its own. No `forms`:
    every form there is."""
    from .bench import BenchRequest
    from .deployment import prepare_forms, run_forms_parity

    request = BenchRequest(_selection(data, test, part, None, None, language), model, DEFAULT_BACKEND, decoding or DecodingOptions(),
                           _evaluation(normalizer, slices, bootstrap), Thresholds(), str(workspace), limit=limit)
    reference, shipped = prepare_forms(model, tuple(forms), export_dir, str(workspace), progress)
    result = run_forms_parity(request, reference, shipped, progress, cancel)
    return FormsParity(result.reference_run, tuple(f.run_id for f in result.forms), tuple(f.form for f in result.forms), result)
