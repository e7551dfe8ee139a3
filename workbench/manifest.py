"""Load a labelled speech dataset from CSV/TSV, JSONL, a Hugging Face dataset or a folder.

Every loader ends in the same `Dataset`: column names are mapped to ours (recipe
`audios,transcription`, Common Voice `sentence/accents/locale/client_id`, NeMo
`audio_filepath/text`), each row is validated, and a row with a problem is excluded and
reported with its row number and reason. `strict=True` turns the first problem into an
error instead.

Long recordings: a row may give its reference as a FILE instead of text, in a
`reference_file` column (also `reference_path`, `subtitles`): a SubRip .srt, WebVTT .vtt,
NIST .stm or plain .txt file, its path relative to the manifest's folder like the audio's
(`workbench.subtitles` reads them). A transcript column holding nothing but such a path
is read the same way (no transcript is one word ending in .srt), and in a folder an
audio file's same-name .srt/.vtt/.stm serves when there is no .txt. The utterance's
`reference` is then the file's segment texts joined, and `Utterance.segments` holds the
segments (times, speakers) for long-form scoring. Such rows are long-form: the 30 s
`max_duration_s` does not apply to them (`max_longform_duration_s` does, no limit by
default), and a reference whose last segment ends more than a second after the audio
does is refused as belonging to another recording. A malformed reference file excludes
its row with a problem naming the file and line ("refs/a.srt:12: bad time line ...");
the other rows load.
"""

import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .audio import AudioDecodeError, Preprocessing, iter_audio_blocks, load_audio, probe
from .dataset import AudioSource, Dataset, Problem, Utterance, is_true, no_valid_rows_message
from .errors import BadInputError
from .parallel import can_fork, chunk_ranges, fork_map, usable_cpus
from .subtitles import REFERENCE_SUFFIXES, ReferenceFileError, read_reference, reference_text
from .tabular import PROBLEM, TABLE_SUFFIXES, read_text, stream_table

__all__ = ["LoadOptions", "load_dataset", "no_valid_rows_message", "AUDIO_EXTENSIONS", "COLUMN_ALIASES"]

NO_SPEECH_COLUMNS = ("no_speech", "nospeech", "is_no_speech")  # yes/true/1 marks a clip with no speech
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")

# Our field -> accepted column names, most specific first. The first present one wins.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "utt_id", "utterance_id", "uttid", "key"),
    "audio": ("audios", "audio", "path", "file", "audio_filepath", "audio_path", "filename", "wav"),
    "text": ("transcription", "text", "sentence", "transcript", "reference"),
    "accent": ("accent", "accents"),
    "language": ("language", "locale", "lang"),
    "speaker": ("speaker", "speaker_id", "client_id"),
    "reference_file": ("reference_file", "reference_path", "subtitles"),  # .srt/.vtt/.stm/.txt: a long recording
}
HF_BATCH = 1000  # rows per record batch read from a Hugging Face dataset
# A reference file's end may pass the audio's by this much (subtitle timing slack) before
# the file is taken for another recording's.
REFERENCE_END_SLACK_S = 1.0


