"""SCTK files as the workbench's inputs: references as a dataset, hypotheses by key.

**References** (`workbench score --data ref.trn|ref.stm|ref.ctm --hyp HYP`): the file is
the dataset. It holds no audio, so it can be scored against, never decoded.

- trn: one utterance per line, its id the one in parentheses.
- stm: one utterance per scored segment. Its id is the file name when the segment is the
  only one of its file and channel (one clip per file: what `workbench export` writes),
  else Kaldi's `file-begin-end` (hundredths of a second); `file-channel` stands for the
  file when a file has segments on several channels. The speaker becomes the `speaker`
  slice, the labels become slices (a `;; CATEGORY` line names a label position's column,
  a `;; LABEL` line a label's value; a category with an empty heading, Hub-4's overall
  "O", is skipped; without definitions the columns are `label0`, `label1`, ...), and
  the file, channel and times are kept in the `sctk_*` columns so that hypothesis words
  can be placed by time and the run can be written back as stm.
  `IGNORE_TIME_SEGMENT_IN_SCORING` segments are not utterances: hypothesis words whose
  midpoint falls in one are dropped, as sclite does.
- ctm: one utterance per file (and channel), its words in time order.

A segment or line with an empty transcript is a no-speech utterance: anything the system
says there is counted as hallucination, not folded into WER (the workbench's coverage
rule). A reference that uses sclite's alternations or optional words is excluded with a
problem (the workbench scores one transcript per utterance), and so is a duplicate id.
`LoadOptions.language` gives the utterances a language (an stm label category named
`language` does the same per segment), which the `auto` normalizer needs.

**Hypotheses** (`--hyp hyp.trn|hyp.ctm|hyp.stm`): keyed like the references above, so a
trn or stm file matches utterance ids (or `speaker-id`, sclite's spu_id form) and a ctm
file matches files (an utterance id, or an audio file's name without its folder and
extension). Against stm references, ctm words are placed by time as sclite does: going
through the file's segments in time order, each takes the remaining words whose midpoint
is at or before its end; words after the last segment go to the last one (insertions,
with a warning). A recording with a malformed ctm line has an incomplete transcript: its
utterances count as missing (never scored as if the lost words were not said).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .dataset import AudioSource, Dataset, Problem, Utterance
from .errors import BadInputError
from .sctk_formats import (SCTK_SUFFIXES, CtmWord, StmFile, parse_ctm, parse_stm, parse_trn, read_sctk_text, recording_key,
                           segment_id, uses_alternations)

__all__ = [
    "SCTK_COLUMNS",
    "SLICE_FILE",
    "SLICE_CHANNEL",
    "SLICE_BEGIN",
    "SLICE_END",
    "is_sctk_file",
    "load_references",
    "SctkHypotheses",
    "read_hypotheses",
    "TimedAssignment",
    "assign_by_time",
]

# Where an utterance read from an stm or ctm reference sits in its recording.
SLICE_FILE, SLICE_CHANNEL, SLICE_BEGIN, SLICE_END = "sctk_file", "sctk_channel", "sctk_begin", "sctk_end"
SCTK_COLUMNS = (SLICE_FILE, SLICE_CHANNEL, SLICE_BEGIN, SLICE_END)


def is_sctk_file(spec) -> bool:
    return spec is not None and Path(str(spec)).suffix.lower() in SCTK_SUFFIXES


def _source(path: Path, line: int) -> AudioSource:
    # The reference file stands where the audio would: it pins the rows' identity (size and
    # mtime) and names the line in messages. There is no audio to decode.
    return AudioSource(path=str(path.resolve()), label=f"{path.name}:{line} (reference only, no audio)")


def load_references(path: str | Path, strict: bool = False, language: str | None = None) -> Dataset:
    """A trn, stm or ctm reference file as a `Dataset` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such reference file")
    suffix = path.suffix.lower()
    text = read_sctk_text(path)
    build = {".trn": _trn_references, ".stm": _stm_references, ".ctm": _ctm_references}[suffix]
    utterances, problems, columns, rows = build(text, path, language)
    if strict and problems:
        raise BadInputError(str(problems[0]))
    if not utterances and not problems:
        raise BadInputError(f"{path}: no {suffix[1:]} records in this file")
    return Dataset(str(path), tuple(utterances), tuple(problems), tuple(columns), rows)


