"""What an interactive session asks of the engine, headless: the TUI is a shell over this.

Everything here reads or writes the run store and lexicon files and calls the same
evaluation path as the CLI; nothing renders, nothing imports a UI toolkit. The Textual
app (`workbench.tui`) calls these functions from worker threads and shows the results.

- `list_runs`, `leaderboard`: the strategies × slices table, WER with intervals, from
  the scores stored with each run;
- `utterance_rows`, `inspect_utterance`: one utterance's reference against every run's
  hypothesis, word-aligned (jiwer), with the lexicon replacements made;
- `lexicon_suggestions`, `derive_strategy_run`: mined misrecognitions and missing terms
  from the train part, and a post-processing strategy re-scored from a stored baseline
  without decoding again;
- `ladder_status`: the escalation policy's decision for each stored rung.
"""

from dataclasses import dataclass, field
from pathlib import Path

import jiwer

from .atomic import write_text_atomic
from .errors import BadInputError
from .training_record import training_output
from .evaluation import EvaluationOptions
from .normalizers import get_normalizer
from .runstore import RunRecord, RunStore
from .scoring import scorecard_from_dict

__all__ = [
    "RunSummary",
    "Cell",
    "Leaderboard",
    "AlignedWord",
    "HypothesisView",
    "UtteranceView",
    "list_runs",
    "leaderboard",
    "utterance_rows",
    "inspect_utterance",
    "lexicon_suggestions",
    "derive_strategy_run",
    "latest_baseline",
    "ladder_status",
    "rejected_suggestions",
    "reject_suggestion",
]


@dataclass(frozen=True)
class RunSummary:
    id: str
    kind: str
    label: str  # the strategy, or the model for a plain run
    model: str | None
    status: str
    created_at: str
    utterances: int | None
    wer: float | None  # percent, overall, normalized
    base_run: str | None
    heldout_id: str | None
    part: str | None


def _label(config: dict) -> str:
    strategy = config.get("strategy")
    return strategy if strategy not in (None, "baseline") else str(config.get("model") or "baseline")


def _summary(store: RunStore, record: RunRecord) -> RunSummary:
    config = record.config or {}
    wer = None
    card = store.scores(record.id).get(record.normalizer or "")
    if card:
        wer = scorecard_from_dict(card).overall.wer
    return RunSummary(
        record.id, record.kind, _label(config), config.get("model"), record.effective_status, record.created_at,
        record.heldout_size, None if wer is None else 100.0 * wer, config.get("base_run"), record.heldout_id,
        config.get("part"),
    )


def list_runs(workspace: str, limit: int | None = None) -> list[RunSummary]:
    """Newest first."""
    if not Path(workspace, "runs.sqlite").exists():
        return []
    with RunStore(workspace) as store:
        return [_summary(store, r) for r in store.runs(limit)]


def latest_baseline(workspace: str, with_later_runs: bool = False) -> str | None:
    """The newest succeeded plain (baseline) bench run of the held-out part; with
    `with_later_runs`, the newest one that has succeeded runs after it on the same held-out
    part (the baseline of the latest comparison)."""
    runs = list_runs(workspace)
    for run in runs:
        if not (run.kind == "bench" and run.status == "succeeded" and run.base_run is None
                and run.part in (None, "heldout") and run.label == run.model and training_output(run.model) is None):
            continue  # a trained model's run is a candidate, never the baseline
        if not with_later_runs or any(o.id != run.id and o.status == "succeeded" and o.created_at >= run.created_at
                                      and o.heldout_id == run.heldout_id for o in runs):
            return run.id
    return None


@dataclass(frozen=True)
class Cell:
    wer: float | None  # percent
    low: float | None
    high: float | None
    utterances: int


@dataclass(frozen=True)
class Leaderboard:
    baseline: str | None
    runs: tuple[RunSummary, ...]  # the baseline first, then the others oldest first
    slices: tuple[str, ...]  # "overall", then "column=value"
    cells: dict = field(default_factory=dict)  # (run id, slice key) -> Cell

    def sorted_by(self, slice_key: str) -> tuple[RunSummary, ...]:
        """Runs by their WER on one slice, best first (runs without one last)."""
        def key(run):
            cell = self.cells.get((run.id, slice_key))
            return (cell is None or cell.wer is None, cell.wer if cell and cell.wer is not None else 0.0)
        return tuple(sorted(self.runs, key=key))


