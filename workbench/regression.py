"""The regression report: is a strategy (or any run) safe to ship against its baseline?

For every slice (overall, accent, language, any manifest column) it puts side by side the
baseline's and the candidate's WER and CER, the PAIRED change with its bootstrap interval
(the same resampled utterances for both runs), two significance tests, and a verdict:

- with `cluster` (e.g. "speaker"), the bootstrap resamples whole speakers: utterances of
  one speaker are not independent, and an interval that pretends they are is too narrow;
- paired bootstrap p-value: two-sided, 2 * min(P(change* <= 0), P(change* >= 0)) over
  the replicates of the change (the percentile-bootstrap test);
- sign test on per-utterance errors, as NIST's sc_stats does: among the utterances
  whose error count differs, how many got worse, under Binomial(n, 1/2);
- verdict: "too few" under `min_utterances`; "regressed" when the change is
  significantly positive (the interval lies above zero) AND larger than the tolerance;
  "improved" when it is significantly negative; otherwise "unchanged" (a significant
  rise within the tolerance is flagged `within_tolerance`).

For languages written without spaces (Chinese, Japanese, Thai, ...) a word is not a
unit, so CER is the primary figure and the verdict is taken on it.

Beside the slices: language-ID accuracy per slice for both runs; hallucination (words
on no-speech clips, repetition loops, the share of transcripts whose compression ratio
is above 2.4, Whisper's own threshold); for lexicon runs, term recall/precision and
over-correction. The whole report is a plain dict with a versioned JSON schema
(`schemas/regression-report.v1.json`); `reports_html.py` renders it as one HTML file.

Everything is computed from the run store (stored hypotheses and references), so any
two runs can be compared long after they were made, under any normalizer.
"""

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .backends.base import language_code
from .bootstrap import BootstrapOptions, replicates_many, slice_rng
from .dataset import default_slice_columns
from .diagnostics import hallucination, language_id
from .errors import BadInputError
from .normalizers import get_normalizer
from .runs.coverage import COVERAGE_RULE, is_no_speech, partition
from .runstore import RunRecord, RunStore, StoredHypothesis
from .scoring import align
from .slicing import slice_value, unknown_columns

__all__ = ["ReportOptions", "SCHEMA_ID", "SCHEMA_VERSION", "VERDICTS", "build_report", "report_runs", "repetition_loop", "paired_rows"]

SCHEMA_ID = "whisper-workbench/regression-report"
SCHEMA_VERSION = 1
VERDICTS = ("improved", "regressed", "unchanged", "too few")
# Whisper's own hallucination signal: gzip compression ratio above 2.4 means repetitive text.
COMPRESSION_THRESHOLD = 2.4
# Languages written without spaces between words: CER is the primary figure there.
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "yue", "bo"})


@dataclass(frozen=True)
class ReportOptions:
    tolerance_pp: float = 0.0  # a significant rise up to this many points is not a regression
    min_utterances: int = 5  # fewer utterances in a slice: "too few" to tell
    normalizer: str | None = None  # None: the baseline run's
    slice_columns: tuple[str, ...] = ()  # empty: the columns worth slicing (dataset defaults)
    only: tuple[tuple[str, str], ...] = ()  # keep utterances whose column has this value (all must match)
    cluster: str | None = None  # resample whole groups of this column (e.g. "speaker") instead of utterances
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)

    def __post_init__(self) -> None:
        if self.tolerance_pp < 0:
            raise ValueError(f"tolerance must be >= 0 percentage points, got {self.tolerance_pp!r}")
        if self.min_utterances < 1:
            raise ValueError(f"min_utterances must be at least 1, got {self.min_utterances!r}")


# ----------------------------------------------------------------------------- pieces


def repetition_loop(text: str, min_repeats: int = 4, max_ngram: int = 6) -> bool:
    """Whether the text repeats one n-gram (n <= max_ngram) at least min_repeats times in a
    row: "galaxy galaxy galaxy galaxy", "thank you. thank you. thank you. thank you."."""
    tokens = re.findall(r"\w+", text.lower())
    for n in range(1, max_ngram + 1):
        for start in range(0, len(tokens) - n * min_repeats + 1):
            gram = tokens[start : start + n]
            if all(tokens[start + k * n : start + (k + 1) * n] == gram for k in range(1, min_repeats)):
                return True
    return False


def _paired_p_value(replicates: np.ndarray) -> float | None:
    values = replicates[~np.isnan(replicates)]
    if values.size == 0:
        return None
    return float(min(1.0, 2.0 * min(np.mean(values <= 0), np.mean(values >= 0))))


