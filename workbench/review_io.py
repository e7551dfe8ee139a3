"""The review queue out to reviewers, and their corrections back in as a stored run.

Out (`export_queue`, written atomically): one record per utterance in queue order,
- `jsonl`: one object a line: rank, utterance_id, audio (as written in the manifest),
  duration_s, hypothesis, confidence, low_confidence_words, the slice columns, and `text`
  (the hypothesis, for the reviewer to correct);
- `csv`: the same columns, low-confidence words as "word (0.31)" joined by "; ";
- `labelstudio`: a Label Studio task list (JSON) whose tasks carry the hypothesis as a
  prediction of a `transcription` text area over an `audio` player (`LABEL_STUDIO_CONFIG`).
The reference is never exported: the reviewer must not see the answer.

In (`load_corrections`, then `import_corrections`): a JSONL or CSV file of
{utterance_id, text} (other columns ignored), or a Label Studio JSON export. Everything is
checked before anything is stored: unknown ids, ids of clips that failed to decode, empty
text, duplicate ids, rows that do not parse and files that are not UTF-8 are each a
one-line error naming the file and the row, and nothing is stored. A valid file becomes a
NEW run derived from the reviewed one (`workbench.runs.derive_run`: nothing is decoded),
where each reviewed utterance's text is the reviewer's and its `extra["replacements"]`
holds one record with `"reviewed": true` (and whether the text changed), as do those reviewed
in an earlier import when RUN itself came from one; it is scored by the one path like any
other run, and a new queue of it puts the reviewed utterances last. `to_manifest` also writes the reviewed utterances as a
manifest CSV (id, audio, text, slice columns, `source`), for training data.
"""

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .atomic import check_writable, write_text_atomic
from .dataset import CONTROL_COLUMNS
from .errors import BadInputError
from .review import QueueItem, decoded_run, is_reviewed, manifest_audio
from .runstore import RunStore
from .tabular import PROBLEM, read_table, read_text

__all__ = [
    "FORMATS",
    "LABEL_STUDIO_CONFIG",
    "export_queue",
    "Correction",
    "load_corrections",
    "ImportResult",
    "import_corrections",
    "reviewed_ids",
    "write_training_manifest",
]

FORMATS = ("jsonl", "csv", "labelstudio")
ID_COLUMNS = ("utterance_id", "id", "utterance")
TEXT_COLUMNS = ("text", "corrected", "correction", "transcription")

LABEL_STUDIO_CONFIG = """<View>
  <Audio name="audio" value="$audio" zoom="true" hotkey="ctrl+enter"/>
  <Header value="Model hypothesis (confidence $confidence): $hypothesis"/>
  <Header value="Low-confidence words: $low_confidence_words"/>
  <TextArea name="transcription" toName="audio" editable="true" maxSubmissions="1" rows="3"/>
</View>
"""


def _format_of(path: str | Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise BadInputError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".json": "labelstudio"}.get(suffix, "jsonl")


def _words(item: QueueItem) -> str:
    return "; ".join(f"{w} ({p:.2f})" for _, w, p in item.low_confidence_words)


def export_queue(items: Sequence[QueueItem], path: str | Path, fmt: str | None = None,
                 slice_columns: Sequence[str] = (), run_id: str | None = None) -> Path:
    """Write `items` (queue order) to `path` atomically; the format from `fmt` or the suffix
    (.csv, .json = Label Studio, else JSONL). Returns the path written."""
    fmt = _format_of(path, fmt)
    columns = [c for c in (slice_columns or sorted({c for i in items for c in i.slices})) if c not in CONTROL_COLUMNS]
    if fmt == "jsonl":
        lines = [json.dumps({**i.to_dict(columns), "text": i.hypothesis}, ensure_ascii=False) for i in items]
        return write_text_atomic(path, "".join(line + "\n" for line in lines))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        head = ["rank", "utterance_id", "audio", "duration_s", "confidence", "hypothesis", "text", "low_confidence_words"]
        writer.writerow(head + [c for c in columns if c not in head])
        for i in items:
            writer.writerow([i.rank, i.utterance_id, i.audio or "", "" if i.duration_s is None else i.duration_s,
                             f"{i.confidence:.6f}", i.hypothesis, i.hypothesis, _words(i)]
                            + [i.slices.get(c, "") for c in columns if c not in head])
        return write_text_atomic(path, buffer.getvalue())
    tasks = []
    for i in items:
        data = {**{c: i.slices.get(c, "") for c in columns}, "audio": i.audio_path or i.audio or "",
                "audio_as_written": i.audio or "", "utterance_id": i.utterance_id, "hypothesis": i.hypothesis,
                "confidence": round(i.confidence, 4), "rank": i.rank, "low_confidence_words": _words(i) or "none"}
        result = [{"from_name": "transcription", "to_name": "audio", "type": "textarea", "value": {"text": [i.hypothesis]}}]
        tasks.append({"id": i.rank, "data": data,
                      "predictions": [{"model_version": run_id or "workbench", "score": round(i.confidence, 4), "result": result}]})
    return write_text_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")