def leaderboard(workspace: str, baseline: str | None = None) -> Leaderboard:
    """The baseline and every succeeded run on the same held-out part made after it."""
    baseline = baseline or latest_baseline(workspace)
    if baseline is None:
        return Leaderboard(None, (), ())
    with RunStore(workspace) as store:
        base = store.run(store.resolve(baseline))
        records = [r for r in store.runs() if r.effective_status == "succeeded" and r.heldout_id == base.heldout_id
                   and (r.id == base.id or r.created_at >= base.created_at)]
        records.sort(key=lambda r: (r.id != base.id, r.created_at, r.id))
        runs, cells, slices = [], {}, ["overall"]
        for record in records:
            runs.append(_summary(store, record))
            data = store.scores(record.id).get(record.normalizer or "")
            if not data:
                continue
            card = scorecard_from_dict(data)
            for s in (card.overall, *card.slices):
                key = "overall" if s.column == "overall" else f"{s.column}={s.value}"
                if key not in slices:
                    slices.append(key)
                ci = s.wer_ci
                cells[(record.id, key)] = Cell(
                    None if s.wer is None else 100.0 * s.wer, None if ci is None else 100.0 * ci.low,
                    None if ci is None else 100.0 * ci.high, s.utterances,
                )
    return Leaderboard(base.id, tuple(runs), tuple(slices), cells)


# ----------------------------------------------------------------------------- one utterance


@dataclass(frozen=True)
class AlignedWord:
    op: str  # equal | substitute | delete | insert
    ref: str  # "" for an insertion
    hyp: str  # "" for a deletion


@dataclass(frozen=True)
class HypothesisView:
    run_id: str
    label: str
    hypothesis: str  # as the run stored it
    words: tuple[AlignedWord, ...]  # normalized, aligned with the normalized reference
    errors: int
    replacements: tuple[dict, ...]  # lexicon replacements (post-processing runs)


@dataclass(frozen=True)
class UtteranceView:
    id: str
    reference: str
    normalized_reference: str
    slices: dict
    rows: tuple[HypothesisView, ...]


def align_words(reference: str, hypothesis: str) -> tuple[AlignedWord, ...]:
    """jiwer's word alignment as a flat list of aligned pairs."""
    ref, hyp = reference.split(), hypothesis.split()
    if not ref:
        return tuple(AlignedWord("insert", "", w) for w in hyp)
    if not hyp:
        return tuple(AlignedWord("delete", w, "") for w in ref)
    out = []
    for chunk in jiwer.process_words(reference, hypothesis).alignments[0]:
        r, h = ref[chunk.ref_start_idx : chunk.ref_end_idx], hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "equal" or chunk.type == "substitute":
            out.extend(AlignedWord(chunk.type, a, b) for a, b in zip(r, h))
        elif chunk.type == "delete":
            out.extend(AlignedWord("delete", a, "") for a in r)
        else:
            out.extend(AlignedWord("insert", "", b) for b in h)
    return tuple(out)


def utterance_rows(workspace: str, run_id: str) -> list[tuple[str, int, str]]:
    """(utterance id, word errors, reference) of a run, worst first: what to inspect."""
    with RunStore(workspace) as store:
        record = store.run(store.resolve(run_id))
        normalizer = get_normalizer(record.normalizer or "auto")
        rows = []
        for h in store.hypotheses(record.id):
            ref, hyp = normalizer(h.reference, h.language), normalizer(h.hypothesis, h.language)
            errors = sum(w.op != "equal" for w in align_words(ref, hyp))
            rows.append((h.id, errors, h.reference))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def inspect_utterance(workspace: str, run_ids, utterance_id: str, normalizer: str | None = None) -> UtteranceView:
    with RunStore(workspace) as store:
        records = [store.run(store.resolve(r)) for r in run_ids]
        if not records:
            raise BadInputError("no run to inspect")
        norm = get_normalizer(normalizer or records[0].normalizer or "auto")
        rows, first = [], None
        for record in records:
            found = next((h for h in store.hypotheses(record.id) if h.id == utterance_id), None)
            if found is None:
                continue
            first = first or found
            ref = norm(found.reference, found.language)
            words = align_words(ref, norm(found.hypothesis, found.language))
            rows.append(HypothesisView(record.id, _label(record.config or {}), found.hypothesis, words,
                                       sum(w.op != "equal" for w in words), tuple((found.extra or {}).get("replacements") or ())))
    if first is None:
        raise BadInputError(f"utterance {utterance_id!r} is in none of the runs {', '.join(run_ids)}")
    return UtteranceView(first.id, first.reference, norm(first.reference, first.language), dict(first.slices), tuple(rows))


# ----------------------------------------------------------------------------- lexicon


