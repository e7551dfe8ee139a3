"""Timed references for long recordings: SubRip (.srt), WebVTT (.vtt), NIST STM (.stm), plain text.

`read_reference(path)` reads any of them into `Segment`s (start and end in seconds, the
text, the speaker where the format has one), chosen by the file's suffix; a `.txt` file is
one untimed segment. Timed segments come back sorted by start time (stable), so the joined
reference text and every time-based score read the recording in the same order.

Malformed input raises `ReferenceFileError` (a `BadInputError`) whose one-line message is
"FILE:LINE: what is wrong". What is tolerated, because its meaning is unambiguous and
real subtitle files do it: a byte-order mark, CRLF line ends, a '.' instead of ',' before
the milliseconds of an SRT time, a missing cue number, a missing blank line before the
next cue, overlapping cues (two people talking at once), formatting tags (`<i>`, `{\\an8}`,
WebVTT `<c>` and inline timestamps), and cues with no text (skipped). Not tolerated:
a time line that does not parse, a cue that ends before it starts, minutes or seconds
above 59, a file without a single cue.

STM (sclite's format: `file channel speaker begin end [<labels>] transcript`, `;;`
comments; its lines are read by `workbench.sctk_formats`, here the first malformed line is
an error) may hold several recordings; `recording=` picks the lines of one (matched on
the file name without extension). A segment whose transcript is
`ignore_time_segment_in_scoring` is kept with `ignored=True`: it is not part of the
reference text, and long-form scoring drops hypothesis words inside it, as sclite does.
Segments with an empty transcript (and sclite's `inter_segment_gap`) are left out: they
mark time without speech, which is what a gap between segments already means.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError
from .tabular import read_text

__all__ = [
    "Segment",
    "ReferenceFileError",
    "REFERENCE_SUFFIXES",
    "read_reference",
    "parse_srt",
    "parse_vtt",
    "parse_stm",
    "reference_text",
    "is_timed",
    "format_srt",
]

REFERENCE_SUFFIXES = (".srt", ".vtt", ".stm", ".txt")


@dataclass(frozen=True)
class Segment:
    """A stretch of a recording and what is said in it. Times are seconds from the start of
    the audio, or None for an untimed text (a plain transcript)."""

    start: float | None
    end: float | None
    text: str
    speaker: str | None = None
    # (word, start, end) when the producer knows word times (Whisper word timestamps);
    # empty when only the segment's times are known
    words: tuple[tuple[str, float, float], ...] = ()
    # STM's ignore_time_segment_in_scoring: neither reference text nor hypothesis words
    # inside it are scored
    ignored: bool = False

    @property
    def timed(self) -> bool:
        return self.start is not None and self.end is not None


class ReferenceFileError(BadInputError):
    """A reference file that cannot be read; the message is "path:line: reason"."""

    def __init__(self, path: str | Path, line: int | None, reason: str):
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")

    def __reduce__(self):  # keep the fields across processes
        return (type(self), (self.path, self.line, self.reason))


def read_reference(path: str | Path, recording: str | None = None) -> tuple[Segment, ...]:
    """The segments of a .srt, .vtt, .stm or .txt reference file (see the module docstring).

    `recording` (an audio file name or stem) picks one recording's lines from an STM that
    holds several; the other formats ignore it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in REFERENCE_SUFFIXES:
        raise ReferenceFileError(path, None, f"unknown reference file type {suffix!r} (expected {', '.join(REFERENCE_SUFFIXES)})")
    if not path.is_file():
        raise ReferenceFileError(path, None, "reference file not found" if not path.exists() else "reference path is not a file")
    text = read_text(path)  # UTF-8 or a one-line error naming the file and line
    if suffix == ".txt":
        joined = " ".join(text.split())
        if not joined:
            raise ReferenceFileError(path, None, "empty reference file")
        return (Segment(None, None, joined),)
    parser = {".srt": parse_srt, ".vtt": parse_vtt}.get(suffix)
    segments = parser(text, path) if parser else parse_stm(text, path, recording)
    return tuple(sorted(segments, key=lambda s: s.start))  # stable: file order among equal starts


