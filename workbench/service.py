"""The service layer: what a command does, as functions the CLI and the TUI both call.

Nothing here prints or parses arguments; it takes frozen requests, reports progress
through a callback, and returns frozen results. Every run is claimed, scored and stored
through `workbench.runs` (the one run lifecycle).
"""

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from .dataset import Dataset, Problem, Utterance, default_slice_columns
from .errors import BadInputError
from .evaluation import Evaluation, EvaluationOptions, Thresholds
from .hypotheses import load_hypotheses, match_report, no_match_message
from .manifest import LoadOptions, load_dataset
from .normalizers import get_normalizer
from .runstore import DEFAULT_WORKSPACE, RunStore, StoredHypothesis
from .scoring import scorecard_to_dict
from .split import Split, SplitOptions, split_dataset, split_with_test
from .slicing import unknown_columns

__all__ = [
    "DataSelection",
    "SelectedData",
    "select_data",
    "ScoreRequest",
    "ScoreResult",
    "score_hypotheses",
    "rescore_run",
    "RescoreResult",
    "data_facts",
    "InspectResult",
    "inspect_data",
    "example_paths",
]

Progress = Callable[[str, int, int], None]  # (stage, done, total)

PARTS = ("all", "heldout", "train")


@dataclass(frozen=True)
class DataSelection:
    """Which utterances to use: a dataset, optionally a separate test manifest, and a part."""

    data: str | None = None  # manifest, folder, save_to_disk folder or hf:NAME
    test: str | None = None  # a separate held-out manifest, used whole
    part: str = "all"  # all | heldout | train (with --test: heldout = the test manifest)
    load: LoadOptions = field(default_factory=LoadOptions)
    split: SplitOptions = field(default_factory=SplitOptions)

    def __post_init__(self) -> None:
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {self.part!r}")
        if self.data is None and self.test is None:
            raise ValueError("a data selection needs data or test")


@dataclass(frozen=True)
class SelectedData:
    utterances: tuple[Utterance, ...]  # the utterances to score
    split: Split  # train/held-out, with the held-out identity
    datasets: tuple[Dataset, ...]  # what was loaded, with its problems
    slice_columns: tuple[str, ...]  # all slice columns the data has

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for d in self.datasets for p in d.problems)


def _stage(progress: Progress | None, stage: str):
    return None if progress is None else (lambda done, total: progress(stage, done, total))


def select_data(selection: DataSelection, progress: Progress | None = None) -> SelectedData:
    datasets = []
    if selection.test is not None:
        test = load_dataset(selection.test, selection.load, _stage(progress, f"checking {selection.test}"))
        datasets.append(test)
        train_utts: tuple[Utterance, ...] = ()
        if selection.data is not None:
            train_ds = load_dataset(selection.data, selection.load, _stage(progress, f"checking {selection.data}"))
            datasets.append(train_ds)
            train_utts = train_ds.utterances
        split = split_with_test(train_utts, test.utterances)
        part = "heldout" if selection.part == "all" else selection.part
    else:
        ds = load_dataset(selection.data, selection.load, _stage(progress, f"checking {selection.data}"))
        datasets.append(ds)
        split = split_dataset(ds.utterances, selection.split)
        part = selection.part
    if part == "heldout":
        chosen = split.heldout
    elif part == "train":
        chosen = split.train
    else:
        chosen = datasets[0].utterances
    columns: list[str] = []
    for d in datasets:
        columns.extend(c for c in d.slice_columns if c not in columns)
    return SelectedData(tuple(chosen), split, tuple(datasets), tuple(columns))


@dataclass(frozen=True)
class ScoreRequest:
    selection: DataSelection
    hypotheses: str  # path to a CSV/TSV/JSONL hypotheses file
    evaluation: EvaluationOptions = field(default_factory=EvaluationOptions)  # empty slice_columns -> defaults
    thresholds: Thresholds = field(default_factory=Thresholds)
    workspace: str = DEFAULT_WORKSPACE
    strict: bool = False  # a missing or unknown hypothesis is an error, not a warning


@dataclass(frozen=True)
class ScoreResult:
    run_id: str
    evaluation: Evaluation
    data: SelectedData
    hypothesis_problems: tuple[Problem, ...]
    missed: tuple[str, ...]  # thresholds missed, in words
    report: dict  # the self-describing JSON report
    scores: object = None  # workbench.runs.RunScores: coverage, language ID, hallucination