@dataclass(frozen=True)
class LoadOptions:
    """How strictly to load and what counts as a usable row."""

    strict: bool = False  # fail on the first problem instead of excluding the row
    min_duration_s: float = 1.0  # shorter clips are excluded (Whisper hallucinates on them)
    max_duration_s: float = 30.0  # longer clips exceed Whisper's 30 s window
    # rows with a reference file are long recordings: max_duration_s does not apply to
    # them, this does (None: no limit)
    max_longform_duration_s: float | None = None
    min_transcript_chars: int = 1  # letters/digits a transcript needs after stripping punctuation
    check_audio: str = "header"  # "header": read headers; "decode": decode fully; "none": trust paths
    keep_columns: tuple[str, ...] = ()  # extra columns allowed in strict mode
    language: str | None = None  # language for rows without a language column/value
    hf_config: str | None = None  # Hugging Face dataset config (e.g. a Common Voice locale)
    hf_split: str | None = None  # Hugging Face split; default "test" when there are several
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    workers: int = 4  # threads for reading audio headers (from PARALLEL_MIN_CLIPS clips on: a process per core)

    def __post_init__(self) -> None:
        if self.check_audio not in ("header", "decode", "none"):
            raise ValueError(f"check_audio must be header, decode or none, got {self.check_audio!r}")
        if self.min_duration_s < 0 or self.max_duration_s <= self.min_duration_s:
            raise ValueError(
                f"need 0 <= min_duration_s < max_duration_s, got {self.min_duration_s!r} and {self.max_duration_s!r}"
            )
        if self.max_longform_duration_s is not None and self.max_longform_duration_s <= self.min_duration_s:
            raise ValueError(f"need max_longform_duration_s > min_duration_s, got {self.max_longform_duration_s!r}")


ProgressFn = Callable[[int, int], None]


def load_dataset(spec: str | os.PathLike, options: LoadOptions = LoadOptions(), progress: ProgressFn | None = None) -> Dataset:
    """Load from a manifest file, a folder, a `save_to_disk` folder or `hf:NAME` from the hub."""
    text = str(spec)
    if text.startswith("hf:"):
        return _load_hf(text[3:], options, progress, from_disk=False)
    path = Path(text)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            return _load_hf(text, options, progress, from_disk=True)
        return _load_folder(path, options, progress)
    if not path.exists():
        raise BadInputError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".trn", ".stm", ".ctm"):  # NIST SCTK references: text only, for scoring
        from .sctk_import import load_references

        return load_references(path, options.strict, options.language)
    if suffix in TABLE_SUFFIXES:
        return _load_table(path, options, progress)
    raise BadInputError(f"{path}: unknown manifest type {suffix!r} (expected .csv, .tsv, .jsonl, .parquet, a folder, "
                        "or SCTK references: .trn, .stm, .ctm)")


# --------------------------------------------------------------------------- readers


def _load_table(path: Path, options: LoadOptions, progress) -> Dataset:
    """CSV, TSV, JSONL or Parquet, validated as its rows are read (never held whole)."""
    table = stream_table(path)
    if not table.header:
        first = next(table.rows, None)
        if first is not None:  # every record failed to parse: say why the first one did
            number, row = first
            raise BadInputError(f"{path}:{number}: {row.get(PROBLEM, 'a record without fields')} (no readable record in the file)")
        raise BadInputError(f"{path}: empty manifest (no header line or records)")
    return _build(str(path), path.parent, table.header, table.rows, options, progress)