class _Collector:
    """Utterances in file order, refusing duplicate ids and alternations with a problem."""

    def __init__(self, path: Path):
        self.path = path
        self.utterances: list[Utterance] = []
        self.problems: list[Problem] = []
        self.first: dict[str, int] = {}

    def add(self, utt_id: str, text: str, slices: dict, line: int, duration: float | None = None) -> None:
        if utt_id in self.first:
            self.problems.append(Problem(str(self.path), line, f"duplicate utterance {utt_id!r} (first at line {self.first[utt_id]}); "
                                                               "this one is excluded", utterance_id=utt_id))
            return
        if uses_alternations(text):
            self.problems.append(Problem(str(self.path), line, "sclite alternations, optional words or '@' are not supported in a "
                                                               f"reference; write one transcript (utterance {utt_id!r} excluded)",
                                         utterance_id=utt_id))
            return
        self.first[utt_id] = line
        self.utterances.append(Utterance(utt_id, _source(self.path, line), text, slices, duration, line))


def _trn_references(text: str, path: Path, language: str | None):
    parsed = parse_trn(text, path)
    out = _Collector(path)
    out.problems.extend(parsed.problems)
    for record in parsed.lines:
        out.add(record.id, record.text, {"language": language} if language else {}, record.line)
    return out.utterances, out.problems, (("language",) if language else ()), parsed.rows_read


def _label_slices(stm: StmFile, labels: Sequence[str]) -> dict[str, str]:
    slices: dict[str, str] = {}
    for position, label_id in enumerate(labels):
        category = stm.category(position)
        if category is not None and not category.heading.strip():
            continue  # Hub-4's overall "O": every segment has it, it says nothing
        column = category.heading.strip() if category is not None else f"label{position}"
        if column in ("speaker", *SCTK_COLUMNS):
            column = f"label:{column}"
        definition = stm.label(label_id)
        slices[column] = definition.heading if definition is not None else label_id
    return slices


def _stm_references(text: str, path: Path, language: str | None):
    stm = parse_stm(text, path)
    out = _Collector(path)
    out.problems.extend(stm.problems)
    scored = [s for s in stm.segments if not s.ignored]
    per_channel: dict[tuple[str, str], int] = defaultdict(int)
    channels: dict[str, set] = defaultdict(set)
    for s in scored:
        per_channel[(s.file, s.channel)] += 1
        channels[s.file].add(s.channel)
    columns: list[str] = []
    for s in scored:
        slices = {"speaker": s.speaker, **_label_slices(stm, s.labels)}
        if language and not slices.get("language"):
            slices["language"] = language
        slices.update({SLICE_FILE: s.file, SLICE_CHANNEL: s.channel, SLICE_BEGIN: s.start_text, SLICE_END: s.end_text})
        columns.extend(c for c in slices if c not in columns)
        utt_id = segment_id(s.file, s.channel, s.start, s.end, per_channel[(s.file, s.channel)] == 1, len(channels[s.file]))
        out.add(utt_id, s.text, slices, s.line, round(s.end - s.start, 3))
    # The label columns first, then the speaker (a manifest's usual order: accent, language, speaker).
    ordered = [c for c in columns if c not in SCTK_COLUMNS and c != "speaker"] + ["speaker"] + [c for c in SCTK_COLUMNS if c in columns]
    # An ignored stretch is not a row left out: it was never an utterance.
    return out.utterances, out.problems, ordered, stm.rows_read - (len(stm.segments) - len(scored))


def _recordings(words: Sequence[CtmWord]) -> dict[tuple[str, str], list[CtmWord]]:
    grouped: dict[tuple[str, str], list[CtmWord]] = defaultdict(list)
    for w in words:
        grouped[(w.file, w.channel)].append(w)
    for group in grouped.values():
        group.sort(key=lambda w: (w.start, w.line))
    return grouped


def _broken_recordings(broken) -> dict[tuple[str, str], int]:
    """(file, channel) -> the first malformed line of that recording (its transcript is incomplete)."""
    first: dict[tuple[str, str], int] = {}
    for line, where in broken:
        if where is not None:
            first.setdefault(where, line)
    return first


