"""The Hugging Face model card written beside every trained model (README.md).

Training writes one in every exported folder (`model/`, `ct2/`, each shipped CTranslate2
form, `adapter/`) with what it knows: the start model, the training config, the training
record (how many utterances it trained and validated on, the held-out split's id, and the
leakage check), the workbench version and commit. The escalation rewrites them once the
rung is judged, adding what it measured:

- the held-out WER and CER of every slice with their 95% bootstrap intervals, read from
  the stored scorecard of the rung's run, and the paired change against the baseline;
- the forgetting guard's figures and findings;
- deployment parity: each shipped form against the model as trained;
- the ladder's decision.

The YAML front matter is what the Hub reads: `base_model`, `datasets`, `language`,
`library_name`, `pipeline_tag`, `tags`, and a `model-index` with one result per held-out
slice (the slice is the dataset `config`, the split `heldout`; the interval is in the
metric's name, since model-index has no field for one). Every figure, intervals included,
is also under the `workbench` key as numbers. Built with huggingface_hub's `ModelCard`,
`ModelCardData` and `EvalResult`; written atomically.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .atomic import write_text_atomic
from .policy import OVERALL, SliceFigure

__all__ = ["CARD_FILE", "CardEvaluation", "write_model_cards", "model_card_text", "card_metadata", "base_model_id",
           "evaluation_from_outcome"]

CARD_FILE = "README.md"
_DEMO_ID = "whisper-workbench-demo"
_METHOD = {"lora": "LoRA", "full": "full fine-tuning"}


@dataclass(frozen=True)
class CardEvaluation:
    """What the escalation measured of a trained model, for its card."""

    workspace: str  # the run store holding the runs below
    run_id: str  # the rung's held-out run (the CTranslate2 export as the ladder scores it)
    slices: tuple[SliceFigure, ...] = ()  # the rung's figures against the baseline (policy terms)
    baseline_run: str | None = None
    guard: tuple[str, ...] = ()  # the forgetting guard's findings, described; () when it passed
    guard_figures: dict | None = None  # {"trained": GuardFigures as a dict, "baseline": ...}
    parity: dict | None = None  # deployment.Parity.to_dict(), None when parity was not checked
    parity_findings: tuple[str, ...] = ()  # the forms refused (policy.parity_misses), described
    decision: str | None = None  # the ladder's decision on the rung, explained
    retention_run: str | None = None


def base_model_id(model: str | None) -> str | None:
    """The Hub id of a start model: a bundled name is OpenAI's checkpoint, a hub id is
    itself, a local folder or file has none."""
    from .models import known_models

    if not model:
        return None
    if model in known_models():
        return f"openai/whisper-{model}"
    if Path(model).expanduser().exists() or model.startswith(("/", ".", "~")):
        return None
    return model if "/" in model else f"openai/whisper-{model}"


def write_model_cards(output_dir, evaluation: CardEvaluation | None = None) -> tuple[str, ...]:
    """README.md in every exported folder of a training output (model/, ct2/, the shipped
    forms, adapter/); returns the paths written."""
    from .training_record import read_record

    out = Path(output_dir)
    record = read_record(out) or {}
    result = _read_json(out / "result.json") or {}
    facts = _facts(out, record, result, evaluation)
    folders = [(out / "model", "transformers", None)]
    folders += [(out / "ct2", "ctranslate2", _quantization(out / "ct2"))]
    for form, path in (record.get("forms") or {}).items():
        folder = out / Path(path).name
        folders.append((folder, "ctranslate2", form.removeprefix("ct2-")))
    if (out / "adapter" / "adapter_config.json").is_file():
        folders.append((out / "adapter", "peft", None))
    written = []
    for folder, library, quantization in folders:
        if folder.is_dir():
            path = folder / CARD_FILE
            write_text_atomic(path, model_card_text(facts, library, quantization))
            written.append(str(path))
    return tuple(written)


def card_metadata(path) -> dict:
    """The YAML front matter of a card, parsed (`yaml.safe_load`); {} when it has none."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---\n", 4)
    return yaml.safe_load(text[4:end]) or {} if end > 0 else {}