def _load_folder(folder: Path, options: LoadOptions, progress) -> Dataset:
    """Audio files with same-name .txt transcripts; sub-folder names become a `folder` slice."""
    audio_files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not audio_files:
        raise BadInputError(f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
    nested = any(p.parent != folder for p in audio_files)

    def subtitles(audio: Path) -> Path | None:  # a long recording's timed reference, when there is no .txt
        return next((audio.with_suffix(s) for s in REFERENCE_SUFFIXES[:-1] if audio.with_suffix(s).is_file()), None)

    timed = any(not a.with_suffix(".txt").exists() and subtitles(a) for a in audio_files)
    header = ["audio", "text"] + (["reference_file"] if timed else []) + (["folder"] if nested else [])

    def rows() -> Iterator[tuple[int, dict]]:
        for number, audio in enumerate(audio_files, start=1):
            relative = audio.relative_to(folder).as_posix()
            transcript = audio.with_suffix(".txt")
            row = {"audio": relative}
            if nested:
                row["folder"] = audio.parent.relative_to(folder).as_posix()
            if not transcript.exists() and subtitles(audio) is not None:
                row["text"] = ""
                row["reference_file"] = subtitles(audio).relative_to(folder).as_posix()
            elif not transcript.exists():
                row[PROBLEM] = f"no transcript file {transcript.name} beside {relative} (nor a .srt, .vtt or .stm reference)"
                row["__field__"] = "text"
            else:
                try:
                    row["text"] = read_text(transcript).strip()
                except BadInputError as exc:
                    row[PROBLEM] = str(exc).split(": ", 1)[-1]
                    row["__field__"] = "text"
            yield number, row

    return _build(str(folder), folder, header, rows(), options, progress, row_label="file")


def _load_hf(spec: str, options: LoadOptions, progress, from_disk: bool) -> Dataset:
    import datasets

    try:
        if from_disk:
            obj = datasets.load_from_disk(spec)
        else:
            obj = datasets.load_dataset(spec, options.hf_config, split=options.hf_split)
    except Exception as exc:  # hub unreachable, unknown name, bad folder: all are bad input here
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{'' if from_disk else 'hf:'}{spec}: cannot load Hugging Face dataset ({message})") from None
    if isinstance(obj, datasets.DatasetDict):
        split = options.hf_split or ("test" if "test" in obj else None)
        if split is None or split not in obj:
            raise BadInputError(f"{spec}: choose a split with --hf-split (this dataset has: {', '.join(obj)})")
        obj = obj[split]
    header = list(obj.column_names)
    audio_column = _pick(header, "audio")
    if audio_column is not None and isinstance(obj.features[audio_column], datasets.Audio):
        # decode=False: we decode with soundfile and resample to 16 kHz ourselves, because
        # datasets >= 4 decodes through torchcodec + ffmpeg, which a CPU install lacks.
        obj = obj.cast_column(audio_column, datasets.Audio(sampling_rate=16_000, decode=False))
    base = Path(spec) if from_disk else Path.cwd()

    def rows() -> Iterator[tuple[int, dict]]:
        # Record batches from the memory-mapped Arrow files: never the whole dataset in
        # Python objects, and far cheaper than formatting one row at a time.
        number = 0
        for batch in obj.iter(batch_size=HF_BATCH):
            names = list(batch)
            for values in zip(*(batch[name] for name in names)):
                number += 1
                yield number, {k: ("" if v is None else v) for k, v in zip(names, values)}

    return _build(spec if from_disk else f"hf:{spec}", base, header, rows(), options, progress)


# --------------------------------------------------------------------------- validation


def _pick(header: Iterable[str], ours: str) -> str | None:
    lowered = {h.lower(): h for h in header}
    for alias in COLUMN_ALIASES[ours]:
        if alias in lowered:
            return lowered[alias]
    return None


def _has_letters(text: str, wanted: int) -> bool:
    """Whether the text has at least `wanted` letters or digits (stops as soon as it does:
    most transcripts answer on their first character)."""
    if wanted <= 0:
        return True
    found = 0
    for ch in text:
        if unicodedata.category(ch)[0] in "LN":
            found += 1
            if found >= wanted:
                return True
    return False


def _build(
    source: str,
    base_dir: Path,
    header: list[str],
    rows: Iterator[tuple[int, dict]],
    options: LoadOptions,
    progress,
    row_label: str = "row",
) -> Dataset:
    base_dir = base_dir.resolve()  # absolute paths keep working whatever the cwd later is
    columns = {ours: _pick(header, ours) for ours in COLUMN_ALIASES}
    for required in ("audio", "text"):
        if columns[required] is None and not (required == "text" and columns["reference_file"]):
            expected = ", ".join(COLUMN_ALIASES[required])
            raise BadInputError(
                f"{source}: missing required {required} column (expected one of: {expected}; found: {', '.join(header) or 'none'})"
            )
    no_speech_column = next((h for h in header if h.lower() in NO_SPEECH_COLUMNS), None)
    used = {c for c in columns.values() if c}
    extras = [h for h in header if h not in used]
    problems: list[Problem] = []

    def report(problem: Problem) -> None:
        if options.strict and problem.row is None:
            raise BadInputError(str(problem))  # a file-level problem: nothing else matters
        problems.append(problem)

    if options.strict:
        for column in extras:
            if column not in options.keep_columns:
                report(Problem(source, None, f"unknown column {column!r} (strict mode: allow it with --keep-column {column})", field=column))

    slice_columns = tuple(c for c in ("accent", "language", "speaker") if columns[c]) + tuple(extras)
    candidates: list[tuple[int, Utterance]] = []
    seen: dict[str, tuple[int, str]] = {}  # utterance id -> (first row, its transcript)
    rows_read = 0
    for number, row in rows:
        rows_read += 1
        if PROBLEM in row:
            report(Problem(source, number, row[PROBLEM], field=row.get("__field__")))
            continue
        audio_value = row.get(columns["audio"], "")
        reference = row.get(columns["text"], "")
        reference = reference.strip() if isinstance(reference, str) else str(reference)
        audio = _audio_source(audio_value, base_dir)
        if audio is None:
            report(Problem(source, number, "empty audio field", field=columns["audio"]))
            continue
        utt_id = str(row.get(columns["id"], "")).strip() if columns["id"] else ""
        utt_id = utt_id or (audio_value.strip() if isinstance(audio_value, str) else audio.label or audio.path) or f"{row_label}-{number}"
        segments: tuple = ()
        reference_file = _reference_file(row, columns, reference, base_dir)
        if reference_file:
            try:
                segments = read_reference(_resolve(reference_file, base_dir), recording=_stem(audio_value))
            except BadInputError as exc:
                what = str(exc)  # e.g. not UTF-8: already "path:line: what is wrong"
                if isinstance(exc, ReferenceFileError):  # the file as the manifest writes it
                    what = f"{reference_file}{f':{exc.line}' if exc.line else ''}: {exc.reason}"
                report(Problem(source, number, what, field=columns["reference_file"] or columns["text"], utterance_id=utt_id))
                continue
            written = reference if reference != reference_file else ""
            reference = reference_text(segments)
            if written and " ".join(written.split()) != " ".join(reference.split()):
                report(
                    Problem(
                        source, number, f"transcript and reference file {reference_file} differ; the file is used",
                        field=columns["text"], utterance_id=utt_id, kind="warning",
                    )
                )
        if utt_id in seen:
            first, first_reference = seen[utt_id]
            if reference != first_reference:
                # Two transcripts for one clip: at most one is right, so say which rows
                # disagree instead of quietly scoring against the first.
                report(
                    Problem(
                        source, number,
                        f"conflicting duplicate of utterance id {utt_id!r}: {row_label} {first} has transcript {first_reference[:60]!r}, "
                        f"{row_label} {number} has {reference[:60]!r} ({row_label} {first} is used)",
                        field=columns["text"], utterance_id=utt_id,
                    )
                )
            else:
                report(Problem(source, number, f"duplicate utterance id {utt_id!r} (first at {row_label} {first})", field=columns["id"] or columns["audio"], utterance_id=utt_id))
            continue
        seen[utt_id] = (number, reference)
        no_speech = is_true(row.get(no_speech_column, "")) if no_speech_column else False
        if no_speech:
            # A no-speech clip (silence, noise) measures hallucination: its reference must be empty.
            if reference:
                report(Problem(source, number, f"no-speech row has a transcript ({reference[:40]!r})", field=columns["text"], utterance_id=utt_id))
                continue
        elif not reference:
            report(Problem(source, number, "empty transcript", field=columns["text"], utterance_id=utt_id))
            continue
        elif not _has_letters(reference, options.min_transcript_chars):
            report(Problem(source, number, f"transcript too short ({reference!r})", field=columns["text"], utterance_id=utt_id))
            continue
        slices = {}
        for ours in ("accent", "language", "speaker"):
            if columns[ours]:
                slices[ours] = _slice_value(row.get(columns[ours], ""))
        if options.language and not slices.get("language"):
            slices["language"] = options.language
        for column in extras:
            slices[column] = _slice_value(row.get(column, ""))
        candidates.append((number, Utterance(utt_id, audio, reference, slices, None, number, segments)))

    if options.language and "language" not in slice_columns:
        slice_columns = ("language",) + slice_columns
    utterances, not_found = _check_audio(source, candidates, options, report, progress, columns["audio"], columns["reference_file"] or columns["text"])
    # Text checks run before audio checks; report in row order, and in strict mode fail
    # on the earliest bad row, not on the first check that happened to run.
    problems.sort(key=lambda p: (p.row is not None, p.row or 0))
    if options.strict and problems:
        raise BadInputError(str(problems[0]))
    return Dataset(source, tuple(utterances), tuple(problems), slice_columns, rows_read, _path_hint(base_dir, not_found))


def _path_hint(base_dir: Path, not_found: list[str]) -> str:
    """The usual cause of many missing files: paths written relative to the folder the
    manifest was made in (the working directory) rather than to the manifest's folder."""
    cwd = Path.cwd().resolve()
    if not not_found or cwd == base_dir:
        return ""
    relative = [label for label in not_found if label and not os.path.isabs(label)]
    found_here = sum(1 for label in relative if (cwd / label).is_file())
    if found_here * 2 <= len(not_found):
        return ""
    return (
        f"audio paths are resolved relative to the manifest's folder ({base_dir}); {found_here} of the "
        f"{len(not_found)} missing files exist relative to the current folder ({cwd}): write the paths "
        "relative to the manifest's folder, or absolute"
    )


def _reference_file(row: dict, columns: dict, transcript: str, base_dir: Path) -> str:
    """The reference file a row names: its reference_file column, or a transcript that is
    nothing but a path ending in .srt/.vtt/.stm (or .txt, when that file exists)."""
    if columns["reference_file"]:
        value = row.get(columns["reference_file"], "")
        if isinstance(value, str) and value.strip():
            return value.strip()
    if transcript and " " not in transcript and _SPACE.search(transcript) is None:
        suffix = Path(transcript).suffix.lower()
        if suffix in REFERENCE_SUFFIXES[:-1] or (suffix == ".txt" and _resolve(transcript, base_dir).is_file()):
            return transcript
    return ""


def _resolve(value: str, base_dir: Path) -> Path:
    return Path(value) if os.path.isabs(value) else base_dir / value


def _stem(audio_value) -> str | None:
    """The recording's name, to pick its lines from an STM that holds several."""
    if isinstance(audio_value, dict):
        audio_value = audio_value.get("path") or ""
    return Path(audio_value.strip()).stem if isinstance(audio_value, str) and audio_value.strip() else None


def _slice_value(value) -> str:
    if isinstance(value, (list, tuple)):  # e.g. Common Voice "accents" as a list
        return ", ".join(str(v) for v in value)
    return str(value).strip()


def _audio_source(value, base_dir: Path) -> AudioSource | None:
    if isinstance(value, dict):  # Hugging Face Audio(decode=False): {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return AudioSource(data=value["bytes"], label=value.get("path") or "")
        value = value.get("path") or ""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return AudioSource(path=_joined(base_dir, value), label=value)


_SPACE = re.compile(r"\s")  # what str.isspace() calls a space
_PLAIN_RELATIVE = re.compile(r"[^/\x00]+(?:/[^/\x00]+)*")


def _joined(base_dir: Path, value: str) -> str:
    """`str(base_dir / value)` (or `value` when absolute), without building a Path for the
    common case: a relative path with no "." part, doubled or trailing slash, which
    pathlib would join unchanged."""
    if os.sep == "/" and _PLAIN_RELATIVE.fullmatch(value) and "." not in value.split("/"):
        base = str(base_dir)
        return (base if base.endswith("/") else base + "/") + value
    return str(Path(value) if os.path.isabs(value) else base_dir / value)


# From this many clips on, audio is checked in forked worker processes (see workbench.parallel).
PARALLEL_MIN_CLIPS = 2000


def _measure(utterance: Utterance, options: LoadOptions) -> float | str:
    """A clip's duration in seconds, or why it cannot be used."""
    full_decode = options.check_audio == "decode" or options.preprocessing.changes_duration
    try:
        if full_decode and utterance.segments:
            if options.preprocessing.trim_silence:
                return "trim_silence cannot be used on a long recording (it would shift every time against the reference)"
            # in blocks: an hour of audio is never in memory at once
            samples = sum(len(block) for block in iter_audio_blocks(utterance.audio, 30.0, Preprocessing(options.preprocessing.sample_rate)))
            return samples / options.preprocessing.sample_rate
        if full_decode:
            samples = load_audio(utterance.audio, options.preprocessing)
            return len(samples) / options.preprocessing.sample_rate
        return probe(utterance.audio).duration_s
    except AudioDecodeError as exc:
        # the same integrity check as transcription: a truncated clip is "truncated",
        # never "too short" for what was left of it
        return exc.reason


def _measure_range(shared, start: int, stop: int) -> list[float | str]:
    utterances, options = shared
    return [_measure(u, options) for u in utterances[start:stop]]


def _check_audio(
    source, candidates, options: LoadOptions, report, progress, audio_field: str, reference_field: str | None = None
) -> tuple[list[Utterance], list[str]]:
    """Measure each clip's duration and exclude missing, undecodable, too short or too long
    ones, and long recordings whose reference file runs past their end. Also returns the
    audio values (as written) of the files not found, for the hint."""
    if options.check_audio == "none":
        return [u for _, u in candidates], []

    utterances = [u for _, u in candidates]
    total = len(utterances)
    results: list[float | str] = []
    if total >= PARALLEL_MIN_CLIPS and can_fork():
        # Reading a header is ~0.05 ms of mostly Python (soundfile's wrapper): threads would
        # queue on the interpreter lock, forked processes (one per core) do not.
        ranges = chunk_ranges(total, 4 * usable_cpus(), max_size=2000)
        for part in fork_map(_measure_range, (utterances, options), ranges, usable_cpus()):
            results.extend(part)
            if progress is not None:
                progress(len(results), total)
    else:
        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            for done, result in enumerate(pool.map(lambda u: _measure(u, options), utterances), start=1):
                results.append(result)
                if progress is not None and (done % 50 == 0 or done == total):
                    progress(done, total)

    kept = []
    not_found = []
    for (number, utterance), result in zip(candidates, results, strict=True):
        if isinstance(result, str):
            if result == "file not found" and utterance.audio.path is not None:
                not_found.append(utterance.audio.label)
            report(Problem(source, number, f"{result}: {utterance.audio.describe()}", field=audio_field, utterance_id=utterance.id))
            continue
        if result < options.min_duration_s:
            report(Problem(source, number, f"audio too short ({result:.2f} s < {options.min_duration_s:g} s)", field=audio_field, utterance_id=utterance.id))
            continue
        limit = options.max_longform_duration_s if utterance.segments else options.max_duration_s
        if limit is not None and result > limit:
            hint = "" if utterance.segments else " (a long recording needs its reference as a file: a reference_file column)"
            report(Problem(source, number, f"audio too long ({result:.2f} s > {limit:g} s){hint}", field=audio_field, utterance_id=utterance.id))
            continue
        ends = [s.end for s in utterance.segments if s.end is not None]
        if ends and max(ends) > result + REFERENCE_END_SLACK_S:
            report(
                Problem(
                    source, number,
                    f"reference runs to {max(ends):.2f} s, past the end of the audio ({result:.2f} s): is it another recording's?",
                    field=reference_field, utterance_id=utterance.id,
                )
            )
            continue
        kept.append(
            Utterance(utterance.id, utterance.audio, utterance.reference, utterance.slices, round(result, 4), utterance.row, utterance.segments)
        )
    return kept, not_found