def _split_of(record: RunRecord) -> str | None:
    """The held-out id of the split a run's utterances were chosen from (None if unknown)."""
    parts = ((record.config or {}).get("identity") or {}).get("parts") or {}
    return parts.get("split_heldout_id")


def latest_train_run(workspace: str, heldout_run: str | None = None) -> str | None:
    """The newest succeeded baseline run of the TRAIN part that mining may read: of the same
    split as `heldout_run` (default: the latest baseline) and sharing no utterance with it,
    checked by id."""
    heldout_run = heldout_run or latest_baseline(workspace)
    if not Path(workspace, "runs.sqlite").exists():
        return None
    with RunStore(workspace) as store:
        held = store.run(store.resolve(heldout_run)) if heldout_run else None
        held_ids = {h.id for h in store.hypotheses(held.id)} if held else set()
        for record in store.runs():
            config = record.config or {}
            if not (record.kind == "bench" and record.status == "succeeded" and config.get("part") == "train"
                    and config.get("strategy", "baseline") == "baseline"):
                continue
            if held is not None and _split_of(record) != _split_of(held):
                continue  # another split: its train part may hold what is held out now
            if held_ids & {h.id for h in store.hypotheses(record.id)}:
                continue
            return record.id
    return None


def lexicon_suggestions(workspace: str, lexicon_path: str, train_run: str | None = None, heldout_run: str | None = None):
    """(mined misrecognitions {term: [heard as]}, suggested missing terms [(word, count)]),
    learned from a stored baseline run of the TRAIN part that shares no utterance with the
    held-out run (`heldout_run`, default the latest baseline)."""
    from strategies.lexicon_correction import mine_misrecognitions, suggest_terms

    from .lexicon import load_lexicon

    train_run = train_run or latest_train_run(workspace, heldout_run)
    if train_run is None:
        raise BadInputError("no baseline run of the train part of this split to learn from: run `workbench bench --part train` "
                            "(or bench with --mine) first")
    lexicon = load_lexicon(lexicon_path)
    with RunStore(workspace) as store:
        record = store.run(store.resolve(train_run))
        if (record.config or {}).get("part") != "train":
            raise BadInputError(f"run {record.id} is not of the train part: mining the held-out part would grade the lexicon on its own answers")
        rows = store.hypotheses(record.id)
        heldout_run = heldout_run or latest_baseline(workspace)
        if heldout_run:
            held_ids = {h.id for h in store.hypotheses(store.resolve(heldout_run))}
            leaked = sorted(held_ids & {h.id for h in rows})
            if leaked:
                raise BadInputError(f"run {record.id} shares {len(leaked)} utterances with held-out run {heldout_run} "
                                    f"(e.g. {leaked[0]!r}): mining them would grade the lexicon on its own answers")
        pairs = [(h.reference, h.hypothesis, h.language) for h in rows if h.reference and "error" not in (h.extra or {})]
    return mine_misrecognitions(pairs, lexicon, min_similarity=65), suggest_terms(pairs, lexicon)


def derive_strategy_run(workspace: str, base_run: str, spec: str, lexicon_path: str | None, progress=None) -> str:
    """A post-processing strategy (e.g. "lexicon") applied to a stored run's transcripts,
    stored as a new run and scored by the one path (`workbench.runs.derive_run`): no decoding."""
    from dataclasses import asdict

    import strategies

    from .bench import lexicon_record
    from .bootstrap import BootstrapOptions
    from .lexicon import load_lexicon
    from .runs import derive_run

    infos = strategies.parse(spec)
    if any(i.stage == "decode" for i in infos):
        raise BadInputError(f"{spec}: a decode-time strategy needs new transcripts; run it with `workbench bench --strategies {spec}`")
    lexicon = load_lexicon(lexicon_path) if lexicon_path else None
    posts = [i for i in infos if i.stage == "post"]
    configs = {i.name: i.config_type() for i in posts}
    steps = [i.factory(configs[i.name], lexicon) for i in posts]
    with RunStore(workspace) as store:
        base = store.run(store.resolve(base_run))
        config = base.config or {}
        options = EvaluationOptions(base.normalizer or "auto", tuple(config.get("slice_columns", ())),
                                    BootstrapOptions(**config.get("bootstrap", {})))
        derived = derive_run(store, base.id, spec, steps, {k: asdict(v) for k, v in configs.items()}, lexicon,
                             lexicon_record(lexicon_path, lexicon) if lexicon_path else None, options, progress=progress)
    return derived.run_id


REVIEW_FILE = "lexicon-review.json"  # in the workspace: suggestions a user rejected