# --------------------------------------------------------------------------- facts


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _quantization(ct2_dir: Path) -> str | None:
    from .conversion import read_ct2_model

    try:
        model = read_ct2_model(ct2_dir / "model.bin", header_only=True)
    except Exception:  # noqa: BLE001 - the card says "unknown" rather than failing the export
        return None
    kinds = {str(v.dtype) for name, v in model.variables.items() if name.endswith("/weight") and getattr(v, "ndim", 0) == 2}
    return "int8" if "int8" in kinds else ("float16" if "float16" in kinds else ("float32" if kinds else None))


def _round(value, digits: int = 2):
    return None if value is None else round(float(value), digits)


def _facts(out: Path, record: dict, result: dict, evaluation: CardEvaluation | None) -> dict:
    """Everything the card states, as plain data: the `workbench` metadata block."""
    from . import __version__
    from .environment import git_commit

    options = record.get("options") or {}
    facts = {
        "version": __version__,
        "commit": git_commit(),
        "method": record.get("method") or result.get("method"),
        "start_model": record.get("start_model"),
        "languages": list(record.get("languages") or ()),
        "training": {
            "steps": result.get("steps", record.get("steps")),
            "epochs": _round(result.get("epochs")),
            "device": result.get("device"),
            "precision": result.get("precision"),
            "best_validation_wer": _round(result.get("best_validation_wer")),
            "best_step": record.get("best_step"),
            "trainable_parameters": result.get("trainable_parameters"),
            "total_parameters": result.get("total_parameters"),
            "wall_s": _round(result.get("wall_s"), 1),
            "options": options,
        },
        "training_record": {
            "train_utterances": len(record.get("train_ids") or ()),
            "validation_utterances": len(record.get("validation_ids") or ()),
            "heldout_id": record.get("heldout_id"),
            "heldout_size": record.get("heldout_size"),
            "heldout_overlap": record.get("heldout_overlap"),
            "leakage_check": _leakage(record),
            "file": "training-record.json",
        },
        "evaluation": None,
    }
    if evaluation is not None:
        facts["evaluation"] = _evaluation_facts(evaluation)
        facts["languages"] = facts["languages"] or facts["evaluation"]["languages"]
        if facts["evaluation"]["commit"]:
            facts["commit"] = facts["commit"] or facts["evaluation"]["commit"]
    # Plain JSON types only (tuples become lists): the card's YAML must load with safe_load.
    return json.loads(json.dumps(facts, default=str))


def _leakage(record: dict) -> str:
    overlap = record.get("heldout_overlap")
    if overlap is None or not record.get("heldout_id"):
        return "not checked: no held-out part was named when training"
    if overlap == 0:
        return "passed: no utterance trained or validated on is in the held-out part (checked by id)"
    return f"FAILED: {overlap} utterances trained or validated on are in the held-out part"


def _evaluation_facts(e: CardEvaluation) -> dict:
    from .bench import demo_manifest
    from .runstore import RunStore
    from .scoring import scorecard_from_dict

    with RunStore(e.workspace) as store:
        run = store.run(e.run_id)
        stored = store.scores(run.id)
        card = scorecard_from_dict(stored[run.normalizer])
    config = run.config or {}
    data = config.get("test") or config.get("data")
    hub = bool(data) and str(data).startswith("hf:")
    synthetic = bool(data) and not hub and Path(data).resolve() == Path(demo_manifest()).resolve()
    if synthetic:
        dataset = {"id": _DEMO_ID, "name": "whisper-workbench demo corpus (synthetic text-to-speech)"}
    elif hub:
        dataset = {"id": str(data)[3:], "name": str(data)[3:]}
    elif data:
        dataset = {"id": Path(data).stem if Path(data).suffix else Path(data).name, "name": Path(data).name}
    else:
        dataset = {"id": "unnamed", "name": "unnamed data"}
    by_key = {f.key: f for f in e.slices}
    slices = []
    for s in (card.overall, *card.slices):
        if s.wer is None:
            continue
        key = OVERALL if s.column == "overall" else f"{s.column}={s.value}"
        f = by_key.get(key)
        slices.append({
            "slice": key,
            "utterances": s.utterances,
            "wer": _round(100 * s.wer),
            "wer_low": _round(100 * s.wer_ci.low) if s.wer_ci else None,
            "wer_high": _round(100 * s.wer_ci.high) if s.wer_ci else None,
            "cer": _round(100 * s.cer) if s.cer is not None else None,
            "baseline_wer": _round(f.baseline_wer) if f else None,
            "change": _round(f.rise) if f else None,
            "change_low": _round(f.change_low) if f else None,
            "change_high": _round(f.change_high) if f else None,
        })
    parity = None
    if e.parity is not None:
        parity = {
            "reference": e.parity["reference"]["model"],
            "reference_backend": e.parity["reference"]["backend"],
            "reference_compute_type": e.parity.get("reference_compute_type"),
            "reference_run": e.parity["reference_run"],
            "forms": [_parity_form(f) for f in e.parity["forms"]],
            "passed": not e.parity_findings,
            "findings": list(e.parity_findings),
        }
    return {
        "run": run.id,
        "baseline_run": e.baseline_run,
        "retention_run": e.retention_run,
        "commit": run.git_commit,
        "dataset": dataset,
        "data": data,
        "synthetic_data": synthetic,
        "split": "heldout",
        "heldout_id": run.heldout_id,
        "normalizer": card.normalizer,
        "confidence": card.bootstrap.confidence if card.bootstrap.resamples else None,
        "languages": sorted({s.value for s in card.slices if s.column == "language"}),
        "slices": slices,
        "forgetting_guard": {"passed": not e.guard, "findings": list(e.guard), "figures": e.guard_figures},
        "deployment_parity": parity,
        "decision": e.decision,
    }


