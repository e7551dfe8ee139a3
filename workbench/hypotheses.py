"""Read transcripts produced by any system, keyed by utterance id or by audio path.

Accepted: CSV/TSV with a key column (`id`/`utt_id`/`utterance_id`/`key`, or
`audio`/`audios`/`path`/`file`) and a text column (`hypothesis`/`hyp`/`prediction`/
`text`/`transcription`); JSONL objects with the same fields. A key may be the utterance
id, the audio path as written in the manifest, or the audio file's absolute path.

Nothing is dropped silently. A row that cannot be parsed is a `Problem`, and when its key
can still be read from the broken line, its utterance is marked as having a *missing*
hypothesis (an unparsable row is no evidence that the system said nothing, so it must
never be scored as an empty string). `match_report` says, with file and row, which
utterances have no hypothesis, which of those lost theirs to an unparsable row, and which
keys match no utterance; `HypothesisMatch.none_matched` flags a file that matches nothing
(usually keys written differently from the manifest's ids and paths).

NIST SCTK files are hypotheses too (`workbench.sctk_import`): a `.trn` file keyed by its
utterance ids, a `.ctm` file by its file names (its words placed by time when the
references are an stm file), an `.stm` file by its segments. A key may also be written
`speaker-id` (sclite's spu_id form, as `workbench export --format trn` writes it), and a
file name may be an audio file's name without folder and extension when that is unique.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .dataset import Problem, Utterance
from .errors import BadInputError
from .tabular import PROBLEM, RAW, stream_table

__all__ = ["HypothesisSet", "HypothesisMatch", "load_hypotheses", "match_hypotheses", "match_report", "no_match_message"]

KEY_COLUMNS = ("id", "utt_id", "utterance_id", "uttid", "key", "audios", "audio", "path", "file", "audio_filepath")
TEXT_COLUMNS = ("hypothesis", "hyp", "prediction", "pred", "text", "transcription", "transcript")


@dataclass(frozen=True)
class HypothesisSet:
    source: str
    by_key: dict[str, str]  # key as written in the file -> hypothesis text
    problems: tuple[Problem, ...]
    rows: Mapping[str, int] = field(default_factory=dict)  # key -> row (line) it was read from
    # rows that could not be parsed: (row, the key read from the broken line, or None)
    unparsable: tuple[tuple[int, str | None], ...] = ()
    key_column: str | None = None
    rows_read: int = 0  # rows seen in the file, parsable or not
    # a ctm file's timed words (sctk_formats.CtmWord) per key; empty for other formats
    words: Mapping[str, tuple] = field(default_factory=dict)


@dataclass(frozen=True)
class HypothesisMatch:
    """Which utterance has which hypothesis, and every way one can be missing.

    `missing` utterances have no usable hypothesis: do not score them as empty strings.
    `unparsable` is the subset whose row exists but could not be parsed (utterance id ->
    row). `unmatched_keys` are (key, row) pairs that name no utterance. `problems` are
    those of matching, with file and row; the file's own are on `HypothesisSet.problems`.
    """

    source: str
    matched: dict[str, str]  # utterance id -> hypothesis text
    missing: tuple[str, ...]  # utterance ids without a usable hypothesis, in data order
    unparsable: Mapping[str, int]  # utterance id -> row of its unparsable hypothesis row
    unmatched_keys: tuple[tuple[str, int | None], ...]  # (key, row) matching no utterance
    problems: tuple[Problem, ...]
    utterances: int = 0  # how many utterances were matched against
    words: Mapping[str, tuple] = field(default_factory=dict)  # utterance id -> its ctm words (a ctm file only)

    @property
    def none_matched(self) -> bool:
        """No key matched any utterance: scoring would only measure the mismatch."""
        return self.utterances > 0 and not self.matched


def _pick(header, names) -> str | None:
    lowered = {h.lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def load_hypotheses(path: str | os.PathLike) -> HypothesisSet:
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such hypotheses file")
    from .sctk_import import is_sctk_file

    if is_sctk_file(path):
        from .sctk_import import read_hypotheses

        sctk = read_hypotheses(path)
        return HypothesisSet(sctk.source, sctk.texts, sctk.problems, sctk.rows, sctk.unparsable, sctk.key_column,
                             sctk.rows_read, sctk.words)
    table = stream_table(path)  # read as it is matched, never held whole
    header, rows = table.header, table.rows
    key_col, text_col = _pick(header, KEY_COLUMNS), _pick(header, TEXT_COLUMNS)
    if not header:
        first = next(rows, None)
        if first is not None:  # not one JSON line parsed: say why the first did not
            number, row = first
            raise BadInputError(f"{path}:{number}: {row.get(PROBLEM, 'a record without fields')} (no readable record in the file)")
    if key_col is None:
        raise BadInputError(f"{path}: missing key column (expected one of: {', '.join(KEY_COLUMNS)}; found: {', '.join(header) or 'none'})")
    if text_col is None:
        raise BadInputError(f"{path}: missing hypothesis column (expected one of: {', '.join(TEXT_COLUMNS)}; found: {', '.join(header) or 'none'})")
    by_key: dict[str, str] = {}
    problems: list[Problem] = []
    first_row: dict[str, int] = {}
    unparsable: list[tuple[int, str | None]] = []
    rows_read = 0
    for number, row in rows:
        rows_read += 1
        if PROBLEM in row:
            key = _key_from_broken_row(row.get(RAW), header, key_col, text_col)
            unparsable.append((number, key))
            what = f" (the row of key {key!r}: missing hypothesis)" if key else ""
            problems.append(Problem(str(path), number, row[PROBLEM] + what))
            continue
        key = row.get(key_col)
        key = "" if key is None or isinstance(key, (dict, list)) else str(key).strip()
        if not key:
            problems.append(Problem(str(path), number, "empty key", field=key_col))
            continue
        value = row.get(text_col)
        if text_col not in row or isinstance(value, (dict, list)):
            # A JSONL object without the field (or with a structure in it) is not an empty
            # hypothesis: it is a row whose hypothesis is unknown.
            got = "no value" if text_col not in row else f"a JSON {'object' if isinstance(value, dict) else 'list'}, not text"
            unparsable.append((number, key))
            problems.append(Problem(str(path), number, f"{got} for {text_col!r} (the row of key {key!r}: missing hypothesis)", field=text_col))
            continue
        if key in by_key:
            problems.append(Problem(str(path), number, f"duplicate key {key!r} (first at row {first_row[key]}); the first is used", field=key_col, kind="warning"))
            continue
        by_key[key] = "" if value is None else str(value)
        first_row[key] = number
    return HypothesisSet(str(path), by_key, tuple(problems), first_row, tuple(unparsable), key_col, rows_read)


def _key_from_broken_row(raw, header: list[str], key_col: str, text_col: str) -> str | None:
    """The key of a row that could not be parsed, when it can be read without guessing.

    CSV/TSV: the key field, if it comes before the hypothesis (an unquoted comma in the
    hypothesis shifts only the fields after it). JSONL: the key's string value.
    """
    if isinstance(raw, list):
        index, text_index = header.index(key_col), header.index(text_col)
        if index < len(raw) and (index < text_index or len(raw) == len(header)):
            return raw[index].strip() or None
        return None
    if isinstance(raw, str):
        match = re.search(r'"' + re.escape(key_col) + r'"\s*:\s*("(?:[^"\\]|\\.)*")', raw)
        if match:
            try:
                return str(json.loads(match.group(1))).strip() or None
            except json.JSONDecodeError:
                return None
    return None


def _realpath(path: str, folders: dict[str, str]) -> str:
    """`os.path.realpath(path)`, resolving each folder once: a 100k-clip corpus lives in a
    few folders, and resolving every path from the root costs a system call per part."""
    folder, name = os.path.split(path)
    if name in ("", ".", "..") or os.path.islink(path):
        return os.path.realpath(path)
    real = folders.get(folder)
    if real is None:
        real = folders[folder] = os.path.realpath(folder)
    return os.path.join(real, name)


def _placed_by_time(hyps: HypothesisSet, utterances: Sequence[Utterance]) -> tuple[HypothesisSet, tuple[Problem, ...]]:
    """A ctm file against stm references: its words placed into the reference segments by
    time (`sctk_import.assign_by_time`), keyed by utterance id from then on; with the
    problems of placing them (words after a recording's last segment)."""
    from dataclasses import replace

    from .sctk_import import SLICE_CHANNEL, SLICE_FILE, assign_by_time

    placed = assign_by_time(hyps.words, utterances, hyps.source, hyps.rows)
    by_key, rows, words = dict(placed.texts), dict(placed.rows), dict(placed.words)
    for key in placed.unmatched:  # a recording without segments may still name an utterance
        by_key[key], rows[key], words[key] = hyps.by_key[key], hyps.rows.get(key), hyps.words[key]
    # A recording with a malformed line: every one of its segments lost its hypothesis.
    unparsable: list[tuple[int, str | None]] = []
    for line, key in hyps.unparsable:
        owners = [u.id for u in utterances if key is not None and SLICE_FILE in u.slices
                  and key in (u.slices[SLICE_FILE], f"{u.slices[SLICE_FILE]}-{u.slices.get(SLICE_CHANNEL)}")]
        unparsable.extend((line, owner) for owner in owners or [key])
    return replace(hyps, by_key=by_key, rows=rows, words=words, unparsable=tuple(unparsable)), placed.problems


def _aliases(utterances: Sequence[Utterance]) -> dict[str, str]:
    """Every way a hypotheses file may name an utterance -> its id: the id, the audio path
    as written or absolute, sclite's `speaker-id`, and the audio file's stem when unique."""
    from .sctk_formats import speaker_prefixed_id

    aliases: dict[str, str] = {}
    folders: dict[str, str] = {}
    for u in utterances:
        aliases[u.id] = u.id
        if u.audio.label:
            aliases.setdefault(u.audio.label, u.id)
        if u.audio.path:
            aliases.setdefault(u.audio.path, u.id)
            aliases.setdefault(_realpath(u.audio.path, folders), u.id)
    for u in utterances:
        speaker = u.slices.get("speaker")
        if speaker:
            aliases.setdefault(speaker_prefixed_id(speaker, u.id), u.id)
    stems: dict[str, list[str]] = {}
    for u in utterances:
        if u.audio.path:
            stems.setdefault(Path(u.audio.path).stem, []).append(u.id)
    for stem, owners in stems.items():
        if len(owners) == 1:  # a ctm's file field: the audio's name without folder or extension
            aliases.setdefault(stem, owners[0])
    return aliases


def match_report(hyps: HypothesisSet, utterances: Sequence[Utterance]) -> HypothesisMatch:
    """Map each utterance id to its hypothesis, and say what could not be mapped and why."""
    placing: tuple[Problem, ...] = ()
    if hyps.words and any("sctk_begin" in u.slices for u in utterances):
        hyps, placing = _placed_by_time(hyps, utterances)
    aliases = _aliases(utterances)

    def utterance_of(key: str) -> str | None:
        utt_id = aliases.get(key)
        if utt_id is None and os.path.isabs(key):
            utt_id = aliases.get(os.path.realpath(key))
        return utt_id

    matched: dict[str, str] = {}
    matched_by: dict[str, str] = {}
    words: dict[str, tuple] = {}
    problems: list[Problem] = list(placing)
    unmatched: list[tuple[str, int | None]] = []
    key_col = hyps.key_column
    for key, text in hyps.by_key.items():
        row = hyps.rows.get(key)
        utt_id = utterance_of(key)
        if utt_id is None:
            unmatched.append((key, row))
            problems.append(Problem(hyps.source, row, f"key {key!r} matches no utterance in the data", field=key_col, kind="warning"))
            continue
        if utt_id in matched:
            first = matched_by[utt_id]
            problems.append(
                Problem(
                    hyps.source, row,
                    f"two hypotheses for utterance {utt_id!r} (keys {first!r} at row {hyps.rows.get(first)} and {key!r} at row {row}); the first is used",
                    field=key_col, utterance_id=utt_id, kind="warning",
                )
            )
            continue
        matched[utt_id] = text
        matched_by[utt_id] = key
        if key in hyps.words:
            words[utt_id] = hyps.words[key]
    unparsable: dict[str, int] = {}
    for row, key in hyps.unparsable:
        utt_id = utterance_of(key) if key else None
        if utt_id is not None and utt_id not in matched:
            unparsable.setdefault(utt_id, row)
    missing = []
    for u in utterances:
        if u.id in matched:
            continue
        missing.append(u.id)
        if u.id in unparsable:
            reason = f"missing hypothesis for utterance {u.id!r}: its row {unparsable[u.id]} could not be parsed"
            problems.append(Problem(hyps.source, unparsable[u.id], reason, utterance_id=u.id, kind="warning"))
        else:
            problems.append(Problem(hyps.source, None, f"missing hypothesis for utterance {u.id!r} (no row has its id or audio path)", utterance_id=u.id, kind="warning"))
    return HypothesisMatch(hyps.source, matched, tuple(missing), unparsable, tuple(unmatched), tuple(problems), len(utterances), words)


def match_hypotheses(hyps: HypothesisSet, utterances: Sequence[Utterance]) -> tuple[dict[str, str], list[Problem]]:
    """Map each utterance id to its hypothesis, with the problems of matching.

    Utterances without one are reported as missing (see `match_report` for which, and
    why: scoring them as empty hypotheses would count every reference word deleted), and
    so are keys that match no utterance, since a typo in a key would otherwise inflate
    WER silently."""
    report = match_report(hyps, utterances)
    return report.matched, list(report.problems)


def no_match_message(match: HypothesisMatch, utterances: Sequence[Utterance] = ()) -> str:
    """The one-line error for a hypotheses file none of whose keys names an utterance,
    with examples of both sides and a hint."""
    keys = [k for k, _ in match.unmatched_keys][:3]
    ids = [u.id for u in utterances][:3]
    shown_keys = ", ".join(repr(k) for k in keys) or "none readable"
    shown_ids = f"; the data's ids look like {', '.join(repr(i) for i in ids)}" if ids else ""
    return (
        f"{match.source}: no hypothesis key matches an utterance of the data (keys look like {shown_keys}{shown_ids}); "
        "hint: keys must be the manifest's id column, its audio paths as written, or the audio files' absolute paths"
    )