def reference_text(segments) -> str:
    """The reference transcript of a recording: its scored segments' texts, joined by spaces."""
    return " ".join(s.text for s in segments if s.text and not s.ignored)


def is_timed(segments) -> bool:
    """Whether every segment has start and end times (and there is at least one)."""
    return bool(segments) and all(s.timed for s in segments)


# --------------------------------------------------------------------------- shared pieces

_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # <i>, </font>, <c.yellow>, <00:01.000>, {\an8}
_ARROW = "-->"


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAGS.sub("", text)).split())


def _clock(h: str | None, m: str, s: str, ms: str, path, number: int, stamp: str) -> float:
    if int(m) > 59 or int(s) > 59:
        raise ReferenceFileError(path, number, f"time {stamp!r} has minutes or seconds above 59")
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _lines(text: str) -> list[str]:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _short(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")


# --------------------------------------------------------------------------- SubRip

_SRT_TIME = r"(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_SRT_TIMING = re.compile(rf"^\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s+.*)?$")  # SRT may carry X1:... positions


def _srt_timing(line: str, path, number: int) -> tuple[float, float] | None:
    match = _SRT_TIMING.match(line)
    if not match:
        return None
    g = match.groups()
    start_stamp, end_stamp = (part.strip().split()[0] for part in line.split(_ARROW, 1))
    start = _clock(g[0], g[1], g[2], g[3], path, number, start_stamp)
    end = _clock(g[4], g[5], g[6], g[7], path, number, end_stamp)
    if end < start:
        raise ReferenceFileError(path, number, f"cue ends before it starts ({line.strip()})")
    return start, end


def parse_srt(text: str, path: str | Path = "<srt>") -> list[Segment]:
    lines = _lines(text)
    segments: list[Segment] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i].strip()
        number = i + 1
        if not line:
            i += 1
            continue
        times = _srt_timing(line, path, number)
        if times is None:
            if not line.isdigit():
                if _ARROW in line:
                    raise ReferenceFileError(path, number, f"bad time line {_short(line)} (expected HH:MM:SS,mmm --> HH:MM:SS,mmm)")
                raise ReferenceFileError(path, number, f"expected a cue number or a time line, found {_short(line)}")
            if i + 1 >= n or not lines[i + 1].strip():
                raise ReferenceFileError(path, number + 1, f"cue {line} has no time line")
            times = _srt_timing(lines[i + 1].strip(), path, number + 1)
            if times is None:
                raise ReferenceFileError(
                    path, number + 1, f"bad time line {_short(lines[i + 1].strip())} after cue {line} (expected HH:MM:SS,mmm --> HH:MM:SS,mmm)"
                )
            i += 2
        else:
            i += 1
        body: list[str] = []
        while i < n and lines[i].strip():
            current = lines[i].strip()
            # a cue that follows without a blank line: "12" then a time line, or a time line
            if _SRT_TIMING.match(current) or (current.isdigit() and i + 1 < n and _SRT_TIMING.match(lines[i + 1].strip())):
                break
            body.append(current)
            i += 1
        cue = _clean(" ".join(body))
        if cue:
            segments.append(Segment(times[0], times[1], cue))
    if not segments:
        raise ReferenceFileError(path, None, "no subtitle cues with text in this file")
    return segments


# --------------------------------------------------------------------------- WebVTT

_VTT_TIME = r"(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})"
_VTT_TIMING = re.compile(rf"^\s*{_VTT_TIME}\s+-->\s+{_VTT_TIME}(?:\s+.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")


def _vtt_timing(line: str, path, number: int) -> tuple[float, float]:
    match = _VTT_TIMING.match(line)
    if not match:
        raise ReferenceFileError(path, number, f"bad time line {_short(line)} (expected [HH:]MM:SS.mmm --> [HH:]MM:SS.mmm)")
    g = match.groups()
    start_stamp, end_stamp = (part.strip().split()[0] for part in line.split(_ARROW, 1))
    start = _clock(g[0], g[1], g[2], g[3], path, number, start_stamp)
    end = _clock(g[4], g[5], g[6], g[7], path, number, end_stamp)
    if end < start:
        raise ReferenceFileError(path, number, f"cue ends before it starts ({line.strip()})")
    return start, end