def _parity_form(f: dict) -> dict:
    overall = next((s for s in f["slices"] if s["key"] == OVERALL), None) or {}
    change = None if overall.get("baseline_wer") is None else overall["wer"] - overall["baseline_wer"]
    return {
        "form": f["form"], "backend": f["backend"], "compute_type": f["compute_type"], "run": f["run_id"],
        "utterances": f["utterances"], "transcripts": f["transcripts"], "identical": f["identical"],
        "identical_normalized": f["identical_normalized"], "identical_share": _round(f["identical_share"], 4),
        "wer": _round(overall.get("wer")), "trained_wer": _round(overall.get("baseline_wer")), "change": _round(change),
        "change_low": _round(overall.get("change_low")), "change_high": _round(overall.get("change_high")),
    }


# --------------------------------------------------------------------------- the card


def model_card_text(facts: dict, library: str, quantization: str | None = None) -> str:
    """The card (front matter + Markdown) for one exported folder: `library` is
    transformers, ctranslate2 or peft."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    method = facts["method"] or "fine-tuned"
    start = facts["start_model"] or "whisper"
    name = f"{Path(str(start)).name}-{method}" + (f"-ct2-{quantization}" if library == "ctranslate2" and quantization else "")
    evaluation = facts["evaluation"]
    results = []
    datasets = None
    if evaluation:
        dataset = evaluation["dataset"]
        datasets = [dataset["id"]]
        for s in evaluation["slices"]:
            common = dict(task_type="automatic-speech-recognition", task_name="Speech recognition", dataset_type=dataset["id"],
                          dataset_name=f"{dataset['name']}, held-out part", dataset_config=s["slice"], dataset_split="heldout")
            interval = f", 95% CI [{s['wer_low']:.1f}, {s['wer_high']:.1f}]" if s["wer_low"] is not None else ""
            results.append(EvalResult(metric_type="wer", metric_value=s["wer"],
                                      metric_name=f"WER % (normalized {evaluation['normalizer']}{interval})", **common))
            if s["slice"] == OVERALL and s["cer"] is not None:
                results.append(EvalResult(metric_type="cer", metric_value=s["cer"],
                                          metric_name=f"CER % (normalized {evaluation['normalizer']})", **common))
    tags = ["whisper", "whisper-workbench", "lora" if method == "lora" else "full-fine-tuning"]
    if library == "ctranslate2":
        tags += ["ctranslate2", "faster-whisper"] + ([quantization] if quantization else [])
    if evaluation and evaluation["synthetic_data"]:
        tags.append("synthetic-speech")
    data = ModelCardData(
        model_name=name,
        base_model=base_model_id(facts["start_model"]),
        datasets=datasets,
        language=facts["languages"] or None,
        library_name=library,
        pipeline_tag="automatic-speech-recognition",
        tags=tags,
        metrics=["wer", "cer"] if evaluation else None,
        eval_results=results or None,
        workbench=facts,
    )
    body = _body(facts, name, library, quantization)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def _interval(low, high) -> str:
    return "" if low is None or high is None else f" [{low:.1f}, {high:.1f}]"


def _signed(value) -> str:
    return "–" if value is None else f"{value:+.1f}"


def _body(facts: dict, name: str, library: str, quantization: str | None) -> str:
    method = _METHOD.get(facts["method"], facts["method"] or "fine-tuning")
    start = facts["start_model"]
    what = {
        "transformers": "the merged model for transformers (float32 weights)",
        "ctranslate2": f"the CTranslate2 export for faster-whisper ({quantization or 'unknown'} weights)",
        "peft": "the LoRA adapter alone (apply it to the base model with peft)",
    }[library]
    lines = [
        f"# {name}",
        "",
        f"Whisper `{start}` adapted with {method} by whisper-workbench {facts['version']}"
        f" (commit `{facts['commit'] or 'unknown'}`). This folder holds {what}.",
        "",
    ]
    evaluation = facts["evaluation"]
    if evaluation and evaluation["synthetic_data"]:
        lines += ["> **Trained and evaluated on synthetic speech** (the workbench's demo corpus: text-to-speech voices, "
                  "not people). The figures below say nothing about real speakers or real accents.", ""]
    lines += _results_section(evaluation)
    lines += _training_section(facts)
    lines += _usage_section(library)
    return "\n".join(lines).rstrip() + "\n"


def _results_section(e: dict | None) -> list[str]:
    if e is None:
        return ["## Held-out results", "",
                "Not evaluated yet: `workbench escalate` (or `workbench bench --model <this training output>/ct2`) scores it "
                "on the held-out part, and the escalation rewrites this card with the figures.", ""]
    confidence = f"{100 * e['confidence']:.0f}% bootstrap intervals" if e["confidence"] else "no intervals (bootstrap off)"
    lines = ["## Held-out results", "",
             f"Run `{e['run']}` on the held-out part of `{e['dataset']['name']}` (held-out id `{e['heldout_id']}`), "
             f"normalized with `{e['normalizer']}`, {confidence}; the change is paired against the baseline run "
             f"`{e['baseline_run'] or '–'}` on the same clips.", "",
             "| slice | utterances | WER % [95% CI] | CER % | baseline WER % | change [95% CI] |",
             "|---|---:|---|---:|---:|---|"]
    for s in e["slices"]:
        lines.append(f"| {s['slice']} | {s['utterances']} | {_pct(s['wer'])}{_interval(s['wer_low'], s['wer_high'])} | "
                     f"{_pct(s['cer'])} | {_pct(s['baseline_wer'])} | {_signed(s['change'])}{_interval(s['change_low'], s['change_high'])} |")
    guard = e["forgetting_guard"]
    lines += ["", "## Forgetting guard", "",
              "Language ID, words written on no-speech clips, prompt echo and long-form failures against the baseline "
              "on the same clips" + (f", and the retention set (run `{e['retention_run']}`)" if e["retention_run"] else "") + ": "
              + ("**passed**." if guard["passed"] else "**rejected**:"), ""]
    lines += [f"- {finding}" for finding in guard["findings"]]
    figures = guard.get("figures") or {}
    if figures.get("trained") and figures.get("baseline"):
        t, b = figures["trained"], figures["baseline"]
        lid_t = {k: a for k, _, a in t.get("language_id", ())}
        lid_b = {k: a for k, _, a in b.get("language_id", ())}
        if OVERALL in lid_t and OVERALL in lid_b:
            lines.append(f"- language ID accuracy: {lid_t[OVERALL]:.1f}% (baseline {lid_b[OVERALL]:.1f}%)")
        lines.append(f"- words on {t.get('no_speech_clips', 0)} no-speech clips: {t.get('no_speech_words', 0)} "
                     f"(baseline {b.get('no_speech_words', 0)})")
        lines.append(f"- transcripts echoing the prompt: {t.get('prompt_echoes', 0)} (baseline {b.get('prompt_echoes', 0)})")
    parity = e["deployment_parity"]
    if parity:
        lines += ["", "## Deployment parity", "",
                  f"Each shipped form against the model as trained (`{Path(parity['reference']).name}`, "
                  f"{parity['reference_backend']} {parity['reference_compute_type'] or ''}, run `{parity['reference_run']}`), "
                  "on the same clips: identical transcripts and the paired WER change. "
                  + ("**Passed.**" if parity["passed"] else "**Refused:**"), ""]
        lines += [f"- {finding}" for finding in parity["findings"]]
        lines += ["", "| form | compute type | identical transcripts | WER % | change vs trained [95% CI] |", "|---|---|---:|---:|---|"]
        for f in parity["forms"]:
            share = f"{f['identical']}/{f['transcripts']}" + (f" ({100 * f['identical_share']:.0f}%)" if f["identical_share"] is not None else "")
            lines.append(f"| {f['form']} | {f['compute_type'] or '–'} | {share} | {_pct(f['wer'])} | "
                         f"{_signed(f['change'])}{_interval(f['change_low'], f['change_high'])} |")
    if e["decision"]:
        lines += ["", "## The ladder's decision", "", "```", e["decision"], "```"]
    return lines + [""]


def _training_section(facts: dict) -> list[str]:
    t, r = facts["training"], facts["training_record"]
    o = t.get("options") or {}
    lora = o.get("lora") or {}
    rows = [
        ("method", _METHOD.get(facts["method"], facts["method"])),
        ("start model", f"`{facts['start_model']}`"),
        ("steps / epochs", f"{t['steps']} / {t['epochs']}"),
        ("device, precision", f"{t['device']}, {t['precision']}"),
        ("learning rate", o.get("learning_rate") or ("1e-3 (LoRA default)" if facts["method"] == "lora" else "1e-5 (default)")),
        ("batch size x accumulation", f"{o.get('batch_size')} x {o.get('grad_accum')}"),
        ("scheduler, warm-up", f"{o.get('scheduler')}, {o.get('warmup_ratio')}"),
        ("best validation WER %", _pct(t["best_validation_wer"]) + (f" (step {t['best_step']})" if t["best_step"] else "")),
        ("trainable / total parameters", f"{t['trainable_parameters']} / {t['total_parameters']}"),
    ]
    if facts["method"] == "lora" and lora:
        rows.append(("LoRA", f"r={lora.get('r')}, alpha={lora.get('alpha')}, dropout={lora.get('dropout')}, "
                             f"modules {', '.join(lora.get('target_modules') or ())}"))
    lines = ["## Training", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "The whole config is under `workbench.training.options` in this card's metadata.", "",
              "## Training data and leakage check", "",
              f"Trained on {r['train_utterances']} utterances and validated on {r['validation_utterances']} "
              f"(carved from the train part, never the held-out part); held-out split `{r['heldout_id']}` "
              f"({r['heldout_size']} utterances). Leakage check: {r['leakage_check']}. The ids are in "
              f"`{r['file']}` beside this folder.", ""]
    return lines


def _usage_section(library: str) -> list[str]:
    if library == "ctranslate2":
        code = ['from faster_whisper import WhisperModel', '', 'model = WhisperModel("path/to/this/folder", compute_type="int8")',
                'segments, info = model.transcribe("audio.wav")']
    elif library == "peft":
        code = ['from peft import PeftModel', 'from transformers import WhisperForConditionalGeneration', '',
                'base = WhisperForConditionalGeneration.from_pretrained("<the base model>")',
                'model = PeftModel.from_pretrained(base, "path/to/this/folder")']
    else:
        code = ['from transformers import pipeline', '',
                'asr = pipeline("automatic-speech-recognition", model="path/to/this/folder")', 'print(asr("audio.wav")["text"])']
    return ["## How to use", "", "```python", *code, "```", ""]


def evaluation_from_outcome(workspace: str, outcome, baseline_run: str | None, guard_figures: dict | None = None) -> CardEvaluation:
    """A `CardEvaluation` from an escalation rung (`escalation.RungOutcome`): its figures,
    its guard findings and deployment-parity refusals apart, its decision."""
    from .policy import PARITY_TARGET

    figures = {k: asdict(v) for k, v in guard_figures.items()} if guard_figures is not None else None
    guard = tuple(m.describe() for m in outcome.scores.guard if m.target != PARITY_TARGET)
    refused = tuple(m.describe() for m in outcome.scores.guard if m.target == PARITY_TARGET)
    return CardEvaluation(workspace, outcome.run_id, outcome.scores.slices, baseline_run, guard, figures,
                          outcome.parity, refused, outcome.decision.explain(), outcome.retention_run)
