"""Derived runs: a post-processing strategy applied to a stored run's transcripts.

Comparisons (`workbench bench --strategies`), escalation's cheap rungs and the TUI's lexicon
screen all derive through `derive_run`: the base run's hypotheses are rewritten step by step
(each change recorded beside the transcript it started from, with what it cost), stored as
they are made in a new run, and scored by the one path. Nothing is decoded again. A derive
that stops (Ctrl-C, a language-model endpoint that stops answering) keeps every finished
utterance, and the same command again resumes it.
"""

import hashlib
import json
import time
from dataclasses import asdict, dataclass

from ..errors import BadInputError, CancelledError
from ..normalizers import get_normalizer
from ..runstore import StoredHypothesis
from .identity import code_version, make_identity
from .lifecycle import claim, guarded
from .scoring import RunScores, score_stored, store_scores

__all__ = ["DerivedRun", "cost_summary", "derive_run", "lexicon_digest", "post_process_hypotheses", "post_process_one"]


@dataclass(frozen=True)
class DerivedRun:
    run_id: str
    scores: RunScores
    replacements: int  # corrections made by the post-processing steps
    rows: tuple[StoredHypothesis, ...]


def lexicon_digest(lexicon) -> str | None:
    """A hash of the lexicon as applied: terms, languages and (mined) misrecognitions."""
    if lexicon is None:
        return None
    terms = [[t.text, t.language, t.category, list(t.misrecognitions)] for t in lexicon.terms]
    return "sha256:" + hashlib.sha256(json.dumps(terms, ensure_ascii=False).encode("utf-8")).hexdigest()


def post_process_hypotheses(hypotheses, steps, progress=None, stage: str = "post-processing") -> tuple[list[StoredHypothesis], int]:
    """Stored transcripts rewritten by post-processing steps, in order, each change recorded
    (`replacements`) beside the transcript it started from (`baseline_hypothesis`); clips
    that failed to decode or have no hypothesis are left as they are."""
    rows = []
    hypotheses = list(hypotheses)
    for k, h in enumerate(hypotheses):
        rows.append(post_process_one(h, steps))
        if progress:
            progress(stage, k + 1, len(hypotheses))
    return rows, sum(len(r.extra["replacements"]) for r in rows)


def post_process_one(h: StoredHypothesis, steps) -> StoredHypothesis:
    """One stored transcript rewritten by the steps, with its changes and what it cost:
    `extra["post_cost"]` = seconds spent, plus what the steps report through an optional
    `take_cost()` (a language model's tokens, edits it refused), summed over the steps."""
    started = time.perf_counter()
    text, extra, made = h.hypothesis, dict(h.extra or {}), []
    if "error" not in extra and not extra.get("missing"):
        if extra.get("segments"):
            # A long recording: each timed segment is rewritten, and the transcript is
            # their join, so segment-level and per-minute figures see the same text.
            segments = []
            for start, end, piece in extra["segments"]:
                for step in steps:
                    piece, changes = step.postprocess(piece, h.slices.get("language"))
                    made.extend(changes)
                segments.append([start, end, piece])
            extra["segments"] = segments
            text = " ".join(piece for _, _, piece in segments if piece)
        else:
            for step in steps:
                text, changes = _apply(step, text, h.slices.get("language"), extra)
                made.extend(changes)
    cost: dict = {}
    for step in steps:
        take = getattr(step, "take_cost", None)
        for key, value in (take() if callable(take) else {}).items():
            cost[key] = cost.get(key, 0) + value
    extra["post_cost"] = {"seconds": round(time.perf_counter() - started, 4), **cost}
    extra["replacements"], extra["baseline_hypothesis"] = made, h.hypothesis
    if any(isinstance(c, dict) and c.get("reviewed") for c in made):
        extra["reviewed"] = True  # a person corrected it (workbench review import)
    return StoredHypothesis(h.utterance_id, h.reference, text, h.slices, extra)


def cost_summary(rows) -> dict:
    """A derived run's cost, from its stored rows: totals and per-utterance means of what
    `post_process_one` recorded (seconds, LM tokens, refused edits)."""
    totals: dict[str, float] = {}
    for r in rows:
        for key, value in ((r.extra or {}).get("post_cost") or {}).items():
            totals[key] = totals.get(key, 0) + value
    n = max(1, len(rows))
    out = {f"post_{k}": round(v, 3) for k, v in totals.items()}
    out.update({f"post_{k}_per_utterance": round(v / n, 4) for k, v in totals.items()})
    return out


