"""Read transcripts produced by any system, keyed by utterance id or by audio path.

Accepted: CSV/TSV with a key column (`id`/`utt_id`/`utterance_id`/`key`, or
`audio`/`audios`/`path`/`file`) and a text column (`hypothesis`/`hyp`/`prediction`/
`text`/`transcription`); JSONL objects with the same fields. A key may be the utterance
id, the audio path as written in the manifest, or the audio file's absolute path.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .dataset import Problem, Utterance
from .errors import BadInputError
from .tabular import PROBLEM, read_table

__all__ = ["HypothesisSet", "load_hypotheses", "match_hypotheses"]

KEY_COLUMNS = ("id", "utt_id", "utterance_id", "uttid", "key", "audios", "audio", "path", "file", "audio_filepath")
TEXT_COLUMNS = ("hypothesis", "hyp", "prediction", "pred", "text", "transcription", "transcript")


@dataclass(frozen=True)
class HypothesisSet:
    source: str
    by_key: dict[str, str]  # key as written in the file -> hypothesis text
    problems: tuple[Problem, ...]


def _pick(header, names) -> str | None:
    lowered = {h.lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def load_hypotheses(path: str | os.PathLike) -> HypothesisSet:
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such hypotheses file")
    table = read_table(path)
    header, rows = table.header, table.rows
    key_col, text_col = _pick(header, KEY_COLUMNS), _pick(header, TEXT_COLUMNS)
    if key_col is None:
        raise BadInputError(f"{path}: missing key column (expected one of: {', '.join(KEY_COLUMNS)}; found: {', '.join(header) or 'none'})")
    if text_col is None:
        raise BadInputError(f"{path}: missing hypothesis column (expected one of: {', '.join(TEXT_COLUMNS)}; found: {', '.join(header) or 'none'})")
    by_key: dict[str, str] = {}
    problems: list[Problem] = []
    first_row: dict[str, int] = {}
    for number, row in rows:
        if PROBLEM in row:
            problems.append(Problem(str(path), number, row[PROBLEM]))
            continue
        key = str(row.get(key_col) or "").strip()
        if not key:
            problems.append(Problem(str(path), number, "empty key", field=key_col))
            continue
        if key in by_key:
            problems.append(Problem(str(path), number, f"duplicate key {key!r} (first at row {first_row[key]}); the first is used", field=key_col, kind="warning"))
            continue
        value = row.get(text_col)
        by_key[key] = "" if value is None else str(value)
        first_row[key] = number
    return HypothesisSet(str(path), by_key, tuple(problems))


def match_hypotheses(hyps: HypothesisSet, utterances: Sequence[Utterance]) -> tuple[dict[str, str], list[Problem]]:
    """Map each utterance id to its hypothesis. Utterances without one are reported (they
    score as empty hypotheses: every reference word deleted), and so are keys that match
    no utterance, since a typo in a key would otherwise inflate WER silently."""
    aliases: dict[str, str] = {}
    for u in utterances:
        aliases[u.id] = u.id
        if u.audio.label:
            aliases.setdefault(u.audio.label, u.id)
        if u.audio.path:
            aliases.setdefault(u.audio.path, u.id)
            aliases.setdefault(os.path.realpath(u.audio.path), u.id)
    matched: dict[str, str] = {}
    matched_by: dict[str, str] = {}
    problems: list[Problem] = []
    for key, text in hyps.by_key.items():
        utt_id = aliases.get(key)
        if utt_id is None and os.path.isabs(key):
            utt_id = aliases.get(os.path.realpath(key))
        if utt_id is None:
            problems.append(Problem(hyps.source, None, f"key {key!r} matches no utterance in the data", kind="warning"))
            continue
        if utt_id in matched:
            problems.append(
                Problem(hyps.source, None, f"two hypotheses for utterance {utt_id!r} (keys {matched_by[utt_id]!r} and {key!r}); the first is used", utterance_id=utt_id, kind="warning")
            )
            continue
        matched[utt_id] = text
        matched_by[utt_id] = key
    for u in utterances:
        if u.id not in matched:
            problems.append(Problem(hyps.source, None, f"no hypothesis for utterance {u.id!r}: scored as empty", utterance_id=u.id, kind="warning"))
    return matched, problems