def _sign_test(diffs: np.ndarray) -> tuple[int, int, float | None]:
    """(utterances better, worse, two-sided p) over per-utterance error differences."""
    from scipy.stats import binomtest

    worse, better = int(np.sum(diffs > 0)), int(np.sum(diffs < 0))
    if worse + better == 0:
        return better, worse, None
    return better, worse, float(binomtest(worse, worse + better, 0.5).pvalue)


def _percentile(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None, None
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def _run_info(record: RunRecord, hyps: Sequence[StoredHypothesis]) -> dict:
    config = record.config or {}
    return {
        "id": record.id,
        "kind": record.kind,
        # A strategy run is named by its strategy; a plain run by its model (model-size comparisons).
        "label": config["strategy"] if config.get("strategy") not in (None, "baseline") else str(config.get("model") or "baseline"),
        "model": config.get("model"),
        "backend": config.get("backend"),
        "created": record.created_at,
        "heldout_id": record.heldout_id,
        "utterances": len(hyps),
        "identity": ((config.get("identity") or {}).get("digest")),
        "identity_parts": ((config.get("identity") or {}).get("parts")),
        "git_commit": record.git_commit,
        "training_overlap": _training_overlap(config.get("model"), hyps),
    }


def _training_overlap(model: str | None, hyps: Sequence[StoredHypothesis]) -> int | None:
    """For a trained model's run: how many of its scored utterances the model was trained or
    validated on (by id, from the record training writes beside the model). 0 is the only
    acceptable answer; None when the run's model was not trained by the workbench."""
    from pathlib import Path

    from .training_record import leakage_overlap, read_record, training_output

    if training_output(model) is None:
        return None
    record = read_record(Path(model).parent)
    if record is None:
        return None
    return leakage_overlap(record, [h.id for h in hyps])


# ----------------------------------------------------------------------------- the report


def _slices(columns, items) -> list[tuple[str, str, list[int]]]:
    groups = [("overall", "all", list(range(len(items))))]
    for column in columns:
        by_value: dict[str, list[int]] = {}
        for i, h in enumerate(items):
            by_value.setdefault(slice_value(h.slices, column), []).append(i)
        groups.extend((column, value, by_value[value]) for value in sorted(by_value))
    return groups


def _compare(base: list[StoredHypothesis], cand: dict[str, StoredHypothesis], normalizer, columns, options: ReportOptions) -> list[dict]:
    ids = [h.id for h in base]
    refs = [normalizer(h.reference, h.language) for h in base]
    a = align(ids, refs, [normalizer(h.hypothesis, h.language) for h in base])
    b = align(ids, refs, [normalizer(cand[h.id].hypothesis, h.language) for h in base])
    return paired_rows(base, a, b, columns, options)


def paired_rows(items: Sequence, a: Sequence, b: Sequence, columns, options: ReportOptions) -> list[dict]:
    """The paired change of B against A per slice, from per-utterance scores of the SAME
    utterances (`items[i]`, `a[i]`, `b[i]`): the one paired comparison of the workbench
    (the regression report, the strategy comparison and the escalation policy read it)."""
    ids = [h.id for h in items]
    if [s.id for s in a] != ids or [s.id for s in b] != ids:
        raise ValueError("paired_rows: a and b must score the same utterances in the same order")
    base = items
    a_err = np.fromiter((s.errors for s in a), float, len(ids))
    b_err = np.fromiter((s.errors for s in b), float, len(ids))
    words = np.fromiter((s.ref_words for s in a), float, len(ids))
    a_cerr = np.fromiter((s.char_errors for s in a), float, len(ids))
    b_cerr = np.fromiter((s.char_errors for s in b), float, len(ids))
    chars = np.fromiter((s.ref_chars for s in a), float, len(ids))
    groups = [(column, value, np.asarray(members, dtype=np.int64)) for column, value, members in _slices(columns, base)]
    language_of = {}  # language code -> small integer, so a slice's languages are one np.unique
    language_index = np.fromiter((language_of.setdefault(language_code(h.language), len(language_of)) for h in base), np.int64, len(ids))
    language_names = list(language_of)
    # One paired bootstrap per distinct membership (a slice holding every utterance, or the
    # same ones as another, gets the same draws), all of them in forked workers when large.
    tasks: dict[bytes, tuple] = {}
    for _, _, m in groups:
        key = m.tobytes()
        if key in tasks:
            continue
        numerators = np.vstack([b_err[m] - a_err[m], b_cerr[m] - a_cerr[m]])
        denominators = np.vstack([words[m], chars[m]])
        if options.cluster:
            # Resample whole clusters (speakers): a speaker's utterances share a voice and a
            # microphone, so treating them as independent makes intervals too narrow.
            numerators, denominators = _by_cluster([base[i].slices.get(options.cluster, "") for i in m], numerators, denominators)
        tasks[key] = (numerators, denominators, slice_rng(options.bootstrap, (ids[i] for i in m)))
    replicates = dict(zip(tasks, replicates_many(list(tasks.values()), options.bootstrap)))
    rows = []
    for column, value, m in groups:
        members = m
        n_words, n_chars = words[m].sum(), chars[m].sum()
        reps = replicates[m.tobytes()]
        wer_low, wer_high = _percentile(reps[0], options.bootstrap.confidence)
        cer_low, cer_high = _percentile(reps[1], options.bootstrap.confidence)
        languages = {language_names[k] for k in np.unique(language_index[m])}
        primary = "cer" if languages and languages <= NO_SPACE_LANGUAGES else "wer"
        diffs = (b_cerr[m] - a_cerr[m]) if primary == "cer" else (b_err[m] - a_err[m])
        better, worse, sign_p = _sign_test(diffs)
        row = {
            "column": column,
            "value": value,
            "utterances": len(members),
            "words": int(n_words),
            "baseline_wer": _pct(a_err[m].sum() / n_words) if n_words else None,
            "wer": _pct(b_err[m].sum() / n_words) if n_words else None,
            "change": _pct((b_err[m].sum() - a_err[m].sum()) / n_words) if n_words else None,
            "change_low": _pct(wer_low),
            "change_high": _pct(wer_high),
            "p_value": _paired_p_value(reps[0 if primary == "wer" else 1]),
            "baseline_cer": _pct(a_cerr[m].sum() / n_chars) if n_chars else None,
            "cer": _pct(b_cerr[m].sum() / n_chars) if n_chars else None,
            "cer_change": _pct((b_cerr[m].sum() - a_cerr[m].sum()) / n_chars) if n_chars else None,
            "cer_change_low": _pct(cer_low),
            "cer_change_high": _pct(cer_high),
            "primary": primary,
            "utterances_better": better,
            "utterances_worse": worse,
            "sign_test_p": sign_p,
        }
        row.update(_verdict(row, options))
        rows.append(row)
    return rows


def _by_cluster(keys: list[str], numerators: np.ndarray, denominators: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance columns summed into one column per cluster."""
    codes = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    index = np.array([codes[k] for k in keys], dtype=np.int64)
    out_n = np.zeros((numerators.shape[0], len(codes)))
    out_d = np.zeros((denominators.shape[0], len(codes)))
    for row in range(numerators.shape[0]):
        out_n[row] = np.bincount(index, weights=numerators[row], minlength=len(codes))
        out_d[row] = np.bincount(index, weights=denominators[row], minlength=len(codes))
    return out_n, out_d


def _verdict(row: dict, options: ReportOptions) -> dict:
    prefix = "" if row["primary"] == "wer" else "cer_"
    change, low, high = row[f"{prefix}change"], row[f"{prefix}change_low"], row[f"{prefix}change_high"]
    if row["utterances"] < options.min_utterances or change is None or low is None:
        return {"verdict": "too few", "within_tolerance": False}
    if low > 0:
        if change > options.tolerance_pp:
            return {"verdict": "regressed", "within_tolerance": False}
        return {"verdict": "unchanged", "within_tolerance": True}
    if high < 0:
        return {"verdict": "improved", "within_tolerance": False}
    return {"verdict": "unchanged", "within_tolerance": False}


def _language_id(base, cand, columns) -> list[dict]:
    a = {(s.column, s.value): s for s in language_id(base, {h.id: h.extra or {} for h in base}, columns)}
    b = {(s.column, s.value): s for s in language_id(base, {h.id: cand[h.id].extra or {} for h in base}, columns)}
    rows = []
    for key in a.keys() | b.keys():
        x, y = a.get(key), b.get(key)
        rows.append({
            "column": key[0], "value": key[1],
            "utterances": (x or y).utterances,
            "baseline_accuracy": _pct(x.accuracy) if x else None,
            "accuracy": _pct(y.accuracy) if y else None,
        })
    order = {("overall", "all"): 0}
    return sorted(rows, key=lambda r: (order.get((r["column"], r["value"]), 1), r["column"], r["value"]))


def _hallucination(speech, silent, hyps_of) -> dict:
    score = hallucination(silent, {h.id: hyps_of(h).hypothesis for h in silent})
    everything = list(speech) + list(silent)
    loops = [h.id for h in everything if repetition_loop(hyps_of(h).hypothesis)]
    ratios = [(hyps_of(h).extra or {}).get("compression_ratio") for h in everything]
    known = [r for r in ratios if isinstance(r, (int, float))]
    return {
        "no_speech_clips": score.clips,
        "clips_with_output": score.clips_with_output,
        "words": score.words,
        "examples": [list(e) for e in score.examples],
        "repetition_loops": len(loops),
        "loop_examples": loops[:5],
        "high_compression_share": _pct(sum(r > COMPRESSION_THRESHOLD for r in known) / len(known)) if known else None,
    }


def _longform(speech, cand: dict, normalizer, columns) -> dict | None:
    """Long recordings (a timed reference stored with the run): the long-form measures per
    slice for both runs, by the same function their own scoring uses."""
    if not any((h.extra or {}).get("reference_segments") for h in speech):
        return None
    from dataclasses import replace as _replace

    from .bootstrap import BootstrapOptions
    from .evaluation import EvaluationOptions
    from .runs.scoring import longform_scores

    options = EvaluationOptions(normalizer.id, tuple(columns), BootstrapOptions(resamples=0))
    # The candidate's text and segments, with the baseline's stored reference times.
    candidate = [_replace(cand[h.id], extra={**(cand[h.id].extra or {}), "reference_segments": (h.extra or {}).get("reference_segments"),
                                             "duration_s": (h.extra or {}).get("duration_s")}) for h in speech]
    base = longform_scores(speech, options)
    new = longform_scores(candidate, options)
    def minutes(scored):  # WER per minute of reference time, per recording
        return [{"utterance_id": r["utterance_id"], "minutes": [{"minute": m["minute"], "ref_words": m["ref_words"], "wer": m.get("wer")}
                                                                for m in r.get("minutes", [])]}
                for r in (scored or {}).get("recordings", [])]

    return {"baseline": base["slices"] if base else [], "candidate": new["slices"] if new else [],
            "per_minute": {"baseline": minutes(base), "candidate": minutes(new)}}


def _pairing(base_cov, cand_cov, common: set) -> dict:
    """What the paired figures cover, and what they leave out on either side (counted)."""
    def usable(cov):
        return {h.id for h in cov.speech} | {h.id for h in cov.no_speech}

    base_only = sorted(usable(base_cov) - common)
    cand_only = sorted(usable(cand_cov) - usable(base_cov))
    excluded = sorted({i for i, _ in base_cov.failed} | {i for i, _ in cand_cov.failed} | set(base_cov.missing) | set(cand_cov.missing))
    return {
        "paired": len(common),
        "baseline_only": len(base_only),
        "candidate_only": len(cand_only),
        "failed_or_missing": len(excluded),
        "examples": (base_only + cand_only + excluded)[:10],
    }


def _stored_lexicon(config: dict):
    """The lexicon a run used: its stored snapshot (survives a moved or edited file), else the file."""
    from .lexicon import Lexicon, Term, load_lexicon

    snapshot = config.get("lexicon_snapshot")
    if snapshot and snapshot.get("terms"):
        return Lexicon(tuple(Term(text, language or None) for text, language in snapshot["terms"]), snapshot.get("path", ""))
    path = config.get("lexicon")
    if not path:
        return None
    try:
        return load_lexicon(path)
    except (BadInputError, OSError):
        return None  # an old run whose lexicon file moved: the rest of the report still stands


def _terms(base, cand, normalizer, columns, config: dict) -> dict | None:
    from .terms import over_corrections, term_scores

    lexicon = _stored_lexicon(config)
    if lexicon is None:
        return None
    terms_of = lambda lang: [t.text for t in lexicon.for_language(lang).terms]  # noqa: E731
    rows = []
    for label, hyps in (("baseline", {h.id: h.hypothesis for h in base}), ("candidate", {h.id: cand[h.id].hypothesis for h in base})):
        for t in term_scores(base, hyps, terms_of, normalizer, columns):
            rows.append({"run": label, "column": t.column, "value": t.value, "recall": _pct(t.recall), "precision": _pct(t.precision)})
    over = [
        {"column": o.column, "value": o.value, "broken": o.broken, "fixed": o.fixed, "touched": o.touched, "invented": o.invented}
        for o in over_corrections(base, {h.id: h.hypothesis for h in base}, {h.id: cand[h.id].hypothesis for h in base}, normalizer, columns)
    ]
    return {"lexicon": str(config.get("lexicon") or lexicon.source), "terms": rows, "over_correction": over}


def build_report(
    baseline: tuple[RunRecord, Sequence[StoredHypothesis]],
    candidates: Sequence[tuple[RunRecord, Sequence[StoredHypothesis]]],
    options: ReportOptions = ReportOptions(),
) -> dict:
    """The report dict (schema v1) for candidates against one baseline, paired on the
    utterances every run has."""
    base_record, base_hyps = baseline
    normalizer = get_normalizer(options.normalizer or base_record.normalizer or "auto")

    available = list(dict.fromkeys(c for h in base_hyps for c in h.slices))
    asked = [("--slices", c) for c in options.slice_columns] + [("--only", c) for c, _ in options.only]
    asked += [("--cluster", options.cluster)] if options.cluster else []
    for option, column in asked:  # an unknown column would silently make one group of everything
        if unknown_columns([column], available):
            raise BadInputError(f"{option}: run {base_record.id} has no column {column!r} (it has: {', '.join(available) or 'none'})")

    def keep(h: StoredHypothesis) -> bool:
        return all(slice_value(h.slices, c) == v for c, v in options.only)

    # Pairing follows the one coverage rule (workbench.runs.coverage): an utterance is
    # compared when every run has a usable hypothesis for it; failed decodes and missing
    # hypotheses on either side are left out of the paired figures and COUNTED.
    base_cov = partition([h for h in base_hyps if keep(h)])
    cand_covs = [partition(hyps) for _, hyps in candidates]
    usable = {h.id for h in base_cov.speech} | {h.id for h in base_cov.no_speech}
    common = set(usable)
    for cov in cand_covs:
        common &= {h.id for h in cov.speech} | {h.id for h in cov.no_speech}
    if not common:
        raise BadInputError(f"run {base_record.id} and {', '.join(r.id for r, _ in candidates)} share no utterances to compare")
    base = [h for h in base_hyps if h.id in common]
    silent = [h for h in base if is_no_speech(h)]
    speech = [h for h in base if h not in silent]
    columns = options.slice_columns or default_slice_columns(speech, available)
    comparisons = []
    any_regressed = False
    base_by_id = {h.id: h for h in base}
    for (record, hyps), cov in zip(candidates, cand_covs):
        cand = {h.id: h for h in hyps if h.id in common}
        slices = _compare(speech, cand, normalizer, columns, options)
        regressions = [f"{s['column']}={s['value']}" if s["column"] != "overall" else "overall" for s in slices if s["verdict"] == "regressed"]
        any_regressed |= bool(regressions)
        config = record.config or {}
        comparisons.append({
            "run": _run_info(record, list(cand.values())),
            "slices": slices,
            "regressions": regressions,
            "pairing": _pairing(base_cov, cov, common),
            "language_id": _language_id(speech, cand, columns),
            "hallucination": {
                "baseline": _hallucination(speech, silent, lambda h: base_by_id[h.id]),
                "candidate": _hallucination(speech, silent, lambda h, cand=cand: cand[h.id]),
            },
            # every run made with a lexicon (the correction layer, biasing, n-best rescoring)
            "terms": _terms(speech, cand, normalizer, columns, config),
            "longform": _longform(speech, cand, normalizer, columns),
        })
    return {
        "schema": SCHEMA_ID,
        "version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "normalizer": normalizer.id,
        "tolerance_pp": options.tolerance_pp,
        "min_utterances": options.min_utterances,
        "confidence": options.bootstrap.confidence,
        "resamples": options.bootstrap.resamples,
        "seed": options.bootstrap.seed,
        "only": [f"{c}={v}" for c, v in options.only],
        "cluster": options.cluster,
        "slice_columns": list(columns),
        "baseline": _run_info(base_record, base),
        "speech_utterances": len(speech),
        "coverage_rule": COVERAGE_RULE,
        "comparisons": comparisons,
        "regressed": any_regressed,
    }


def report_runs(workspace: str, baseline_id: str, candidate_ids: Sequence[str], options: ReportOptions = ReportOptions()) -> dict:
    """`build_report` for run ids (or unique prefixes) in a run store."""
    with RunStore(workspace, read_only=True) as store:
        base_id = store.resolve(baseline_id)
        baseline = (store.run(base_id), store.hypotheses(base_id))
        candidates = []
        for run in candidate_ids:
            rid = store.resolve(run)
            candidates.append((store.run(rid), store.hypotheses(rid)))
    return build_report(baseline, candidates, options)
