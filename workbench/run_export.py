"""A stored run's references and hypotheses as files: JSONL, CSV and NIST SCTK's trn, stm, ctm.

`workbench export RUN --format F [-o PATH]` (and `workbench.api.export`):

- **jsonl**, **csv**: one row per utterance: `id`, `reference`, `hypothesis`, then every
  slice column. Either file is a hypotheses file again:
  `workbench score --data MANIFEST --hyp FILE` gives the run's scores back.
- **trn**: two files, `PATH.ref.trn` and `PATH.hyp.trn`, one `text (speaker-id)` line per
  utterance (the speaker prefix only where the run knows the speaker), for
  `sclite -r X.ref.trn trn -h X.hyp.trn trn -i spu_id`.
- **stm**: the references, one segment per clip (the file is the utterance id, from 0 to
  the clip's duration), a long recording's timed reference segments, or the segments an stm
  import gave; the slices as labels, with `;; CATEGORY` / `;; LABEL` lines naming them, so
  `workbench score --data X.stm` reads the slices back.
- **ctm**: the hypotheses' words with their times and confidences (Whisper's word
  probability), where the run has word times: long recordings decoded with word
  confidence, and ctm imports. Whisper decodes clips (up to 30 s) without timestamps, so a
  clip run has no word times; the export says so and points to trn. Pair it with the stm
  export: `sclite -r X.stm stm -h X.ctm ctm`.

Which utterances: those the run scored or measured, i.e. speech utterances with a
hypothesis and no-speech clips. Failed decodes and missing hypotheses are left out of every
file and counted (`ExportResult.skipped`): written as empty lines they would be scored as
every word deleted, which the workbench never does.

Texts are written as stored, so an export read back gives identical scores.
`normalized=True` writes both sides through the run's normalizer instead, so that sclite,
which only folds case, measures the workbench's normalized WER (sclite weighs
substitutions 4 and insertions and deletions 3 when it aligns, so an occasional tie may
be broken differently). Every file is written atomically (`workbench.atomic`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .atomic import check_writable, write_text_atomic
from .errors import BadInputError
from .runstore import DEFAULT_WORKSPACE, RunRecord, RunStore, StoredHypothesis
from .sctk_formats import CtmWord, StmCategory, StmLabel, StmSegment, format_ctm, format_stm, format_trn, speaker_prefixed_id
from .sctk_import import SCTK_COLUMNS, SLICE_BEGIN, SLICE_CHANNEL, SLICE_END, SLICE_FILE

__all__ = ["FORMATS", "ExportResult", "export_run", "default_path"]

FORMATS = ("jsonl", "csv", "trn", "stm", "ctm")
CHANNEL = "A"  # the channel of a clip or recording the workbench decoded (mono)
_RESERVED = ("id", "reference", "hypothesis")


@dataclass(frozen=True)
class ExportResult:
    run_id: str
    format: str  # one of FORMATS
    paths: tuple[str, ...]  # the files written (trn: references, then hypotheses)
    written: int  # utterances written
    skipped: tuple[tuple[str, str], ...]  # (utterance id, why it was left out)
    notes: tuple[str, ...] = ()  # what a reader of the files must know


def default_path(workspace: str, run_id: str, fmt: str) -> Path:
    return Path(workspace) / "exports" / f"{run_id}.{fmt}"


def _trn_paths(path: Path) -> tuple[Path, Path]:
    stem = path.with_suffix("") if path.suffix.lower() == ".trn" else path
    return stem.parent / f"{stem.name}.ref.trn", stem.parent / f"{stem.name}.hyp.trn"


def export_run(run: str, fmt: str, path: str | Path | None = None, workspace: str = DEFAULT_WORKSPACE,
               normalized: bool = False) -> ExportResult:
    """Write run `run` (an id, unique prefix or 'latest') in format `fmt` (see the module docstring)."""
    if fmt not in FORMATS:
        raise BadInputError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if normalized and fmt == "ctm":
        raise BadInputError("--normalized: a normalizer rewrites whole texts (\"twenty one\" -> \"21\"), which no longer "
                            "line up with timed words; normalize the ctm with sclite's own filters (csrfilt.sh) instead")
    with RunStore(workspace, read_only=True) as store:
        record = store.run(run)
        rows = store.hypotheses(record.id)
    if not rows:
        raise BadInputError(f"run {record.id} has no stored hypotheses to export")
    target = Path(path) if path else default_path(workspace, record.id, fmt)
    paths = _trn_paths(target) if fmt == "trn" else (target,)
    for p in paths:  # before anything is written: an unwritable second file must not leave the first alone
        check_writable(p)
    kept, skipped = _exported_rows(rows)
    if normalized:
        kept = _normalized(kept, record)
    writer = {"jsonl": _jsonl, "csv": _csv, "trn": _trn, "stm": _stm, "ctm": _ctm}[fmt]
    texts, written, more_skipped, notes = writer(kept, record)
    for p, text in zip(paths, texts):
        write_text_atomic(p, text)
    notes = tuple(notes) + ((f"texts written through normalizer {_normalizer_id(record)}",) if normalized else ())
    return ExportResult(record.id, fmt, tuple(str(p) for p in paths), written, tuple(skipped) + tuple(more_skipped), notes)


def _exported_rows(rows: list[StoredHypothesis]) -> tuple[list[StoredHypothesis], list[tuple[str, str]]]:
    from .runs import partition

    coverage = partition(rows)
    measured = {h.utterance_id for h in (*coverage.speech, *coverage.no_speech)}
    skipped = [(i, f"failed decode: {why}") for i, why in coverage.failed] + [(i, "no hypothesis") for i in coverage.missing]
    return [h for h in rows if h.utterance_id in measured], skipped


def _normalizer_id(record: RunRecord) -> str:
    from .normalizers import get_normalizer

    return get_normalizer(record.normalizer or (record.config or {}).get("normalizer") or "auto").id


def _normalized(rows: list[StoredHypothesis], record: RunRecord) -> list[StoredHypothesis]:
    from dataclasses import replace

    from .normalizers import get_normalizer

    normalizer = get_normalizer(_normalizer_id(record))
    return [replace(h, reference=normalizer(h.reference, h.language), hypothesis=normalizer(h.hypothesis, h.language)) for h in rows]


def _slices(h: StoredHypothesis) -> dict:
    return {k: v for k, v in h.slices.items() if k not in _RESERVED}


# --------------------------------------------------------------------------- jsonl, csv


def _jsonl(rows, record):
    lines = [json.dumps({"id": h.utterance_id, "reference": h.reference, "hypothesis": h.hypothesis, **_slices(h)},
                        ensure_ascii=False) for h in rows]
    return ["\n".join(lines) + "\n"], len(rows), [], []


def _csv(rows, record):
    columns: list[str] = []
    for h in rows:
        columns.extend(c for c in _slices(h) if c not in columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "reference", "hypothesis", *columns])
    for h in rows:
        writer.writerow([h.utterance_id, h.reference, h.hypothesis, *(h.slices.get(c, "") for c in columns)])
    return [out.getvalue()], len(rows), [], []


# --------------------------------------------------------------------------- trn

_NOT_IN_AN_ID = re.compile(r"[\s()]")


def _trn(rows, record):
    refs, hyps, skipped = [], [], []
    for h in rows:
        if _NOT_IN_AN_ID.search(h.utterance_id):
            skipped.append((h.utterance_id, "a trn utterance id cannot hold whitespace or parentheses"))
            continue
        key = speaker_prefixed_id(h.slices.get("speaker"), h.utterance_id)
        refs.append((key, h.reference))
        hyps.append((key, h.hypothesis))
    notes = ["ids are speaker-utterance where the speaker is known: score with sclite -i spu_id"] if any(
        h.slices.get("speaker") for h in rows) else []
    return [format_trn(refs), format_trn(hyps)], len(refs), skipped, notes


# --------------------------------------------------------------------------- stm


def _field(text: str, fallback: str) -> str:
    """A value for an stm/ctm field: no whitespace (sclite splits fields on it)."""
    return re.sub(r"\s+", "_", text.strip()) or fallback


def _label_id(column: str, value: str) -> str:
    return re.sub(r"[\s,<>\"]+", "_", f"{column}={value}")


def _stm_labels(rows) -> tuple[list[StmCategory], list[StmLabel], dict[tuple[str, str], str]]:
    """Categories (one per slice column, after Hub-4's overall category 0) and labels (one
    per value), and (column, value) -> label id."""
    columns: list[str] = []
    for h in rows:
        columns.extend(c for c in h.slices if c not in columns and c != "speaker" and c not in SCTK_COLUMNS)
    categories = [StmCategory(0, "", "")] + [StmCategory(i, column.replace('"', "'"), f"slice column {column}".replace('"', "'"))
                                              for i, column in enumerate(columns, start=1)]
    labels = [StmLabel("O", "Overall", "Overall")]
    ids: dict[tuple[str, str], str] = {}
    taken = {"o"}
    for column in columns:
        for value in dict.fromkeys(str(h.slices.get(column, "")) for h in rows):
            label_id = base = _label_id(column, value)
            n = 2
            while label_id.lower() in taken:  # sclite matches label ids without regard to case
                label_id, n = f"{base}#{n}", n + 1
            taken.add(label_id.lower())
            ids[(column, value)] = label_id
            labels.append(StmLabel(label_id, value.replace('"', "'"), f"{column} = {value}".replace('"', "'")))
    return categories, labels, ids


def _clip_end(h: StoredHypothesis) -> float | None:
    extra = h.extra or {}
    if extra.get("duration_s") is not None:
        return float(extra["duration_s"])
    ends = [float(a) + float(b) for a, b, *_ in extra.get("ctm_words") or ()]
    ends += [float(b) for _, b in extra.get("word_times") or ()]
    return max(ends) if ends else None


def _stm(rows, record):
    categories, labels, ids = _stm_labels(rows)
    columns = [c.heading for c in categories[1:]]
    segments, skipped = [], []
    for h in rows:
        tags = ("O", *(ids[(c, str(h.slices.get(c, "")))] for c in columns))
        speaker = _field(str(h.slices.get("speaker") or ""), "unknown")
        s = h.slices
        if SLICE_BEGIN in s and SLICE_END in s and SLICE_FILE in s:  # read from an stm: as it was
            segments.append(StmSegment(s[SLICE_FILE], s.get(SLICE_CHANNEL) or CHANNEL, speaker, float(s[SLICE_BEGIN]), float(s[SLICE_END]),
                                       tags, h.reference, len(segments), s[SLICE_BEGIN], s[SLICE_END]))
            continue
        if _NOT_IN_AN_ID.search(h.utterance_id):
            skipped.append((h.utterance_id, "an stm file name cannot hold whitespace or parentheses"))
            continue
        timed = (h.extra or {}).get("reference_segments")
        if timed:  # a long recording: its timed reference
            segments.extend(StmSegment(h.utterance_id, CHANNEL, speaker, float(a), float(b), tags, t, len(segments) + i)
                            for i, (a, b, t) in enumerate(timed))
            continue
        end = _clip_end(h)
        if end is None:
            skipped.append((h.utterance_id, "no duration stored (a run made before the workbench kept clip durations): "
                                            "an stm segment needs its end time; export trn instead"))
            continue
        segments.append(StmSegment(h.utterance_id, CHANNEL, speaker, 0.0, end, tags, h.reference, len(segments)))
    if not segments:
        raise BadInputError(f"run {record.id}: nothing to write as stm ({skipped[0][1] if skipped else 'no utterances'})")
    header = [f"references of run {record.id}, exported by whisper-workbench; labels are its slices",
              "score with: sclite -r THIS.stm stm -h HYPOTHESES.ctm ctm"]
    written = len(rows) - len(skipped)
    return [format_stm(segments, categories, labels, header)], written, skipped, []


# --------------------------------------------------------------------------- ctm


def _decoded_words(h: StoredHypothesis):
    """(word, start, end, probability) of a decoded hypothesis with word times, or the reason
    there are none."""
    extra = h.extra or {}
    words, times = extra.get("words"), extra.get("word_times")
    if not times or not words:
        return None, ("no word times stored: Whisper decodes clips of up to 30 s without timestamps; the workbench keeps "
                      "word times for long recordings decoded with word confidence and for ctm imports")
    if len(words) != len(times):
        return None, "its stored words and word times differ in number"
    if "".join(w for w, _ in words).split() != h.hypothesis.split():
        return None, "its stored word times belong to another text (a post-processing strategy rewrote the transcript)"
    return [(w.strip(), float(a), float(b), float(p)) for (w, p), (a, b) in zip(words, times) if w.strip()], None


def _ctm(rows, record):
    words: list[CtmWord] = []
    skipped: list[tuple[str, str]] = []
    written = 0
    for h in rows:
        s = h.slices
        file = s.get(SLICE_FILE) or h.utterance_id
        channel = s.get(SLICE_CHANNEL) or CHANNEL
        extra = h.extra or {}
        if extra.get("ctm_words") is not None:  # a ctm import: its words as they were
            found = [CtmWord(file, channel, float(a), float(d), str(w), None if c is None else float(c), len(words) + i)
                     for i, (a, d, w, c) in enumerate(extra["ctm_words"])]
        elif not h.hypothesis.strip():
            found = []  # nothing said: nothing to write
        else:
            decoded, why = _decoded_words(h)
            if decoded is None:
                skipped.append((h.utterance_id, why))
                continue
            found = [CtmWord(file, channel, a, max(0.0, b - a), w, p, len(words) + i) for i, (w, a, b, p) in enumerate(decoded)]
        if _NOT_IN_AN_ID.search(file):
            skipped.append((h.utterance_id, "a ctm file name cannot hold whitespace or parentheses"))
            continue
        words.extend(found)
        written += 1
    if not words:
        why = skipped[0][1] if skipped else "no hypothesis has words"
        raise BadInputError(f"run {record.id}: no ctm to write ({why}); export --format trn for sclite instead")
    header = [f"hypotheses of run {record.id}, exported by whisper-workbench; confidence: Whisper's word probability "
              "(an imported ctm's own where the run was scored from one)",
              "score with: sclite -r REFERENCES.stm stm -h THIS.ctm ctm"]
    return [format_ctm(words, header)], written, skipped, []