def rejected_suggestions(workspace: str) -> set[str]:
    """The suggestion keys rejected in earlier sessions (opaque strings chosen by the UI)."""
    import json

    path = Path(workspace, REVIEW_FILE)
    if not path.is_file():
        return set()
    try:
        return set(json.loads(path.read_text(encoding="utf-8")).get("rejected", []))
    except (ValueError, AttributeError) as exc:
        raise BadInputError(f"{path}: not a lexicon review file ({exc})") from None


def reject_suggestion(workspace: str, key: str) -> None:
    """Remember a rejected suggestion, so it is not offered again (written atomically)."""
    import json

    rejected = rejected_suggestions(workspace) | {key}
    Path(workspace).mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(workspace, REVIEW_FILE), json.dumps({"rejected": sorted(rejected)}, indent=2) + "\n")


def save_lexicon_csv(lexicon, path: str) -> None:
    """Write a lexicon back as the CSV a domain expert edits (atomically)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["term", "language", "category", "misrecognitions"])
    for t in lexicon.terms:
        writer.writerow([t.text, t.language or "", t.category or "", "|".join(t.misrecognitions)])
    write_text_atomic(path, buffer.getvalue())


# ----------------------------------------------------------------------------- escalation


def ladder_status(workspace: str, config, gpu_available: bool, baseline: str | None = None):
    """The policy's decision for the baseline and each stored rung after it, in ladder
    order: [(rung, run id, Decision)].

    A cheap rung is the newest run of that strategy; a training rung (lora, full) is the
    newest run that scored its exported model, recognised by the training record beside
    that model (`training_record.trained_rung`), as `escalate` stores it. A rung whose run
    is stored is judged even without a GPU here. Every rung after the baseline also goes
    through the forgetting guard, from the stored hypotheses, as `escalate` judges it. A
    trained model's run is never the ladder's baseline (it would be pinned as one, being
    the newest plain run): the newest other plain run is.
    """
    from .diagnostics import run_guard_figures
    from .policy import OVERALL, TRAINING_RUNGS, RungScores, SliceFigure, decide, guard_misses
    from .regression import ReportOptions, report_runs
    from .training_record import trained_rung, training_output

    board = leaderboard(workspace, baseline)
    if board.baseline is not None and training_output(board.runs[0].model) is not None:
        plain = [r for r in list_runs(workspace) if r.kind == "bench" and r.status == "succeeded" and r.base_run is None
                 and r.part in (None, "heldout") and r.label == r.model and training_output(r.model) is None]
        board = leaderboard(workspace, plain[0].id) if plain else Leaderboard(None, (), ())
    if board.baseline is None:
        return []
    by_rung = {}
    for run in board.runs:  # oldest first: the newest run of a rung wins
        trained = trained_rung(run.model) if run.label == run.model else None
        rung = "baseline" if run.id == board.baseline else (trained or run.label)
        if rung in config.ladder:
            by_rung[rung] = run.id
    out = []
    base_figures = tuple(
        SliceFigure(OVERALL if key == "overall" else key, cell.utterances, cell.wer, None)
        for key in board.slices if (cell := board.cells.get((board.baseline, key))) is not None and cell.wer is not None
    )
    ladder = tuple(r for r in config.ladder if r in by_rung or r in TRAINING_RUNGS)
    earlier = []
    with RunStore(workspace) as store:
        base_guard = run_guard_figures(store, board.baseline)
        for position, rung in enumerate(ladder):
            if rung not in by_rung:
                continue
            if rung == "baseline":
                scores = RungScores("baseline", base_figures)
            else:
                report = report_runs(workspace, board.baseline, [by_rung[rung]], ReportOptions())
                scores = RungScores(rung, tuple(
                    SliceFigure(OVERALL if s["column"] == "overall" else f"{s['column']}={s['value']}", s["utterances"], s["wer"],
                                s["baseline_wer"], s["change_low"], s["change_high"])
                    for s in report["comparisons"][0]["slices"] if s["wer"] is not None
                ), guard_misses(run_guard_figures(store, by_rung[rung]), base_guard, config.targets))
            # The next rung already run (a model trained elsewhere) needs no GPU here.
            stored_next = position + 1 < len(ladder) and ladder[position + 1] in by_rung
            decision = decide(scores, ladder, config.targets, gpu_available=gpu_available or stored_next, earlier=tuple(earlier))
            earlier.append(scores)
            out.append((rung, by_rung[rung], decision))
            if decision.action != "next":
                break  # the ladder stops at the first rung that meets every target (or cannot go on)
    return out
