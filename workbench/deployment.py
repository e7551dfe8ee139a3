"""Deployment parity: the forms a model ships in, each decoded and compared with the model as trained.

A model can change behaviour on its way out: a LoRA adapter merged into the weights, the
weights converted to CTranslate2, quantized to float16 or int8. Each of those shipped
forms is decoded as a run of its own (the one run path, `bench.run_bench`) on the same
clips with the same decoding options as the model as trained (transformers, float32 on
CPU), and compared with it utterance by utterance:

- the share of transcripts identical character for character, and after normalization;
- the paired change in WER (form minus trained model) with a 95% bootstrap interval,
  overall and per slice (`significance.paired_deltas`, the regression report's pairing).

`policy.parity_misses` turns a significant rise beyond `Targets.max_parity_wer_rise` into
a miss that refuses the rung; `workbench parity --forms` prints the same table.

The forms:

- `merged`: a LoRA output's merged transformers folder (`model/`), against the adapter
  applied unmerged on its base model (`adapter/`), which is the model as trained;
- `ct2-float16`: CTranslate2 with float16 weights. A GPU computes in float16; a CPU has no
  float16 arithmetic in CTranslate2, so there the float16-rounded weights are computed in
  float32, which is what a CPU user of that folder gets (the run records it);
- `ct2-int8`: CTranslate2 with int8 weights, computed in int8 (int8_float16 on a GPU).

The CTranslate2 folders are exported from the transformers folder with
`conversion.hf_dir_to_ct2`, each written to a temporary folder and renamed into place, with
a marker naming the source's fingerprint so an unchanged export is not converted again.
"""

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

from .escalation_config import SHIPPED_FORMS
from .errors import BadInputError
from .policy import OVERALL, SliceFigure

__all__ = [
    "FORMS",
    "ShippedForm",
    "FormParity",
    "Parity",
    "compute_type_for",
    "export_ct2_forms",
    "forms_of_training_output",
    "prepare_forms",
    "compare_runs",
    "run_forms_parity",
]

FORMS = ("merged", *SHIPPED_FORMS)
_QUANTIZATION = {"ct2-float16": "float16", "ct2-int8": "int8"}
EXPORT_MARKER = "workbench-export.json"  # source fingerprint and quantization of a CTranslate2 export


@dataclass(frozen=True)
class ShippedForm:
    """One form a model ships in, and how it is decoded."""

    name: str  # one of FORMS, or "trained" for the reference
    model: str  # the folder decoded
    backend: str  # "transformers" or "faster-whisper"
    compute_type: str | None = None  # CTranslate2 compute type; None: the backend's own (transformers: float32 on CPU)


def compute_type_for(form: str, device: str) -> str | None:
    """The compute type a shipped form is decoded with on `device`: float16 arithmetic only
    where CTranslate2 has it (a GPU); int8 weights with float16 activations on a GPU."""
    gpu = device.startswith("cuda")
    if form == "ct2-float16":
        return "float16" if gpu else "float32"
    if form == "ct2-int8":
        return "int8_float16" if gpu else "int8"
    return None


def export_ct2_forms(hf_dir, out_dir, forms: Sequence[str] = SHIPPED_FORMS, progress=None,
                     existing: dict | None = None) -> dict[str, str]:
    """Export `forms` (ct2-float16, ct2-int8) of the transformers folder `hf_dir` as
    `out_dir/<form>`; {form: folder}. An export whose marker names the same source and
    quantization is kept. `existing`: {form: folder} already converted with that
    quantization (training's `ct2/`), whose files are hard-linked instead of converted
    again (copied where links are impossible)."""
    from .conversion import hf_dir_to_ct2
    from .models import model_fingerprint

    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    unknown = [f for f in forms if f not in _QUANTIZATION]
    if unknown:
        raise BadInputError(f"forms: unknown CTranslate2 form {unknown[0]!r}; the forms are {', '.join(_QUANTIZATION)}")
    source = model_fingerprint(hf_dir)
    done = {}
    for form in forms:
        target = out_dir / form
        marker = {"source": str(hf_dir.resolve()), "source_sha256": source, "quantization": _QUANTIZATION[form]}
        if _read_marker(target) == marker and (target / "model.bin").is_file():
            done[form] = str(target)
            continue
        partial = out_dir / f"{form}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        if existing and form in existing:
            _link_tree(Path(existing[form]), partial)
        else:
            hf_dir_to_ct2(hf_dir, partial, quantization=_QUANTIZATION[form], progress=progress)
        (partial / EXPORT_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)  # never a half-written export
        done[form] = str(target)
    return done


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / EXPORT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _link_tree(source: Path, dest: Path) -> None:
    """The files of `source` in `dest`: hard links (no second copy of the weights on disk),
    copies across file systems. Only what CTranslate2 reads: no card, no marker."""
    dest.mkdir(parents=True)
    for path in source.iterdir():
        if not path.is_file() or path.name in ("README.md", EXPORT_MARKER):
            continue
        try:
            os.link(path, dest / path.name)
        except OSError:
            shutil.copy2(path, dest / path.name)