def parse_vtt(text: str, path: str | Path = "<vtt>") -> list[Segment]:
    lines = _lines(text)
    if not lines or not (lines[0].lstrip("\ufeff") == "WEBVTT" or lines[0].lstrip("\ufeff").startswith(("WEBVTT ", "WEBVTT\t"))):
        raise ReferenceFileError(path, 1, f"not a WebVTT file: the first line must be 'WEBVTT', found {_short(lines[0] if lines else '')}")
    i, n = 1, len(lines)
    while i < n and lines[i].strip():  # header lines up to the first blank line
        i += 1
    segments: list[Segment] = []
    while i < n:
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        if line.startswith(("NOTE", "STYLE", "REGION")) and _ARROW not in line:
            while i < n and lines[i].strip():  # a comment or style block: up to the next blank line
                i += 1
            continue
        if _ARROW in line:
            times = _vtt_timing(line, path, i + 1)
            i += 1
        else:  # a cue identifier; the time line must follow
            if i + 1 >= n or _ARROW not in lines[i + 1]:
                raise ReferenceFileError(path, i + 2, f"expected a time line after cue identifier {_short(line)}")
            times = _vtt_timing(lines[i + 1].strip(), path, i + 2)
            i += 2
        body: list[str] = []
        while i < n and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        payload = " ".join(body)
        voice = _VOICE.search(payload)
        cue = _clean(payload)
        if cue:
            segments.append(Segment(times[0], times[1], cue, voice.group(1).strip() if voice else None))
    if not segments:
        raise ReferenceFileError(path, None, "no subtitle cues with text in this file")
    return segments


# --------------------------------------------------------------------------- NIST STM

def parse_stm(text: str, path: str | Path = "<stm>", recording: str | None = None) -> list[Segment]:
    """One recording's segments of an STM file (`workbench.sctk_formats` reads the lines;
    here the first malformed one is an error, since a reference must be whole)."""
    from .sctk_formats import parse_stm as parse_stm_file

    stm = parse_stm_file(text, path)
    errors = [p for p in stm.problems if p.kind == "error"]
    if errors:
        raise ReferenceFileError(path, errors[0].row, errors[0].reason)
    by_file: dict[str, list[Segment]] = {}
    for s in stm.segments:
        by_file.setdefault(s.file, [])
        if s.ignored:
            by_file[s.file].append(Segment(s.start, s.end, "", s.speaker, ignored=True))
        elif s.text:
            by_file[s.file].append(Segment(s.start, s.end, s.text, s.speaker))
    if not by_file:
        raise ReferenceFileError(path, None, "no STM segments in this file")
    if len(by_file) == 1:
        (segments,) = by_file.values()
    else:
        wanted = Path(recording).stem if recording else None
        matches = [name for name in by_file if Path(name).stem == wanted]
        if not matches:
            names = ", ".join(sorted(by_file)[:5]) + (", ..." if len(by_file) > 5 else "")
            which = f"none for recording {wanted!r}" if wanted else "name the recording to score"
            raise ReferenceFileError(path, None, f"holds segments of {len(by_file)} recordings ({names}): {which}")
        segments = [s for name in matches for s in by_file[name]]
    if not any(s.text for s in segments):
        raise ReferenceFileError(path, None, "no STM segment with a transcript" + (f" for recording {recording!r}" if recording else ""))
    return segments


# --------------------------------------------------------------------------- writing


def _srt_stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def format_srt(segments) -> str:
    """SubRip text of timed segments (the demo's references; hypotheses as subtitles)."""
    blocks = []
    for index, segment in enumerate((s for s in segments if s.timed and s.text), start=1):
        blocks.append(f"{index}\n{_srt_stamp(segment.start)} --> {_srt_stamp(segment.end)}\n{segment.text}\n")
    return "\n".join(blocks)
