"""Derived runs: a post-processing strategy applied to a stored run's transcripts.

Comparisons (`workbench bench --strategies`), escalation's cheap rungs and the TUI's lexicon
screen all derive through `derive_run`: the base run's hypotheses are rewritten step by step
(each change recorded beside the transcript it started from), stored as a new run, and
scored by the one path. Nothing is decoded again.
"""

import hashlib
import json
import time
from dataclasses import asdict, dataclass

from ..errors import BadInputError
from ..normalizers import get_normalizer
from ..runstore import StoredHypothesis
from .identity import code_version, make_identity
from .lifecycle import claim, guarded
from .scoring import RunScores, score_stored, store_scores

__all__ = ["DerivedRun", "derive_run", "post_process_hypotheses", "lexicon_digest"]


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
    rows, replaced = [], 0
    hypotheses = list(hypotheses)
    for k, h in enumerate(hypotheses):
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
        replaced += len(made)
        extra["replacements"], extra["baseline_hypothesis"] = made, h.hypothesis
        if any(isinstance(c, dict) and c.get("reviewed") for c in made):
            extra["reviewed"] = True  # a person corrected it (workbench review import)
        rows.append(StoredHypothesis(h.utterance_id, h.reference, text, h.slices, extra))
        if progress:
            progress(stage, k + 1, len(hypotheses))
    return rows, replaced


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
               options, thresholds=None, progress=None) -> DerivedRun:
    """Apply `steps` (post-processing strategy objects) to `base_run`'s stored hypotheses.

    `options`: the EvaluationOptions to score with; `lexicon_info`: the lexicon file's record
    (path, sha256, terms) kept with the run for the report; `step_configs`: each step's
    config dict (part of the identity)."""
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
    # Deriving is cheap and a comparison wants its own run: never reused, never resumed.
    run_id = claim(store, "strategy", identity, config, base.heldout_id, base.heldout_size, config["normalizer"],
                   reuse=False, resume=False).run_id
    with guarded(store, run_id, f"run {run_id} cancelled while applying {spec}"):
        started = time.perf_counter()
        rows, replaced = post_process_hypotheses(store.hypotheses(base.id), steps, progress, f"applying {spec}")
        store.add_hypotheses(run_id, rows)
        expected = [h.utterance_id for h in rows]
        scores = score_stored(store.hypotheses(run_id), options, thresholds or Thresholds(), expected, f"run {run_id}")
        store_scores(store, run_id, scores, {"post_process_s": round(time.perf_counter() - started, 3)},
                     {"utterances": len(rows), "replacements": replaced})
    return DerivedRun(run_id, scores, replaced, tuple(rows))