def forms_of_training_output(folder) -> tuple[ShippedForm, tuple[ShippedForm, ...]]:
    """(the model as trained, its shipped forms) of a training output folder, from its
    training record: a LoRA output's reference is its adapter, unmerged, and its merged
    folder is the first form; a full fine-tune's reference is its transformers folder.
    Compute types are filled in by `run_forms_parity` for the device decoded on."""
    from .training_record import read_record

    folder = Path(folder)
    record = read_record(folder)
    if record is None or record.get("method") not in ("lora", "full"):
        raise BadInputError(f"{folder}: not a training output (no training-record.json naming lora or full)")
    model_dir = str(folder / "model")
    forms: list[ShippedForm] = []
    adapter = folder / "adapter"
    if record["method"] == "lora" and (adapter / "adapter_config.json").is_file():
        reference = ShippedForm("trained", str(adapter), "transformers")
        forms.append(ShippedForm("merged", model_dir, "transformers"))
    else:
        reference = ShippedForm("trained", model_dir, "transformers")
    for name, path in (record.get("forms") or {}).items():
        # Recorded absolute; a training output moved as a whole still finds them by name.
        here = folder / Path(path).name
        forms.append(ShippedForm(name, str(here if here.is_dir() else path), "faster-whisper"))
    return reference, tuple(forms)


def prepare_forms(model: str, names: Sequence[str] = (), export_dir: str | None = None, workspace: str = ".workbench",
                  progress=None) -> tuple[ShippedForm, tuple[ShippedForm, ...]]:
    """(the model as trained, the forms named) for `workbench parity --forms`.

    A training output folder (its training-record.json) brings its own exports; any other
    model (a bundled name, a transformers or CTranslate2 folder, a hub id) is the model as
    trained in its transformers form, and the CTranslate2 forms are exported from it into
    `export_dir` (default `<workspace>/exports/<model>`). No names: every form there is."""
    import hashlib

    from .models import resolve_model

    unknown = [n for n in names if n not in FORMS]
    if unknown:
        raise BadInputError(f"--forms: unknown form {unknown[0]!r}; the forms are {', '.join(FORMS)}")
    folder = Path(model).expanduser()
    if folder.is_dir() and (folder / "training-record.json").is_file():
        reference, forms = forms_of_training_output(folder)
        missing = [n for n in names if n not in {f.name for f in forms}]
        if missing:
            raise BadInputError(f"--forms: {model} has no {missing[0]!r} form (it has {', '.join(f.name for f in forms)})")
        return reference, tuple(f for f in forms if not names or f.name in names)
    if "merged" in names:
        raise BadInputError(f"--forms: merged is the form of a LoRA training output; {model} is not one")
    hf_dir = resolve_model(model, "transformers", progress).hf_dir
    if export_dir is None:
        key = model if not folder.exists() else f"{folder.name}-{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]}"
        export_dir = str(Path(workspace) / "exports" / key.replace("/", "--"))
    exported = export_ct2_forms(hf_dir, export_dir, tuple(names) or SHIPPED_FORMS, progress)
    return ShippedForm("trained", model, "transformers"), tuple(ShippedForm(n, p, "faster-whisper") for n, p in exported.items())


@dataclass(frozen=True)
class FormParity:
    """One shipped form against the model as trained, on the clips both decoded."""

    form: str  # "merged", "ct2-float16", "ct2-int8"
    model: str  # the folder decoded
    backend: str
    compute_type: str | None  # as the backend applied it (the run's record)
    run_id: str
    utterances: int  # scored speech clips both runs have (the paired set)
    transcripts: int  # decoded clips both runs have, no-speech clips included
    identical: int  # of `transcripts`: the same text, character for character (outer spaces aside)
    identical_normalized: int  # of `transcripts`: the same after the run's normalizer
    slices: tuple[SliceFigure, ...]  # WER %, the trained model's as baseline_wer, the paired 95% interval of the change

    @property
    def overall(self) -> SliceFigure:
        return next(s for s in self.slices if s.key == OVERALL)

    @property
    def identical_share(self) -> float | None:
        return self.identical / self.transcripts if self.transcripts else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["identical_share"] = self.identical_share
        return data