# ----------------------------------------------------------------------------- corrections in


@dataclass(frozen=True)
class Correction:
    utterance_id: str
    text: str
    row: int  # line (JSONL/CSV) or task number (Label Studio) in the file


def _pick(header: Sequence[str], names: Sequence[str]) -> str | None:
    lowered = {h.lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def _label_studio_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    """(task number, {utterance_id, text}) of a Label Studio JSON export: each task's newest
    annotation that was not cancelled; a task nobody annotated is left out (not reviewed)."""
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(tasks, list):
        raise BadInputError(f"{path}: expected a Label Studio export (a JSON list of tasks), got {type(tasks).__name__}")
    rows = []
    for number, task in enumerate(tasks, start=1):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            rows.append((number, {PROBLEM: "task without a data object"}))
            continue
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
        if not annotations:
            continue
        texts = [" ".join(str(t) for t in (r.get("value") or {}).get("text") or [])
                 for r in annotations[-1].get("result") or [] if isinstance(r, dict) and r.get("type") == "textarea"]
        rows.append((number, {"utterance_id": data.get("utterance_id", ""), "text": " ".join(texts)}))
    return rows


def load_corrections(path: str | Path, known: Mapping[str, str | None], run_id: str = "the run") -> tuple[Correction, ...]:
    """Every correction of the file, or a one-line BadInputError naming the file and the first
    bad row (and how many more there are). `known`: each utterance id of the run -> None, or
    why it cannot be corrected (e.g. its audio failed to decode)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such corrections file")
    text = read_text(path)  # one-line errors for UTF-16/32 and bytes that are not UTF-8
    label = "task" if text.lstrip().startswith("[") else "line"
    if label == "task":
        rows, id_col, text_col = _label_studio_rows(path, text), "utterance_id", "text"
    else:
        table = read_table(path)
        rows = table.rows
        id_col, text_col = _pick(table.header, ID_COLUMNS), _pick(table.header, TEXT_COLUMNS)
        if rows and (id_col is None or text_col is None):
            missing = "utterance_id" if id_col is None else "text"
            raise BadInputError(f"{path}: no {missing} column (expected one of: "
                                f"{', '.join(ID_COLUMNS if id_col is None else TEXT_COLUMNS)}; found: {', '.join(table.header)})")
    problems: list[str] = []
    seen: dict[str, int] = {}
    out = []
    for number, row in rows:
        where = f"{path}:{number}" if label == "line" else f"{path}: task {number}"
        if PROBLEM in row:
            problems.append(f"{where}: {row[PROBLEM]}")
            continue
        utt_id, value = row.get(id_col, ""), row.get(text_col, "")
        if not isinstance(utt_id, str) or not isinstance(value, str):
            problems.append(f"{where}: utterance_id and text must be strings, got {utt_id!r} and {value!r}")
            continue
        utt_id = utt_id.strip()
        if not utt_id:
            problems.append(f"{where}: empty utterance_id")
        elif utt_id not in known:
            problems.append(f"{where}: utterance_id {utt_id!r} is not in run {run_id}")
        elif known[utt_id]:
            problems.append(f"{where}: utterance_id {utt_id!r} cannot be corrected: {known[utt_id]}")
        elif utt_id in seen:
            problems.append(f"{where}: duplicate utterance_id {utt_id!r} (first at {label} {seen[utt_id]})")
        elif not value.strip():
            problems.append(f"{where}: empty text for {utt_id!r} (leave out the utterances you did not review)")
        else:
            seen[utt_id] = number
            out.append(Correction(utt_id, " ".join(value.split()), number))
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise BadInputError(f"{problems[0]}{more}; nothing was imported")
    if not out:
        raise BadInputError(f"{path}: no corrections in the file; nothing was imported")
    return tuple(out)


class _ReviewStep:
    """A post-processing step for `derive_run`: the reviewer's text for reviewed utterances.

    `derive_run` hands a step only (text, language), in the base run's stored order, skipping
    clips that failed to decode or have no hypothesis; the step walks the same rows in the
    same order and checks each text against the row it expects, so a correction can never
    land on another utterance."""

    def __init__(self, base_rows, corrections: Mapping[str, str]):
        self.rows = [h for h in base_rows if "error" not in (h.extra or {}) and not (h.extra or {}).get("missing")]
        self.corrections = corrections
        self.position = 0

    def postprocess(self, text: str, language: str | None) -> tuple[str, list[dict]]:
        row = self.rows[self.position]
        self.position += 1
        if row.hypothesis != text:
            raise RuntimeError(f"review import: expected the stored text of {row.utterance_id!r}, got another; nothing applied")
        corrected = self.corrections.get(row.utterance_id)
        if corrected is None:
            # reviewed in an earlier import (this run derives from that one): still reviewed
            return text, [r for r in (row.extra or {}).get("replacements") or () if isinstance(r, dict) and r.get("reviewed")]
        return corrected, [{"reviewed": True, "changed": corrected != text, "original": text, "replacement": corrected,
                            "source": "human review"}]


def reviewed_ids(rows) -> set[str]:
    """The utterances of a stored run that a person reviewed (`import_corrections`)."""
    return {h.utterance_id for h in rows if is_reviewed(h.extra)}


@dataclass(frozen=True)
class ImportResult:
    run_id: str  # the new, scored run
    base_run: str
    reviewed: int
    changed: int  # reviewed utterances whose text the reviewer changed
    wer_before: float | None  # percent, the base run's stored WER
    wer_after: float | None
    manifest: str | None  # the training manifest written, if any
    base_part: str | None  # "heldout", "train"... of the reviewed run


def _audio_for_manifest(store: RunStore, record, ids: Sequence[str]) -> dict:
    audio, notes = manifest_audio(decoded_run(store, record).config or {}, ids)
    lacking = [i for i in ids if i not in audio or not audio[i].path]
    if lacking:
        why = f" ({notes[0]})" if notes else ""
        raise BadInputError(f"--to-manifest: no audio path for {len(lacking)} corrected utterances (e.g. {lacking[0]!r}){why}; "
                            "nothing was imported")
    return audio


def write_training_manifest(path: str | Path, rows, corrections: Sequence[Correction], audio: Mapping, source: str) -> Path:
    """The reviewed utterances as a manifest CSV the workbench loads (id, audio as an absolute
    path, the reviewer's text, the slice columns), each marked with `source`."""
    by_id = {h.utterance_id: h for h in rows}
    columns: list[str] = []
    for c in corrections:
        columns.extend(k for k in by_id[c.utterance_id].slices if k not in columns and k not in CONTROL_COLUMNS)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "audio", "text", *columns, "source"])
    for c in corrections:
        writer.writerow([c.utterance_id, audio[c.utterance_id].path, c.text,
                         *[by_id[c.utterance_id].slices.get(k, "") for k in columns], source])
    return write_text_atomic(path, buffer.getvalue())