def no_utterances_message(selection: DataSelection, data: SelectedData) -> str:
    """Why there is nothing to run on, with the reasons the rows were excluded."""
    from .dataset import no_valid_rows_message

    empty = [d for d in data.datasets if not d.utterances and d.rows_read]
    if empty:  # every row of a file was excluded: its reasons and the usual cause's hint
        return no_valid_rows_message(empty[0])
    where = selection.test or selection.data
    part = "" if selection.part == "all" else f" {selection.part}-part"
    reasons = [str(p) for p in data.problems if p.kind == "error"][:5]
    more = f" (and {len(data.problems) - len(reasons)} more)" if len(data.problems) > len(reasons) else ""
    detail = ("; rows excluded: " + " | ".join(reasons) + more) if reasons else ""
    return f"{where}: no valid{part} utterances to run on{detail}"


def score_hypotheses(request: ScoreRequest, progress: Progress | None = None) -> ScoreResult:
    """Score a hypotheses file against a manifest: stored as a run, scored by the one path."""
    from .runs import claim, code_version, file_sha256, guarded, make_identity, rows_fingerprint, score_stored, store_scores
    from .split import heldout_identity

    started = time.perf_counter()
    data = select_data(request.selection, progress)
    if not data.utterances:
        raise BadInputError(no_utterances_message(request.selection, data))
    hyps = load_hypotheses(request.hypotheses)
    match = match_report(hyps, data.utterances)
    matched = match.matched
    hyp_problems = tuple(hyps.problems) + tuple(match.problems)
    if not matched:
        raise BadInputError(no_match_message(match, data.utterances))
    if request.strict and hyp_problems:
        raise BadInputError(str(hyp_problems[0]))
    columns = request.evaluation.slice_columns or default_slice_columns(data.utterances, data.slice_columns)
    unknown = unknown_columns(columns, data.slice_columns)
    if unknown:
        raise BadInputError(f"--slices: unknown column {unknown[0]!r} (the data has: {', '.join(data.slice_columns) or 'none'})")
    options = EvaluationOptions(request.evaluation.normalizer, tuple(columns), request.evaluation.bootstrap)
    normalizer = get_normalizer(options.normalizer)
    loaded = time.perf_counter()

    config = {
        "command": "score",
        "data": request.selection.data,
        "test": request.selection.test,
        "part": request.selection.part,
        "hypotheses": request.hypotheses,
        "load_options": asdict(request.selection.load),
        "split_options": asdict(request.selection.split),
        "normalizer": normalizer.id,
        "slice_columns": list(columns),
        "bootstrap": asdict(options.bootstrap),
        "thresholds": asdict(request.thresholds),
    }
    identity_of_data = data.split.heldout_id if data.utterances == data.split.heldout else heldout_identity(data.utterances)
    identity = make_identity({
        "kind": "score",
        "rows": rows_fingerprint(data.utterances),
        "heldout_id": identity_of_data,
        "hypotheses_sha256": file_sha256(request.hypotheses),
        "normalizer": normalizer.id,
        "code": code_version(),
    })
    with RunStore(request.workspace) as store:
        # Scoring a file is cheap and its scores are the point: always a new run.
        run_id = claim(store, "score", identity, config, identity_of_data, len(data.utterances), normalizer.id,
                       reuse=False, resume=False).run_id
        with guarded(store, run_id, f"run {run_id} cancelled; nothing was scored"):
            store.add_hypotheses(
                run_id,
                (StoredHypothesis(u.id, u.reference, matched.get(u.id, ""), dict(u.slices), _stored_extra(u, match)) for u in data.utterances),
            )
            scores = score_stored(store.hypotheses(run_id), options, request.thresholds, [u.id for u in data.utterances], f"run {run_id}")
            timings = {"load_s": round(loaded - started, 3), "score_s": round(time.perf_counter() - loaded, 3)}
            store_scores(store, run_id, scores, timings, {"utterances": len(data.utterances)})
        record = store.run(run_id)

    report = {
        "run_id": run_id,
        "kind": "score",
        "created_at": record.created_at,
        "status": record.status,
        "heldout_id": identity_of_data,
        "identity": identity.to_dict(),
        "data": data_facts(data, len(data.utterances)),
        "hypotheses": {"source": hyps.source, "matched": len(matched), "problems": [str(p) for p in hyp_problems]},
        "thresholds": {**asdict(request.thresholds), "missed": list(scores.missed)},
        "config": record.config,
        "environment": record.environment,
        "git_commit": record.git_commit,
        "timings": timings,
        **scores.to_dict(),
    }
    return ScoreResult(run_id, scores.evaluation, data, hyp_problems, scores.missed, report, scores)