def _ctm_references(text: str, path: Path, language: str | None):
    ctm = parse_ctm(text, path)
    out = _Collector(path)
    out.problems.extend(ctm.problems)
    broken = _broken_recordings(ctm.broken)
    grouped = _recordings(ctm.words)
    channels: dict[str, set] = defaultdict(set)
    for file, channel in (*grouped, *broken):
        channels[file].add(channel)
    for (file, channel), words in grouped.items():
        key = recording_key(file, channel, len(channels[file]))
        if (file, channel) in broken:
            out.problems.append(Problem(str(path), broken[(file, channel)], f"recording {key!r} has a malformed line, so its "
                                                                            "transcript is incomplete; it is excluded", utterance_id=key))
            continue
        slices = {"language": language} if language else {}
        slices.update({SLICE_FILE: file, SLICE_CHANNEL: channel})
        out.add(key, " ".join(w.word for w in words), slices, words[0].line)
    columns = (("language",) if language else ()) + (SLICE_FILE, SLICE_CHANNEL)
    return out.utterances, out.problems, columns, ctm.rows_read


# --------------------------------------------------------------------------- hypotheses


@dataclass(frozen=True)
class SctkHypotheses:
    """A trn, ctm or stm hypotheses file, keyed (see the module docstring)."""

    source: str
    texts: dict[str, str]  # key -> hypothesis text
    rows: dict[str, int]  # key -> the (first) line it was read from
    problems: tuple[Problem, ...]
    unparsable: tuple[tuple[int, str | None], ...]  # (line, the key it belonged to, if readable)
    key_column: str  # what the keys are, for messages
    rows_read: int
    words: Mapping[str, tuple[CtmWord, ...]] = field(default_factory=dict)  # ctm: key -> its timed words


def read_hypotheses(path: str | Path) -> SctkHypotheses:
    path = Path(path)
    text = read_sctk_text(path)
    suffix = path.suffix.lower()
    if suffix == ".trn":
        return _trn_hypotheses(text, path)
    if suffix == ".ctm":
        return _ctm_hypotheses(text, path)
    return _stm_hypotheses(text, path)


def _first_wins(path, texts: dict, rows: dict, problems: list, key: str, text: str, line: int, what: str) -> None:
    if key in texts:
        problems.append(Problem(str(path), line, f"duplicate {what} {key!r} (first at line {rows[key]}); the first is used", kind="warning"))
        return
    texts[key], rows[key] = text, line


def _trn_hypotheses(text: str, path: Path) -> SctkHypotheses:
    parsed = parse_trn(text, path)
    texts: dict[str, str] = {}
    rows: dict[str, int] = {}
    problems = list(parsed.problems)
    for record in parsed.lines:
        _first_wins(path, texts, rows, problems, record.id, record.text, record.line, "utterance id")
    return SctkHypotheses(str(path), texts, rows, tuple(problems), parsed.broken, "trn utterance id", parsed.rows_read)


def _ctm_hypotheses(text: str, path: Path) -> SctkHypotheses:
    ctm = parse_ctm(text, path)
    grouped = _recordings(ctm.words)
    broken = _broken_recordings(ctm.broken)
    channels: dict[str, set] = defaultdict(set)
    for file, channel in (*grouped, *broken):
        channels[file].add(channel)
    texts: dict[str, str] = {}
    rows: dict[str, int] = {}
    words: dict[str, tuple[CtmWord, ...]] = {}
    unparsable = [(line, None) for line, where in ctm.broken if where is None]
    for (file, channel), line in broken.items():
        unparsable.append((line, recording_key(file, channel, len(channels[file]))))
    for (file, channel), group in grouped.items():
        if (file, channel) in broken:
            continue
        key = recording_key(file, channel, len(channels[file]))
        texts[key] = " ".join(w.word for w in group)
        rows[key] = group[0].line
        words[key] = tuple(group)
    return SctkHypotheses(str(path), texts, rows, ctm.problems, tuple(unparsable), "ctm file", ctm.rows_read, words)


def _stm_hypotheses(text: str, path: Path) -> SctkHypotheses:
    stm = parse_stm(text, path)
    scored = [s for s in stm.segments if not s.ignored]
    per_channel: dict[tuple[str, str], int] = defaultdict(int)
    channels: dict[str, set] = defaultdict(set)
    for s in scored:
        per_channel[(s.file, s.channel)] += 1
        channels[s.file].add(s.channel)
    texts: dict[str, str] = {}
    rows: dict[str, int] = {}
    problems = list(stm.problems)
    for s in scored:
        key = segment_id(s.file, s.channel, s.start, s.end, per_channel[(s.file, s.channel)] == 1, len(channels[s.file]))
        _first_wins(path, texts, rows, problems, key, s.text, s.line, "segment")
    unparsable = tuple((line, None) for line, _ in stm.broken)
    return SctkHypotheses(str(path), texts, rows, tuple(problems), unparsable, "stm segment", stm.rows_read)