def _apply(step, text: str, language: str | None, extra: dict) -> tuple[str, list]:
    """One post-processing step on one clip's transcript. A step that reads more than the
    text (the decoder's n-best list in `extra["nbest"]`, word probabilities in
    `extra["words"]`) has `postprocess_hypothesis(text, language, extra)`; `extra` is the
    stored hypothesis's signals, read-only to the step."""
    rich = getattr(step, "postprocess_hypothesis", None)
    if rich is not None:
        return rich(text, language, extra)
    return step.postprocess(text, language)


def derive_run(store, base_run: str, spec: str, steps, step_configs: dict, lexicon, lexicon_info: dict | None,
               options, thresholds=None, progress=None, cancel=None) -> DerivedRun:
    """Apply `steps` (post-processing strategy objects) to `base_run`'s stored hypotheses.

    `options`: the EvaluationOptions to score with; `lexicon_info`: the lexicon file's record
    (path, sha256, terms) kept with the run for the report; `step_configs`: each step's
    config dict (part of the identity); `cancel` (a threading.Event, Ctrl-C's first press)
    stops it after the current utterance, keeping what finished."""
    from ..evaluation import Thresholds

    base = store.run(base_run)
    if base.status != "succeeded":
        raise BadInputError(f"run {base.id} is {base.effective_status}: a strategy builds only on a finished run")
    config = {
        **(base.config or {}),
        "command": "strategy",
        "strategy": spec,
        "base_run": base.id,
        "strategy_config": step_configs,
        "lexicon": lexicon_info["path"] if lexicon_info else None,
        "lexicon_sha256": lexicon_info["sha256"] if lexicon_info else None,
        "lexicon_snapshot": lexicon_info,
        "lexicon_applied_sha256": lexicon_digest(lexicon),
        "lexicon_terms": len(lexicon.terms) if lexicon is not None else 0,
        "mined_misrecognitions": sum(len(t.misrecognitions) for t in lexicon.terms) if lexicon is not None else 0,
        "normalizer": get_normalizer(options.normalizer).id,
        "slice_columns": list(options.slice_columns),
        "bootstrap": asdict(options.bootstrap),
    }
    config.pop("identity", None)
    identity = make_identity({
        "kind": "derive",
        "base": base.identity or base.id,
        "base_run": base.id,
        "strategy": {"spec": spec, "config": step_configs},
        "lexicon": lexicon_digest(lexicon),
        "code": code_version(),
    })
    # A comparison wants its own run: a finished one is never reused. A stopped one (Ctrl-C,
    # an endpoint that stopped answering) is resumed: its rows are stored as they are made,
    # so the same command again post-processes only what is missing.
    claimed = claim(store, "strategy", identity, config, base.heldout_id, base.heldout_size, config["normalizer"],
                    reuse=False, resume=True)
    run_id = claimed.run_id
    with guarded(store, run_id, None):
        started = time.perf_counter()
        base_rows = store.hypotheses(base.id)
        done = {h.utterance_id for h in store.hypotheses(run_id)} if claimed.how == "resumed" else set()
        stage = f"applying {spec}"
        if progress:
            progress(stage, len(done), len(base_rows))
        with store.writer(run_id) as writer:
            for k, h in enumerate(base_rows):
                if h.utterance_id in done:
                    continue
                if cancel is not None and cancel.is_set():
                    raise CancelledError(f"cancelled while applying {spec}")
                writer.add(post_process_one(h, steps))
                if progress:
                    progress(stage, k + 1, len(base_rows))
        rows = store.hypotheses(run_id)
        replaced = sum(len((r.extra or {}).get("replacements") or []) for r in rows)
        expected = [h.utterance_id for h in base_rows]
        scores = score_stored(rows, options, thresholds or Thresholds(), expected, f"run {run_id}")
        store_scores(store, run_id, scores, {"post_process_s": round(time.perf_counter() - started, 3)},
                     {"utterances": len(rows), "replacements": replaced, "resumed": len(done), **cost_summary(rows)})
    return DerivedRun(run_id, scores, replaced, tuple(rows))