def _stored_extra(u: Utterance, match) -> dict | None:
    """What a scored file's row keeps besides its text: `missing` for an utterance without a
    hypothesis; else the clip's duration and a ctm file's timed words (with confidences),
    so the run can be exported again with times (`workbench export --format ctm|stm`)."""
    if u.id not in match.matched:
        return {"missing": True}
    extra: dict = {}
    if u.duration_s is not None:
        extra["duration_s"] = u.duration_s
    words = match.words.get(u.id)
    if words is not None:
        extra["ctm_words"] = [[w.start, w.duration, w.word, w.confidence] for w in words]
    return extra or None


def finish_scored_run(store: RunStore, run_id: str, evaluation: Evaluation, missed, timings: dict, summary: dict):
    """Store already computed scorecards and mark the run succeeded in one transaction (for
    runs built by hand, e.g. in tests); commands score through `workbench.runs`."""
    summary = {
        **summary,
        "wer": evaluation.normalized.overall.wer,
        "raw_wer": evaluation.raw.overall.wer,
        "cer": evaluation.normalized.overall.cer,
        "missed": list(missed),
    }
    cards = {card.normalizer: scorecard_to_dict(card) for card in (evaluation.normalized, evaluation.raw)}
    store.finish_run(run_id, cards, timings, summary)
    return store.run(run_id)


def data_facts(data: SelectedData, used: int) -> dict:
    """What was loaded and what was left out, for every report."""
    return {
        "sources": [d.source for d in data.datasets],
        "rows_read": sum(d.rows_read for d in data.datasets),
        "utterances": used,
        "utterances_scored": used,
        "excluded": sum(d.excluded for d in data.datasets),
        "excluded_rows": sum(d.excluded for d in data.datasets),
        "problems": [str(p) for p in data.problems],
        "split": {
            "method": data.split.method,
            "train": len(data.split.train),
            "heldout": len(data.split.heldout),
            "heldout_id": data.split.heldout_id,
            "notes": list(data.split.notes),
        },
    }


@dataclass(frozen=True)
class RescoreResult:
    run_id: str
    scores: "object"  # workbench.runs.RunScores
    version: int | None  # the scorecard version written; None when identical to the latest

    @property
    def evaluation(self) -> Evaluation:
        return self.scores.evaluation


def rescore_run(
    run_id: str,
    workspace: str = DEFAULT_WORKSPACE,
    normalizer: str | None = None,
    slice_columns: tuple[str, ...] = (),
    bootstrap=None,
) -> RescoreResult:
    """Recompute a stored run's scores from its stored hypotheses (no transcription), by the
    same path as the run's own scoring; a finished run gets a new scorecard version."""
    from .bootstrap import BootstrapOptions
    from .runs import score_stored, store_scores

    with RunStore(workspace) as store:
        record = store.run(run_id)
        hyps = store.hypotheses(record.id)
        if not hyps:
            raise BadInputError(f"run {record.id} has no stored hypotheses to rescore")
        config = record.config
        options = EvaluationOptions(
            normalizer or config.get("normalizer", "auto"),
            tuple(slice_columns or config.get("slice_columns", ())),
            bootstrap or BootstrapOptions(**config.get("bootstrap", {})),
        )
        scores = score_stored(hyps, options, label=f"run {record.id}")
        version = None
        if record.status == "succeeded":
            note = (f"rescore: normalizer {scores.evaluation.normalized.normalizer}, slices {','.join(options.slice_columns) or '-'}, "
                    f"{options.bootstrap.resamples} resamples")
            version = store_scores(store, record.id, scores, {}, {}, finish=False, note=note)
        return RescoreResult(record.id, scores, version)


@dataclass(frozen=True)
class InspectResult:
    dataset: Dataset
    split: Split
    slice_columns: tuple[str, ...]  # the columns worth a per-slice summary


def inspect_data(spec: str, load: LoadOptions = LoadOptions(), split: SplitOptions = SplitOptions(), progress: Progress | None = None) -> InspectResult:
    """Load and validate a dataset, and show the held-out split it would get."""
    dataset = load_dataset(spec, load, _stage(progress, f"checking {spec}"))
    columns = default_slice_columns(dataset.utterances, dataset.slice_columns)
    return InspectResult(dataset, split_dataset(dataset.utterances, split), columns)


def example_paths() -> tuple[str, str]:
    """The shipped example: a manifest of synthetic clips and real Whisper hypotheses of them."""
    from importlib.resources import files

    folder = files("workbench") / "examples" / "mini"
    return str(folder / "manifest.csv"), str(folder / "hypotheses.jsonl")
