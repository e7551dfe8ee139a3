"""The one in-memory form of a labelled speech dataset, whatever file it came from.

A `Dataset` is a tuple of valid `Utterance`s plus the `Problem`s found while loading:
rows with problems are excluded from the utterances but never dropped silently. When no
row is valid, `no_valid_rows_message` says why, with the first reasons and a hint.
"""

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping
from .slicing import slice_value

__all__ = [
    "KNOWN_SLICE_COLUMNS",
    "AudioSource",
    "Utterance",
    "Problem",
    "Dataset",
    "no_valid_rows_message",
    "SliceSummary",
    "summarize",
    "default_slice_columns",
    "is_true",
]

# Slice columns the workbench understands; any other manifest column is kept as a slice too.
KNOWN_SLICE_COLUMNS = ("accent", "language", "speaker")
# Columns that steer the workbench (which part, which clips are silence) rather than
# describe the speech: never a default slice, still available to --slices.
# The sctk_* columns place an utterance read from an SCTK stm/ctm reference in its recording.
CONTROL_COLUMNS = ("split", "no_speech", "sctk_file", "sctk_channel", "sctk_begin", "sctk_end")


@dataclass(frozen=True)
class AudioSource:
    """Where an utterance's audio lives: a file path, or encoded bytes (HF datasets)."""

    path: str | None = None  # absolute path to an audio file
    data: bytes | None = field(default=None, repr=False)  # encoded audio (wav/flac/mp3/ogg)
    label: str = ""  # how the source names it, for messages ("audio/a.wav", "row 3")

    def __post_init__(self) -> None:
        if (self.path is None) == (self.data is None):
            raise ValueError(f"AudioSource needs exactly one of path or data, got {self!r}")

    def describe(self) -> str:
        return self.label or self.path or "<in-memory audio>"


@dataclass(frozen=True)
class Utterance:
    """One labelled utterance: the unit every score is computed over."""

    id: str  # unique within its dataset; the audio path as written when no id column
    audio: AudioSource
    reference: str  # the reference transcript as written (casing, punctuation kept)
    slices: Mapping[str, str] = field(default_factory=dict)  # accent, language, speaker, extra columns
    duration_s: float | None = None  # measured from the audio, not trusted from the manifest
    row: int | None = None  # 1-based line/row number in the source, for messages
    # A long recording's reference as read from its reference file (workbench.subtitles
    # Segments: times, text, speaker); `reference` is then their texts joined. Empty for
    # a row whose transcript is in the manifest. Left out of equality: it is what
    # `reference` was made from.
    segments: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        # Read-only view so a frozen Utterance cannot be mutated through its mapping.
        object.__setattr__(self, "slices", MappingProxyType(dict(self.slices)))

    @property
    def language(self) -> str | None:
        return self.slices.get("language") or None

    @property
    def longform(self) -> bool:
        """A recording whose reference came from a reference file (scored as long-form)."""
        return bool(self.segments)

    @property
    def no_speech(self) -> bool:
        """A clip with no speech (silence, noise): any output is a hallucination."""
        return is_true(self.slices.get("no_speech", ""))


@dataclass(frozen=True)
class Problem:
    """Why a row (or a whole file) was excluded or flagged."""

    source: str  # the file the problem is in
    row: int | None  # 1-based line or row number; None for file-level problems
    reason: str  # what is wrong, in words
    field: str | None = None  # the column at fault, when there is one
    utterance_id: str | None = None
    kind: str = "error"  # "error" (row excluded) or "warning" (row kept)

    def __str__(self) -> str:
        where = self.source if self.row is None else f"{self.source}:{self.row}"
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.reason}"


@dataclass(frozen=True)
class Dataset:
    """Valid utterances plus every problem met while loading them."""

    source: str  # what was loaded (a path, or hf:name)
    utterances: tuple[Utterance, ...]
    problems: tuple[Problem, ...] = ()
    slice_columns: tuple[str, ...] = ()  # known and extra columns, in manifest order
    rows_read: int = 0  # rows seen in the source, valid or not
    # what probably went wrong when many rows fail the same way, in words ("" when nothing
    # stands out), e.g. audio paths written relative to the working directory
    hint: str = ""

    @property
    def excluded(self) -> int:
        return self.rows_read - len(self.utterances)

    def problem_counts(self) -> Counter:
        """How many problems of each kind of reason (first clause), for the summary."""
        return Counter(p.reason.split(":")[0].split(" (")[0] for p in self.problems)


def no_valid_rows_message(dataset: Dataset, shown: int = 5) -> str:
    """The error for a dataset without one valid utterance: a line saying so, the first
    `shown` reasons (file:row: field: what), a count of the rest, and the hint if any.

    The first line stands alone as a one-line error; the rest is for a terminal."""
    if dataset.rows_read == 0:
        head = f"{dataset.source}: no valid utterances (no data rows)"
    else:
        head = f"{dataset.source}: no valid utterances ({dataset.rows_read} rows read, all excluded)"
    errors = [p for p in dataset.problems if p.kind == "error"] or list(dataset.problems)
    lines = [head] + [f"  {p}" for p in errors[:shown]]
    if len(errors) > shown:
        counts = Counter(p.reason.split(":")[0].split(" (")[0] for p in errors[shown:])
        common = ", ".join(f"{n} {reason}" for reason, n in counts.most_common(3))
        lines.append(f"  ... and {len(errors) - shown} more ({common})")
    if dataset.hint:
        lines.append(f"  hint: {dataset.hint}")
    return "\n".join(lines)


@dataclass(frozen=True)
class SliceSummary:
    column: str
    value: str
    utterances: int
    hours: float
    speakers: int | None  # None when the dataset has no speaker column


def is_true(value) -> bool:
    return str(value).strip().lower() in ("yes", "true", "1", "y")


def default_slice_columns(utterances, columns, max_values: int = 30) -> tuple[str, ...]:
    """Columns worth a per-slice table: categorical ones with at most `max_values` values.

    Numeric-looking columns (durations, votes) and near-unique ones (paths, ids) would
    make one slice per utterance, which is noise, so they are left to an explicit
    `--slices`. accent and language are always kept when present.
    """
    chosen = []
    for column in columns:
        if column in CONTROL_COLUMNS:
            continue
        values = [u.slices.get(column, "") for u in utterances]
        distinct = set(values)
        if column in ("accent", "language") and any(values):
            chosen.append(column)
            continue
        if not any(values) or len(distinct) > max_values or len(distinct) < 2:
            continue
        if all(_is_number(v) for v in distinct if v):
            continue
        chosen.append(column)
    return tuple(chosen)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def summarize(utterances, columns) -> list[SliceSummary]:
    """Per-slice utterances, hours and speakers; the first row is the overall total."""
    has_speaker = any(u.slices.get("speaker") for u in utterances)

    def one(column: str, value: str, group) -> SliceSummary:
        seconds = sum(u.duration_s or 0.0 for u in group)
        speakers = len({u.slices.get("speaker") for u in group}) if has_speaker else None
        return SliceSummary(column, value, len(group), seconds / 3600.0, speakers)

    rows = [one("overall", "all", list(utterances))]
    for column in columns:
        groups: dict[str, list] = {}
        for u in utterances:
            groups.setdefault(slice_value(u.slices, column), []).append(u)
        for value in sorted(groups):
            rows.append(one(column, value, groups[value]))
    return rows