def import_corrections(workspace: str, run: str, path: str | Path, to_manifest: str | Path | None = None,
                       progress=None) -> ImportResult:
    """Corrections of `run` from `path` -> a new stored run derived from it, scored by the one
    path; with `to_manifest`, the reviewed utterances also as a training manifest. All or
    nothing: every check runs before anything is stored or written."""
    from .bootstrap import BootstrapOptions
    from .evaluation import EvaluationOptions
    from .runs import derive_run

    if to_manifest:
        check_writable(to_manifest)
    with RunStore(workspace) as store:
        base = store.run(run)
        if base.status != "succeeded":
            raise BadInputError(f"run {base.id} is {base.effective_status}: corrections apply to a finished run")
        rows = store.hypotheses(base.id)
        known = {}
        for h in rows:
            extra = h.extra or {}
            known[h.utterance_id] = ("its audio failed to decode" if "error" in extra
                                     else "it has no hypothesis in the run" if extra.get("missing") else None)
        corrections = load_corrections(path, known, base.id)
        audio = _audio_for_manifest(store, base, [c.utterance_id for c in corrections]) if to_manifest else None
        config = base.config or {}
        options = EvaluationOptions(base.normalizer or "auto", tuple(config.get("slice_columns", ())),
                                    BootstrapOptions(**config.get("bootstrap", {})))
        by_id = {c.utterance_id: c.text for c in corrections}
        digest = "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
        step_config = {"review": {"corrections": str(Path(path).resolve()), "sha256": digest, "reviewed": len(corrections)}}
        derived = derive_run(store, base.id, "review", [_ReviewStep(rows, by_id)], step_config, None, None, options,
                             progress=progress)
        part = config.get("part")
    stored = {h.utterance_id: h.hypothesis for h in rows}
    changed = sum(1 for c in corrections if c.text != stored[c.utterance_id])
    written = None
    if to_manifest:
        written = str(write_training_manifest(to_manifest, rows, corrections, audio, f"review of run {base.id}"))
    after = derived.scores.evaluation.normalized.overall.wer
    before = (base.summary or {}).get("wer")
    return ImportResult(derived.run_id, base.id, len(corrections), changed,
                        None if before is None else 100.0 * before, None if after is None else 100.0 * after, written, part)
