"""NIST SCTK's text formats (sclite's trn, ctm and stm), read and written.

As SCTK documents them (doc/infmts.htm in usnistgov/SCTK):

- **trn**: one utterance a line, its words then its id in parentheses:
  `she had your dark suit (cmh_sa01)`. With sclite's `-i spu_id` (also `rm`, `swb`) the
  id is a speaker code, a hyphen or underscore, then the utterance's own id: sclite groups
  its per-speaker reports by the part before the first `-` or `_`.
- **ctm**: one word a line, `file channel begin duration word [confidence]`, times in
  seconds from the start of the file; sorted by file, channel, begin.
- **stm**: one reference segment a line, `file channel speaker begin end [<labels>]
  transcript`; sorted by file, channel, begin. A transcript of
  `IGNORE_TIME_SEGMENT_IN_SCORING` marks a stretch where hypothesis words are not scored.
  Labels (`<o,f0,male>`) put the segment into subsets; `;; CATEGORY "i" "heading" "desc"`
  names the i-th label position and `;; LABEL "id" "heading" "desc"` a label (the
  Hub-4 labelled-utterance-report convention).

In ctm and stm, lines starting with `;;` are comments and blank lines are ignored; trn
files are read the same way. Reading never stops at a malformed line: each one becomes a
`Problem` naming the file and line and saying what is wrong, and every good line is kept.
What the reader keeps of a broken line (the file or utterance it was about, when that can
be read) lets the caller mark that utterance's hypothesis as unknown rather than empty.

Not supported (reported, never misread): sclite's transcript alternations
(`{ a / b / @ }`) and optional words (`(word)`) in references, and the ctm alternation
tags (`<ALT_BEGIN>`, `<ALT>`, `<ALT_END>`): the workbench scores one transcript per
utterance.

Writing: `format_trn`, `format_ctm`, `format_stm` give the text of a file; times are
written with three decimals (milliseconds) and lines are sorted as SCTK requires.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .dataset import Problem

__all__ = [
    "SCTK_SUFFIXES",
    "IGNORE_MARKER",
    "TrnLine",
    "CtmWord",
    "StmSegment",
    "StmLabel",
    "StmCategory",
    "TrnFile",
    "CtmFile",
    "StmFile",
    "parse_trn",
    "parse_ctm",
    "parse_stm",
    "read_sctk_text",
    "format_trn",
    "format_ctm",
    "format_stm",
    "sclite_speaker",
    "speaker_prefixed_id",
    "segment_id",
    "recording_key",
    "uses_alternations",
    "field_problem",
]

SCTK_SUFFIXES = (".trn", ".ctm", ".stm")
IGNORE_MARKER = "ignore_time_segment_in_scoring"
# sclite's marker of the time between segments in some STM files: not a segment
INTER_SEGMENT_GAP = "inter_segment_gap"


@dataclass(frozen=True)
class TrnLine:
    id: str  # the utterance id, as written between the parentheses
    text: str  # the words, whitespace collapsed
    line: int  # 1-based line in the file


@dataclass(frozen=True)
class CtmWord:
    file: str  # the waveform id (sclite: no path, no extension expected)
    channel: str  # "A", "B", "1": any text without whitespace
    start: float  # seconds from the start of the file
    duration: float  # seconds
    word: str
    confidence: float | None  # the optional sixth field
    line: int

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def midpoint(self) -> float:
        """sclite assigns a word to a reference segment by its time midpoint."""
        return self.start + self.duration / 2


@dataclass(frozen=True)
class StmSegment:
    file: str
    channel: str
    speaker: str
    start: float
    end: float
    labels: tuple[str, ...]  # the <...> subset ids, in position order, as written
    text: str  # the transcript, whitespace collapsed ("" for a segment without speech)
    line: int
    # the fields' text as written, so a segment can be written back to the digit
    start_text: str = ""
    end_text: str = ""

    @property
    def ignored(self) -> bool:
        """IGNORE_TIME_SEGMENT_IN_SCORING: hypothesis words inside it are not scored."""
        return self.text.lower() == IGNORE_MARKER


@dataclass(frozen=True)
class StmLabel:
    """`;; LABEL "id" "heading" "description"`: what a subset id means."""

    id: str
    heading: str  # a short column heading (the workbench: the slice value)
    description: str


@dataclass(frozen=True)
class StmCategory:
    """`;; CATEGORY "index" "heading" "description"`: what a label position means."""

    index: int
    heading: str  # (the workbench: the slice column)
    description: str


@dataclass(frozen=True)
class TrnFile:
    path: str
    lines: tuple[TrnLine, ...]
    problems: tuple[Problem, ...]
    broken: tuple[tuple[int, str | None], ...] = ()  # (line, the id read from it or None)
    rows_read: int = 0  # records seen (not comments or blank lines), good or not


@dataclass(frozen=True)
class CtmFile:
    path: str
    words: tuple[CtmWord, ...]
    problems: tuple[Problem, ...]
    # (line, (file, channel) read from it or None): a recording with a broken word line
    # has an incomplete transcript
    broken: tuple[tuple[int, tuple[str, str] | None], ...] = ()
    rows_read: int = 0


@dataclass(frozen=True)
class StmFile:
    path: str
    segments: tuple[StmSegment, ...]
    categories: tuple[StmCategory, ...]
    labels: tuple[StmLabel, ...]
    problems: tuple[Problem, ...]
    broken: tuple[tuple[int, tuple[str, str] | None], ...] = ()  # (line, (file, channel) or None)
    rows_read: int = 0

    def label(self, label_id: str) -> StmLabel | None:
        wanted = label_id.lower()  # sclite matches label ids without regard to case
        return next((label for label in self.labels if label.id.lower() == wanted), None)

    def category(self, index: int) -> StmCategory | None:
        return next((c for c in self.categories if c.index == index), None)


# --------------------------------------------------------------------------- reading


def read_sctk_text(path: str | Path) -> str:
    """A file's text as UTF-8 (a byte-order mark dropped); a one-line error naming the file
    and line of the first byte that is not UTF-8."""
    from .tabular import read_text

    return read_text(Path(path)).lstrip("\ufeff")


def _records(text: str):
    """(line number, stripped line) of every line that is not blank or a `;;` comment."""
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        line = raw.strip()
        if line and not line.startswith(";;"):
            yield number, line


def _short(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")


def field_problem(path, line: int, reason: str, **kw) -> Problem:
    return Problem(str(path), line, reason, **kw)


_TRN_ID = re.compile(r"\(([^()]*)\)\s*$")


def parse_trn(text: str, path: str | Path = "<trn>") -> TrnFile:
    lines: list[TrnLine] = []
    problems: list[Problem] = []
    broken: list[tuple[int, str | None]] = []
    seen = 0
    for number, line in _records(text):
        seen += 1
        match = _TRN_ID.search(line)
        if match is None:
            problems.append(field_problem(path, number, f"expected 'words (utterance-id)', found {_short(line)} "
                                                        "(no utterance id in parentheses at the end of the line)"))
            broken.append((number, None))
            continue
        utt_id = match.group(1).strip()
        if not utt_id or len(utt_id.split()) != 1:
            what = "an empty utterance id" if not utt_id else f"utterance id {utt_id!r} has whitespace"
            problems.append(field_problem(path, number, f"{what} in {_short(line)}"))
            broken.append((number, None))
            continue
        lines.append(TrnLine(utt_id, " ".join(line[: match.start()].split()), number))
    return TrnFile(str(path), tuple(lines), tuple(problems), tuple(broken), seen)


def _seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_ctm(text: str, path: str | Path = "<ctm>") -> CtmFile:
    words: list[CtmWord] = []
    problems: list[Problem] = []
    broken: list[tuple[int, tuple[str, str] | None]] = []
    seen = 0
    for number, line in _records(text):
        seen += 1
        fields = line.split()
        where = (fields[0], fields[1]) if len(fields) >= 2 else None

        def bad(reason: str) -> None:
            problems.append(field_problem(path, number, reason))
            broken.append((number, where))

        if len(fields) not in (5, 6):
            bad(f"expected 'file channel begin duration word [confidence]' (5 or 6 fields), found {len(fields)} in {_short(line)}")
            continue
        file, channel, begin, duration, word = fields[:5]
        if word.upper() in ("<ALT_BEGIN>", "<ALT>", "<ALT_END>"):
            bad(f"ctm alternations ({word}) are not supported: give one transcript")
            continue
        start, length = _seconds(begin), _seconds(duration)
        if start is None or length is None:
            bad(f"begin and duration must be seconds, found {begin!r} and {duration!r}")
            continue
        if start < 0 or length < 0:
            bad(f"begin and duration must not be negative, found {begin} and {duration}")
            continue
        confidence = None
        if len(fields) == 6:
            confidence = _seconds(fields[5])
            if confidence is None:
                bad(f"confidence must be a number, found {fields[5]!r}")
                continue
        words.append(CtmWord(file, channel, start, length, word, confidence, number))
    return CtmFile(str(path), tuple(words), tuple(problems), tuple(broken), seen)


_QUOTED = re.compile(r'"([^"]*)"')
_LABELS = re.compile(r"^<([^<>]*)>$")


def _definition(line: str) -> tuple[str, list[str]] | None:
    """(kind, quoted fields) of a `;; CATEGORY` or `;; LABEL` comment, else None."""
    body = line[2:].strip()
    kind = body.split(None, 1)[0].upper() if body else ""
    if kind not in ("CATEGORY", "LABEL"):
        return None
    return kind, _QUOTED.findall(body)


def parse_stm(text: str, path: str | Path = "<stm>") -> StmFile:
    segments: list[StmSegment] = []
    categories: list[StmCategory] = []
    labels: list[StmLabel] = []
    problems: list[Problem] = []
    broken: list[tuple[int, tuple[str, str] | None]] = []
    seen = 0
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        line = raw.strip()
        if line.startswith(";;"):
            definition = _definition(line)
            if definition is None:
                continue
            kind, quoted = definition
            if len(quoted) < 2:
                problems.append(field_problem(path, number, f'expected ;; {kind} "id" "heading" "description", found {_short(line)}',
                                              kind="warning"))
                continue
            quoted += [""] * (3 - len(quoted))
            if kind == "LABEL":
                labels.append(StmLabel(quoted[0], quoted[1], quoted[2]))
            elif quoted[0].strip().isdigit():
                categories.append(StmCategory(int(quoted[0]), quoted[1], quoted[2]))
            else:
                problems.append(field_problem(path, number, f"a CATEGORY's first field is its position, a number; found {quoted[0]!r}",
                                              kind="warning"))
            continue
        if not line:
            continue
        seen += 1
        fields = line.split(None, 5)
        where = (fields[0], fields[1]) if len(fields) >= 2 else None
        if len(fields) < 5:
            problems.append(field_problem(path, number, f"expected 'file channel speaker begin end [<labels>] transcript', found {_short(line)}"))
            broken.append((number, where))
            continue
        file, channel, speaker, begin, end = fields[:5]
        start, stop = _seconds(begin), _seconds(end)
        if start is None or stop is None:
            problems.append(field_problem(path, number, f"begin and end times must be seconds, found {begin!r} and {end!r}"))
            broken.append((number, where))
            continue
        if start < 0 or stop < start:
            problems.append(field_problem(path, number, f"segment ends before it starts ({begin} to {end})"))
            broken.append((number, where))
            continue
        transcript = fields[5] if len(fields) > 5 else ""
        found: tuple[str, ...] = ()
        head = transcript.split(None, 1)
        if head and head[0].startswith("<"):
            match = _LABELS.match(head[0])
            if match is None:
                problems.append(field_problem(path, number, f"labels must be one <a,b,...> field without spaces, found {_short(head[0])}"))
                broken.append((number, where))
                continue
            found = tuple(label.strip() for label in match.group(1).split(","))
            transcript = head[1] if len(head) > 1 else ""
        if speaker.lower() == INTER_SEGMENT_GAP:
            continue  # time between segments: what a gap already means
        segments.append(StmSegment(file, channel, speaker, start, stop, found, " ".join(transcript.split()), number, begin, end))
    return StmFile(str(path), tuple(segments), tuple(categories), tuple(labels), tuple(problems), tuple(broken), seen)


_ALTERNATION = re.compile(r"[{}]|(?:^|\s)\([^()\s]+\)(?=\s|$)|(?:^|\s)@(?=\s|$)")


def uses_alternations(text: str) -> bool:
    """Whether a transcript uses sclite's alternations (`{ a / b }`), optional words
    (`(word)`) or the NULL word (`@`), which the workbench does not expand."""
    return bool(_ALTERNATION.search(text))


# --------------------------------------------------------------------------- naming


def sclite_speaker(speaker: str) -> str:
    """A speaker code sclite's `-i spu_id` reads back whole: it ends the code at the first
    hyphen or underscore, so those (and whitespace, parentheses) become dots."""
    return re.sub(r"[-_\s()]+", ".", speaker.strip()).strip(".") or "unknown"


def speaker_prefixed_id(speaker: str | None, utterance_id: str) -> str:
    """`speaker-utterance` (Kaldi's and sclite's spu_id convention) when the speaker is known."""
    return f"{sclite_speaker(speaker)}-{utterance_id}" if speaker else utterance_id


def recording_key(file: str, channel: str, channels_of_file: int) -> str:
    """The utterance a ctm recording's words (or an stm recording) belong to: the file, or
    `file-channel` when the file has words on more than one channel."""
    return file if channels_of_file <= 1 else f"{file}-{channel}"


def segment_id(file: str, channel: str, start: float, end: float, single: bool, channels_of_file: int = 1) -> str:
    """An stm segment's utterance id: the recording's key when it is the recording's only
    scored segment (one clip per file, as `workbench export` writes), else Kaldi's segment
    id, `recording-begin-end` in hundredths of a second."""
    key = recording_key(file, channel, channels_of_file)
    if single:
        return key
    return f"{key}-{int(round(start * 100)):07d}-{int(round(end * 100)):07d}"


# --------------------------------------------------------------------------- writing


def _stamp(seconds: float) -> str:
    return f"{seconds:.3f}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def format_trn(rows: Iterable[tuple[str, str]]) -> str:
    """`text (id)` lines of (id, text) pairs, in the order given."""
    return "".join(f"{_one_line(text)} ({utt_id})".lstrip() + "\n" for utt_id, text in rows)


def format_ctm(words: Sequence[CtmWord], header: Sequence[str] = ()) -> str:
    """A ctm file: `;;` header lines, then the words sorted by file, channel and begin."""
    lines = [f";; {h}" for h in header]
    for w in sorted(words, key=lambda w: (w.file, w.channel, w.start, w.line)):
        confidence = "" if w.confidence is None else f" {w.confidence:.4f}"
        lines.append(f"{w.file} {w.channel} {_stamp(w.start)} {_stamp(w.duration)} {w.word}{confidence}")
    return "\n".join(lines) + "\n"


def format_stm(segments: Sequence[StmSegment], categories: Sequence[StmCategory] = (), labels: Sequence[StmLabel] = (),
               header: Sequence[str] = ()) -> str:
    """An stm file: `;;` header lines, the CATEGORY and LABEL definitions, then the segments
    sorted by file, channel and begin. An empty transcript is written as an empty field
    (a segment where nothing is said)."""
    lines = [f";; {h}" for h in header]
    lines += [f';; CATEGORY "{c.index}" "{c.heading}" "{c.description}"' for c in categories]
    lines += [f';; LABEL "{label.id}" "{label.heading}" "{label.description}"' for label in labels]
    for s in sorted(segments, key=lambda s: (s.file, s.channel, s.start, s.line)):
        tags = f" <{','.join(s.labels)}>" if s.labels else ""
        begin = s.start_text or _stamp(s.start)
        end = s.end_text or _stamp(s.end)
        text = f" {_one_line(s.text)}" if s.text.strip() else ""
        lines.append(f"{s.file} {s.channel} {s.speaker} {begin} {end}{tags}{text}")
    return "\n".join(lines) + "\n"