@dataclass(frozen=True)
class Parity:
    reference: ShippedForm  # the model as trained
    reference_run: str
    reference_compute_type: str | None  # as applied
    forms: tuple[FormParity, ...]

    def figures(self) -> dict[str, tuple[SliceFigure, ...]]:
        """{form: its slices}: what `policy.parity_misses` judges."""
        return {f.form: f.slices for f in self.forms}

    def to_dict(self) -> dict:
        return {"reference": asdict(self.reference), "reference_run": self.reference_run,
                "reference_compute_type": self.reference_compute_type, "forms": [f.to_dict() for f in self.forms]}


def run_forms_parity(bench, reference: ShippedForm, forms: Sequence[ShippedForm], progress=None, cancel=None) -> Parity:
    """Decode the reference and every form through `bench.run_bench` (same data, clips and
    decoding options as `bench`; plain decoding, no strategy) and compare each with the
    reference."""
    from .bench import run_bench

    def decode(form: ShippedForm):
        compute = form.compute_type or compute_type_for(form.name, bench.decoding.device) or bench.decoding.compute_type
        request = replace(bench, model=form.model, backend=form.backend, strategy="baseline", lexicon=None, strategy_options=(),
                          rung=None, decoding=replace(bench.decoding, compute_type=compute))
        return run_bench(request, progress, cancel)

    base = decode(reference)
    results = [(form, decode(form)) for form in forms]
    return Parity(reference, base.run_id, _applied_compute(bench.workspace, base.run_id),
                  tuple(compare_runs(bench.workspace, base, form, result) for form, result in results))


def _applied_compute(workspace: str, run_id: str) -> str | None:
    from .runstore import RunStore

    with RunStore(workspace) as store:
        return ((store.run(run_id).config or {}).get("decoding") or {}).get("compute_type")


def compare_runs(workspace: str, reference, form: ShippedForm, result) -> FormParity:
    """One form's run against the reference's: identical transcripts and the paired WER
    change per slice, on the utterances both scored."""
    from .normalizers import get_normalizer
    from .runstore import RunStore
    from .significance import paired_deltas

    options = reference.evaluation.options
    ref_scores = {s.id: s for s in reference.evaluation.per_utterance}
    form_scores = {s.id: s for s in result.evaluation.per_utterance}
    common = [i for i in ref_scores if i in form_scores]
    a, b = [ref_scores[i] for i in common], [form_scores[i] for i in common]
    items = {u.id: u.slices for u in reference.data.utterances}
    columns = options.slice_columns
    deltas = {(d.column, d.value): d for d in paired_deltas(a, b, items, columns, options.bootstrap)}
    figures = []
    for (column, value), d in deltas.items():
        ids = [i for i in common if column == "overall" or items.get(i, {}).get(column) == value]
        ref_wer, form_wer = _wer(ref_scores, ids), _wer(form_scores, ids)
        if ref_wer is None or form_wer is None:
            continue
        interval = d.interval
        figures.append(SliceFigure(OVERALL if column == "overall" else f"{column}={value}", len(ids), form_wer, ref_wer,
                                   100.0 * interval.low if interval else None, 100.0 * interval.high if interval else None))
    normalize = get_normalizer(options.normalizer)
    with RunStore(workspace) as store:
        x = {h.id: h for h in store.hypotheses(reference.run_id) if not (h.extra or {}).get("error")}
        y = {h.id: h for h in store.hypotheses(result.run_id) if not (h.extra or {}).get("error")}
        applied = ((store.run(result.run_id).config or {}).get("decoding") or {}).get("compute_type")
    both = [i for i in x if i in y]
    same = sum(1 for i in both if x[i].hypothesis.strip() == y[i].hypothesis.strip())
    same_normalized = sum(1 for i in both if normalize(x[i].hypothesis, x[i].language) == normalize(y[i].hypothesis, x[i].language))
    return FormParity(form.name, form.model, form.backend, applied, result.run_id, len(common), len(both), same,
                      same_normalized, tuple(figures))


def _wer(scores: dict, ids: Sequence[str]) -> float | None:
    words = sum(scores[i].ref_words for i in ids)
    return 100.0 * sum(scores[i].errors for i in ids) / words if words else None