# --------------------------------------------------------------------------- by time


@dataclass(frozen=True)
class TimedAssignment:
    """ctm words placed into stm reference segments by time."""

    texts: dict[str, str]  # utterance id -> hypothesis text (the words placed in its segment)
    words: dict[str, tuple[CtmWord, ...]]  # utterance id -> those words
    rows: dict[str, int]  # utterance id -> the line of its recording's first word
    unmatched: tuple[str, ...]  # ctm keys whose recording has no reference segment
    problems: tuple[Problem, ...]


def _ignored_regions(paths: set[str]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """The IGNORE_TIME_SEGMENT_IN_SCORING spans of the stm reference files the utterances
    were read from (they are not utterances, so the dataset does not carry them)."""
    regions: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for path in sorted(paths):
        if Path(path).suffix.lower() != ".stm" or not Path(path).is_file():
            continue
        for s in parse_stm(read_sctk_text(path), path).segments:
            if s.ignored:
                regions[(s.file, s.channel)].append((s.start, s.end))
    return regions


def assign_by_time(words_by_key: Mapping[str, Sequence[CtmWord]], utterances: Sequence[Utterance], source: str,
                   rows: Mapping[str, int] | None = None) -> TimedAssignment:
    """Place ctm words into the utterances that carry stm times (`sctk_*` slices), as sclite's
    DP chopping does (see the module docstring). Every utterance of a recording the ctm has
    words for gets a text, "" when no word falls in its segment."""
    segments: dict[tuple[str, str], list[tuple[float, float, str | None]]] = defaultdict(list)
    paths: set[str] = set()
    for u in utterances:
        s = u.slices
        if SLICE_BEGIN not in s or SLICE_END not in s:
            continue
        segments[(s[SLICE_FILE], s[SLICE_CHANNEL])].append((float(s[SLICE_BEGIN]), float(s[SLICE_END]), u.id))
        if u.audio.path:
            paths.add(u.audio.path)
    for where, spans in _ignored_regions(paths).items():
        if where in segments:
            segments[where].extend((a, b, None) for a, b in spans)
    by_recording: dict[tuple[str, str], list[CtmWord]] = defaultdict(list)
    key_of: dict[tuple[str, str], str] = {}
    for key, words in words_by_key.items():
        for w in words:
            by_recording[(w.file, w.channel)].append(w)
            key_of.setdefault((w.file, w.channel), key)
    texts: dict[str, str] = {}
    placed: dict[str, tuple[CtmWord, ...]] = {}
    first_rows: dict[str, int] = {}
    problems: list[Problem] = []
    unmatched = []
    for where, words in by_recording.items():
        spans = sorted(segments.get(where, ()), key=lambda t: (t[0], t[1]))
        if not spans:
            unmatched.append(key_of[where])
            continue
        words.sort(key=lambda w: (w.start, w.line))
        index, last_scored = 0, None
        for start, end, utt_id in spans:
            taken = []
            while index < len(words) and words[index].midpoint <= end:
                taken.append(words[index])
                index += 1
            if utt_id is None:
                continue  # inside IGNORE_TIME_SEGMENT_IN_SCORING: not scored
            placed[utt_id] = tuple(taken)
            last_scored = utt_id
        if index < len(words) and last_scored is not None:
            extra = words[index:]
            placed[last_scored] = placed[last_scored] + tuple(extra)
            problems.append(Problem(source, extra[0].line, f"{len(extra)} word(s) of recording {where[0]} channel {where[1]} end after its "
                                                           f"last reference segment; scored as insertions in {last_scored!r}",
                                    utterance_id=last_scored, kind="warning"))
        line = (rows or {}).get(key_of[where], words[0].line if words else None)
        for _, _, utt_id in spans:
            if utt_id is not None:
                placed.setdefault(utt_id, ())
                first_rows[utt_id] = line
    for utt_id, taken in placed.items():
        texts[utt_id] = " ".join(w.word for w in taken)
    return TimedAssignment(texts, placed, first_rows, tuple(unmatched), tuple(problems))
