#!/usr/bin/env python3
"""Generate the README's demo figure tables from stored runs, or check that they match.

The README's demo figures are never typed by hand: each table sits between marker
comments,

    <!-- figures:demo-baseline:begin models=tiny.en,base -->
    ...generated...
    <!-- figures:demo-baseline:end -->

and is rendered from the runs stored in a workspace (default ./.workbench): for each
model named in the marker, the latest succeeded plain `workbench bench` run of the
held-out part of the demo corpus (baseline strategy, default decoding and scoring, no
--limit). The block names the CPU and the instruction sets of the kernels that made the
figures, the runs and the commit.

    scripts/readme_figures.py --write            # rewrite every block from the stored runs (atomically)
    scripts/readme_figures.py --write --bench    # run `workbench bench` for each model first (the
                                                 # one command after a change that moves the figures)
    scripts/readme_figures.py --check            # exit 1 with a diff when a block differs from the runs

A second kind of block, `demo-cheap-rungs`, compares the cheap rungs (`strategies=` in its
marker) on the same held-out part: clinical and general WER, each accent's clinical WER,
term recall and each strategy's decoding time. It is rendered by running the comparison
itself (`workbench.strategy_runs.run_comparison`, misrecognitions mined from the train
part) on stored runs only: --check never decodes, and says so when the runs are not
stored (`--write --bench` makes them with `workbench bench --strategies ...`).

The int8 kernels round differently on different instruction sets, so the figures depend
on the CPU. --check is strict only when the runs were made on the CPU and kernels the
README names; on another CPU it prints the difference for information and exits 0.
The commit and run ids in a block are information, not compared: an unchanged figure at
a later commit still passes.

Exit status: 0 match (or another CPU), 1 a block differs on the same CPU, 2 the README
or the stored runs cannot give a block (missing markers, no such run; one line saying why).
"""

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a file from a checkout
    sys.path.insert(0, str(REPO))

from workbench.atomic import write_text_atomic  # noqa: E402
from workbench.backends import DecodingOptions  # noqa: E402
from workbench.dataset import is_true  # noqa: E402
from workbench.diagnostics import hallucination, language_id  # noqa: E402
from workbench.errors import BadInputError, NotStoredError  # noqa: E402
from workbench.runstore import RunStore  # noqa: E402
from workbench.scoring import Scorecard, SliceScore, scorecard_from_dict  # noqa: E402

DEMO_MANIFEST = REPO / "workbench" / "examples" / "demo" / "manifest.csv"
WRITE_COMMAND = ".venv/bin/python scripts/readme_figures.py --write --bench"

# Rows of the baseline table, in this order: overall, then these columns' slices in the
# order their values first appear in the held-out part. Accent slices of other languages
# are left out: there the accent is the language, and the language row already says it.
TABLE_COLUMNS = ("accent", "language", "domain")

# Decoding fields a user sets to change transcripts: a run whose values differ from the
# defaults is not a plain bench run. (Batch size and threads do not change transcripts;
# the language fields and the compute type are checked apart, because runs store the
# options as applied: an English-only model decodes with language "en" and no language
# ID, and CTranslate2's "int8" on a CPU is "int8_float32".)
_DECODING_CHECKED = ("beam_size", "temperature", "compression_ratio_threshold", "logprob_threshold", "no_speech_threshold",
                     "condition_on_previous_text", "initial_prompt", "hotwords", "without_timestamps", "task", "device")
_INT8 = ("int8", "int8_float32")

_BEGIN = re.compile(r"^<!-- figures:(?P<name>[\w.-]+):begin(?P<args>[^>]*?)\s*-->\s*$")
_MADE_ON = re.compile(r"Made on \*\*(?P<cpu>.+?)\*\* .*?with kernels \*\*(?P<kernels>.+?)\*\*")
_PROVENANCE = "<sub>From runs "


@dataclass(frozen=True)
class ModelRun:
    model: str
    run_id: str
    commit: str | None
    cpu: str | None  # CPU model name the run recorded
    cpu_detail: str | None  # family/model/stepping
    kernels: str | None  # the kernels' one-line summary the run recorded
    ctranslate2: str | None
    compute_type: str
    heldout_id: str | None
    card: Scorecard  # normalized
    language_id: dict  # (column, value) -> accuracy
    order: dict  # column -> values in first-appearance order (speech clips)
    english_accents: frozenset
    no_speech: int
    no_speech_with_text: int
    no_speech_words: int


# ----------------------------------------------------------------------------- runs
def _plain(config: dict, model: str, data: Path) -> bool:
    """A default `workbench bench --model MODEL` of the held-out part of `data`."""
    stored_data = config.get("data")
    if not stored_data or Path(stored_data).resolve() != data.resolve():
        return False
    if config.get("model") != model or config.get("backend", "faster-whisper") != "faster-whisper":
        return False
    if config.get("strategy", "baseline") != "baseline" or config.get("part", "heldout") != "heldout":
        return False
    if config.get("test") is not None or config.get("limit") is not None or config.get("lexicon") is not None:
        return False
    if config.get("normalizer", "auto@1") != "auto@1":
        return False
    defaults = DecodingOptions().to_dict()
    decoding = config.get("decoding") or {}
    for key in _DECODING_CHECKED:
        if key not in decoding or key not in defaults:
            continue
        value = defaults[key]
        stored = list(decoding[key]) if isinstance(value, tuple) else decoding[key]
        if stored != (list(value) if isinstance(value, tuple) else value):
            return False
    if decoding.get("compute_type", "int8") not in _INT8 or decoding.get("vad"):
        return False
    english_only = model.endswith(".en")
    if decoding.get("language") not in ((None, "en") if english_only else (None,)):
        return False
    if decoding.get("detect_language", True) is False and not english_only:
        return False
    return True


def latest_run(store: RunStore, model: str, data: Path) -> str | None:
    """The newest succeeded plain bench run of `model` on `data`'s held-out part."""
    for record in store.runs():
        if record.kind == "bench" and record.effective_status == "succeeded" and _plain(record.config, model, data):
            return record.id
    return None


def load_run(store: RunStore, run_id: str, model: str) -> ModelRun:
    record = store.run(run_id)
    scores = store.scores(run_id)
    normalizer = record.normalizer or "auto@1"
    if normalizer not in scores:
        raise BadInputError(f"run {run_id}: no {normalizer} scorecard stored (has: {', '.join(scores) or 'none'})")
    card = scorecard_from_dict(scores[normalizer])
    hyps = [h for h in store.hypotheses(run_id) if not (h.extra and "error" in h.extra)]
    speech = [h for h in hyps if not is_true(h.slices.get("no_speech", ""))]
    silent = [h for h in hyps if is_true(h.slices.get("no_speech", ""))]
    signals = {h.id: (h.extra or {}) for h in speech}
    lid = {(s.column, s.value): s.accuracy for s in language_id(speech, signals, TABLE_COLUMNS)}
    order: dict[str, list[str]] = {c: [] for c in TABLE_COLUMNS}
    for h in speech:
        for column in TABLE_COLUMNS:
            value = h.slices.get(column)
            if value and value not in order[column]:
                order[column].append(value)
    english = frozenset(h.slices.get("accent") for h in speech if (h.slices.get("language") or "").lower().startswith("en"))
    halluc = hallucination(silent, {h.id: h.hypothesis for h in silent})
    env = record.environment or {}
    cpu = env.get("cpu") or {}
    kernels = env.get("kernels") or {}
    commit = record.git_commit
    return ModelRun(
        model=model,
        run_id=run_id,
        commit=(commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")) if commit else None,
        cpu=cpu.get("model"),
        cpu_detail=cpu.get("family_model_stepping"),
        kernels=kernels.get("summary"),
        ctranslate2=kernels.get("ctranslate2") or (env.get("packages") or {}).get("ctranslate2"),
        compute_type=(record.config.get("decoding") or {}).get("compute_type", "int8"),
        heldout_id=record.heldout_id,
        card=card,
        language_id=lid,
        order={c: tuple(v) for c, v in order.items()},
        english_accents=english,
        no_speech=halluc.clips,
        no_speech_with_text=halluc.clips_with_output,
        no_speech_words=halluc.words,
    )


def block_runs(workspace: Path, models: tuple[str, ...], data: Path) -> list[ModelRun]:
    if not (workspace / "runs.sqlite").is_file():
        raise BadInputError(f"{workspace}: no run store here (run `workbench bench` first, or pass --workspace)")
    runs = []
    with RunStore(workspace) as store:
        for model in models:
            run_id = latest_run(store, model, data)
            if run_id is None:
                raise BadInputError(
                    f"{workspace}: no succeeded plain bench run of {model} on the held-out part of {data}"
                    f" (make one with `workbench bench --model {model}`)"
                )
            runs.append(load_run(store, run_id, model))
    if len({r.heldout_id for r in runs}) > 1:
        raise BadInputError("the runs " + ", ".join(r.run_id for r in runs) + " have different held-out parts")
    if len({(r.cpu, r.kernels) for r in runs}) > 1:
        raise BadInputError("the runs " + ", ".join(r.run_id for r in runs) + " were made on different CPUs or kernels")
    return runs


# --------------------------------------------------------------------------- render
def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _wer(s: SliceScore | None) -> str:
    if s is None:
        return "—"
    if s.wer_ci is None:
        return _pct(s.wer)
    return f"{_pct(s.wer)} [{_pct(s.wer_ci.low)}, {_pct(s.wer_ci.high)}]"


def _slice(card: Scorecard, column: str, value: str) -> SliceScore | None:
    if column == "overall":
        return card.overall
    try:
        return card.slice(column, value)
    except KeyError:
        return None


def _no_speech_sentence(runs: list[ModelRun]) -> str:
    clips = runs[-1].no_speech
    if not clips:
        return "No-speech clips: the held-out part has none."
    if all(r.no_speech_with_text == 0 for r in runs):
        who = f"{runs[0].model} wrote nothing" if len(runs) == 1 else "neither model wrote anything" if len(runs) == 2 else "no model wrote anything"
        return f"No-speech clips: {who} on the {clips} held-out " + ("one." if clips == 1 else "ones.")
    parts = [
        f"{r.model} wrote text on {r.no_speech_with_text} ({r.no_speech_words} words)" if r.no_speech_with_text else f"{r.model} on none"
        for r in runs
    ]
    return f"No-speech clips ({clips} held out): " + "; ".join(parts) + "."


def render_baseline(runs: list[ModelRun]) -> list[str]:
    """The block's lines (between the markers): intro with the CPU, table, no-speech line, provenance."""
    main = runs[-1]  # the last model gets CER and language-ID columns too
    card = main.card
    confidence = card.overall.wer_ci.confidence if card.overall.wer_ci else None
    speech = card.overall.utterances
    cpu = main.cpu or "an unrecorded CPU"
    detail = f" (family/model/stepping {main.cpu_detail})" if main.cpu_detail else ""
    intro = (
        f"Baseline on its held-out part ({speech} speech clip{'s' * (speech != 1)} + {main.no_speech} no-speech "
        f"clip{'s' * (main.no_speech != 1)}), faster-whisper "
        f"{'int8' if main.compute_type in _INT8 else main.compute_type}, greedy, language from the manifest, `{card.normalizer}` normalizer"
        + (f", {round(100 * confidence)}% bootstrap intervals" if confidence else "")
        + f".\nMade on **{cpu}**{detail} with kernels **{main.kernels or 'unrecorded'}**"
        + (f" (CTranslate2 {main.ctranslate2})" if main.ctranslate2 else "")
        + ":"
    )
    header = ["slice", "utts"] + [f"{r.model} WER % [95% CI]" if confidence == 0.95 else f"{r.model} WER %" for r in runs]
    header += [f"{main.model} CER %", f"{main.model} language ID %"]
    lines = [*intro.split("\n"), "", "| " + " | ".join(header) + " |", "|---|---:|" + "---|" * len(runs) + "---:|---:|"]
    rows = [("overall", "all")]
    for column in TABLE_COLUMNS:
        for value in main.order.get(column, ()):
            if column == "accent" and value not in main.english_accents:
                continue
            rows.append((column, value))
    for column, value in rows:
        s = _slice(card, column, value)
        if s is None:
            continue
        name = "overall" if column == "overall" else f"{column}={value}"
        cells = [name, str(s.utterances)] + [_wer(_slice(r.card, column, value)) for r in runs]
        cells += [_pct(s.cer), _pct(main.language_id.get((column, value)))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _no_speech_sentence(runs), ""]
    if len({r.commit for r in runs}) == 1:
        made = ", ".join(f"`{r.run_id}` ({r.model})" for r in runs) + f" at commit `{runs[0].commit or 'unknown'}`"
    else:
        made = ", ".join(f"`{r.run_id}` ({r.model}, commit `{r.commit or 'unknown'}`)" for r in runs)
    lines.append(f"{_PROVENANCE}{made}; regenerate with `{WRITE_COMMAND}`.</sub>")
    return lines


# --------------------------------------------------------------------------- cheap rungs
BLOCK_KINDS = ("demo-baseline", "demo-cheap-rungs")
DEMO_LEXICON = DEMO_MANIFEST.parent / "lexicon.csv"
CHEAP_SLICES = ("accent", "language", "domain", "accent*domain")
CLINICAL, GENERAL = "clinical", "general"
# The bar for the best cheap rung (README): clinical WER down 30% relative, general
# WER up at most 0.5 point, every accent's clinical WER down at least 10% relative.
CLINICAL_CUT, GENERAL_RISE, ACCENT_CUT = 0.30, 0.005, 0.10


def _cheap_request(block: "Block", workspace: Path, data: Path, stored_only: bool):
    from workbench.bench import BenchRequest
    from workbench.evaluation import EvaluationOptions
    from workbench.service import DataSelection
    from workbench.strategy_runs import ComparisonRequest

    bench = BenchRequest(DataSelection(str(data), part="heldout"), model=block.models[0], workspace=str(workspace),
                         evaluation=EvaluationOptions(slice_columns=CHEAP_SLICES), reuse=True, stored_only=stored_only)
    return ComparisonRequest(bench, ("baseline",) + block.strategies, str(DEMO_LEXICON), mine=True)


def bench_cheap_rungs(block: "Block", workspace: Path, data: Path) -> None:
    """`workbench bench --strategies ... --mine` for the block (stored runs are reused)."""
    import subprocess

    command = [sys.executable, "-m", "workbench.cli", "bench", "--model", block.models[0], "--data", str(data),
               "--workspace", str(workspace), "--strategies", ",".join(("baseline",) + block.strategies),
               "--lexicon", str(DEMO_LEXICON), "--mine", "--slices", ",".join(CHEAP_SLICES)]
    print("+ workbench " + " ".join(command[3:]), file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=REPO)
    if done.returncode != 0:
        raise BadInputError(f"`workbench bench --strategies ...` exited {done.returncode}; the README was not changed")


def cheap_rungs_comparison(block: "Block", workspace: Path, data: Path):
    """The block's comparison from stored decoded runs only (NotStoredError when one is missing)."""
    import io
    from contextlib import redirect_stderr

    from workbench.strategy_runs import run_comparison

    if not (workspace / "runs.sqlite").is_file():
        raise NotStoredError(f"no run store in {workspace}")
    with redirect_stderr(io.StringIO()):  # the comparison's progress lines
        return run_comparison(_cheap_request(block, workspace, data, stored_only=True))


def _slice_of(outcome, column: str, value: str):
    card = outcome.result.evaluation.normalized
    return card.overall if column == "overall" else next((s for s in card.slices if (s.column, s.value) == (column, value)), None)


def _delta(outcome, column: str, value: str):
    return next((d for d in outcome.deltas if (d.column, d.value) == (column, value)), None)


def _cell(outcome, column: str, value: str, baseline) -> str:
    s, b = _slice_of(outcome, column, value), _slice_of(baseline, column, value)
    if s is None or s.wer is None:
        return "—"
    if outcome is baseline or b is None or not b.wer:
        return _pct(s.wer)
    d = _delta(outcome, column, value)
    mark = " ▲" if d is not None and d.significantly_worse else (" ▼" if d is not None and d.significantly_better else "")
    return f"{_pct(s.wer)} ({100 * (s.wer - b.wer) / b.wer:+.0f}%){mark}"


def cheap_rungs_verdict(comparison) -> tuple[str | None, list[str]]:
    """(the best strategy meeting the bar, or None; one line per strategy saying how it fares)."""
    base = comparison.outcomes[0]
    accents = [v.split("/")[0] for (c, v) in _keys(base) if c == "accent*domain" and v.endswith("/" + CLINICAL)]
    lines, best = [], None
    for o in comparison.outcomes[1:]:
        clinical, general = _slice_of(o, "domain", CLINICAL), _slice_of(o, "domain", GENERAL)
        b_clinical, b_general = _slice_of(base, "domain", CLINICAL), _slice_of(base, "domain", GENERAL)
        cut = 1 - clinical.wer / b_clinical.wer
        rise = general.wer - b_general.wer
        cuts = {}
        for accent in accents:
            a, b = _slice_of(o, "accent*domain", f"{accent}/{CLINICAL}"), _slice_of(base, "accent*domain", f"{accent}/{CLINICAL}")
            if a is not None and b is not None and b.wer:
                cuts[accent] = 1 - a.wer / b.wer
        short = sorted((c, a) for a, c in cuts.items() if c < ACCENT_CUT)
        meets = cut >= CLINICAL_CUT and rise <= GENERAL_RISE and not short
        if meets and (best is None or clinical.wer < _slice_of(best, "domain", CLINICAL).wer):
            best = o
        worst = min(cuts.items(), key=lambda kv: kv[1]) if cuts else None
        lexicon = next((x for x in comparison.outcomes if x.spec == "lexicon"), None)
        beyond = ""
        if lexicon is not None and o is not lexicon and _slice_of(lexicon, "domain", CLINICAL).wer:
            beyond = f" ({100 * (1 - clinical.wer / _slice_of(lexicon, 'domain', CLINICAL).wer):.0f}% beyond the lexicon alone)"
        lines.append(f"- `{o.spec}`: clinical WER cut by {100 * cut:.0f}% relative{beyond}, general WER {100 * rise:+.1f} points, "
                     + (f"smallest accent cut {100 * worst[1]:.0f}% ({worst[0]})" if worst else "no accent slices")
                     + (": **meets the bar**." if meets else ": misses the bar"
                        + (f" ({', '.join(a for _, a in short)} below 10%)." if short else "."))
                     )
    return (best.spec if best else None), lines


def _keys(outcome) -> list[tuple[str, str]]:
    return [(s.column, s.value) for s in outcome.result.evaluation.normalized.slices]


def render_cheap_rungs(comparison) -> list[str]:
    """The block's lines: clinical/general and each accent's clinical WER per strategy, the
    term and cost figures, the verdict against the bar, provenance."""
    base = comparison.outcomes[0]
    model = base.result.report.get("model")
    card = base.result.evaluation.normalized
    rows = [("overall", "all"), ("domain", CLINICAL), ("domain", GENERAL)]
    rows += [(c, v) for c, v in _keys(base) if c == "accent*domain" and v.endswith("/" + CLINICAL)]
    header = ["slice", "utts"] + [f"`{o.spec}`" for o in comparison.outcomes]
    lines = [f"Held-out part of the demo corpus, `{model}`, faster-whisper int8, `{card.normalizer}` normalizer; "
             "normalized WER % and (relative change vs the baseline); ▲/▼ = significantly worse/better (paired "
             "95% bootstrap). Misrecognitions mined from the train part only.", "",
             "| " + " | ".join(header) + " |", "|---|---:|" + "---|" * len(comparison.outcomes)]
    for column, value in rows:
        s = _slice_of(base, column, value)
        if s is None:
            continue
        name = "overall" if column == "overall" else (f"{value.replace('/', ' ')}" if column == "accent*domain" else f"{column}={value}")
        lines.append("| " + " | ".join([name, str(s.utterances)] + [_cell(o, column, value, base) for o in comparison.outcomes]) + " |")
    lines += ["", "| strategy | term recall % | term precision % | words broken / fixed | no-speech words | decoded again |",
              "|---|---:|---:|---:|---:|---:|"]
    for o in comparison.outcomes:
        t = o.terms[0] if o.terms else None
        over = o.over[0]
        again = (o.cost or {}).get("decoded_again")
        lines.append(f"| `{o.spec}` | {_pct(t.recall) if t else '—'} | {_pct(t.precision) if t else '—'} | "
                     f"{'—' if o is base else f'{over.broken} / {over.fixed}'} | {o.result.hallucination.words} | "
                     f"{'—' if again is None else again} |")
    best, verdicts = cheap_rungs_verdict(comparison)
    lines += ["", "Against the bar (clinical WER −30% relative, general WER at most +0.5 point, every accent's clinical "
              "WER −10% relative):", *verdicts, "",
              f"Best cheap rung: **`{best}`**." if best else "No cheap rung meets the whole bar on this corpus.", ""]
    cost = ", ".join(f"`{o.spec}` {((o.cost or {}).get('decode_s', 0.0) + (o.cost or {}).get('post_s', 0.0)):.0f} s"
                     for o in comparison.outcomes)
    lines.append(f"<sub>Decoding time as measured when each run was made (first pass included; the machine's load "
                 f"moves it, see `benchmarks/bench_cheap_rungs.py` for side-by-side figures): {cost}.</sub>")
    runs = ", ".join(f"`{o.result.run_id}` ({o.spec})" for o in comparison.outcomes)
    lines.append(f"{_PROVENANCE}{runs}; regenerate with `{WRITE_COMMAND}`.</sub>")
    return lines


# --------------------------------------------------------------------------- README
@dataclass(frozen=True)
class Block:
    name: str
    models: tuple[str, ...]
    start: int  # index of the begin marker line
    end: int  # index of the end marker line
    strategies: tuple[str, ...] = ()  # demo-cheap-rungs: the specs compared


def find_blocks(lines: list[str], readme: Path) -> list[Block]:
    blocks = []
    for i, line in enumerate(lines):
        m = _BEGIN.match(line)
        if not m:
            continue
        name = m.group("name")
        args = dict(a.split("=", 1) for a in m.group("args").split() if "=" in a)
        if name not in BLOCK_KINDS:
            raise BadInputError(f"{readme}:{i + 1}: unknown figures block {name!r} (known: {', '.join(BLOCK_KINDS)})")
        models = tuple(x for x in args.get("models", args.get("model", "base")).split(",") if x)
        specs = tuple(x for x in args.get("strategies", "").split(",") if x)
        if name == "demo-cheap-rungs" and not specs:
            raise BadInputError(f"{readme}:{i + 1}: block {name!r} needs strategies=SPEC,SPEC in its marker")
        end_marker = f"<!-- figures:{name}:end -->"
        try:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == end_marker)
        except StopIteration:
            raise BadInputError(f"{readme}:{i + 1}: block {name!r} has no end marker {end_marker!r}") from None
        blocks.append(Block(name, models, i, end, specs))
    if not blocks:
        raise BadInputError(f"{readme}: no figures block (a line '<!-- figures:demo-baseline:begin models=base -->')")
    return blocks


def _compared(lines: list[str]) -> list[str]:
    """The lines --check compares: all but the small print (run ids, commit, decoding times,
    which depend on the machine's load)."""
    return [line for line in lines if not line.startswith("<sub>")]


def _made_on(lines: list[str]) -> tuple[str, str] | None:
    for line in lines:
        if m := _MADE_ON.search(line):
            return m.group("cpu"), m.group("kernels")
    return None


def bench(models: list[str], workspace: Path, data: Path) -> None:
    """`workbench bench --model M` for each model, into `workspace` (an identical earlier run
    is reused or resumed by the workbench itself)."""
    import subprocess

    for model in models:
        command = [sys.executable, "-m", "workbench.cli", "bench", "--model", model, "--data", str(data), "--workspace", str(workspace)]
        print("+ workbench " + " ".join(command[3:]), file=sys.stderr, flush=True)
        done = subprocess.run(command, cwd=REPO)
        if done.returncode != 0:
            raise BadInputError(f"`workbench bench --model {model}` exited {done.returncode}; the README was not changed")


def run(readme: Path, workspace: Path, data: Path, mode: str, out=None, run_bench: bool = False) -> int:
    out = out or sys.stdout
    if not readme.is_file():
        raise BadInputError(f"{readme}: no such file")
    if run_bench:
        blocks = find_blocks(readme.read_text(encoding="utf-8").split("\n"), readme)
        bench(list(dict.fromkeys(m for b in blocks if b.name == "demo-baseline" for m in b.models)), workspace, data)
        for b in blocks:
            if b.name == "demo-cheap-rungs":
                bench_cheap_rungs(b, workspace, data)
    # Read (again) only now, so that edits made while the benches ran are kept.
    text = readme.read_text(encoding="utf-8")
    lines = text.split("\n")
    blocks = find_blocks(lines, readme)
    rendered = {}
    for b in blocks:
        if b.name == "demo-baseline":
            rendered[b.start] = render_baseline(block_runs(workspace, b.models, data))
            continue
        try:
            rendered[b.start] = render_cheap_rungs(cheap_rungs_comparison(b, workspace, data))
        except NotStoredError as exc:
            if mode == "write":
                raise BadInputError(f"{b.name}: {exc}; make the runs with `{WRITE_COMMAND}`") from None
            print(f"{readme}: {b.name} not checked: {exc}", file=out)
            rendered[b.start] = None
    if mode == "write":
        new: list[str] = []
        cursor = 0
        for b in blocks:
            new += lines[cursor : b.start + 1] + rendered[b.start]
            cursor = b.end
        new += lines[cursor:]
        updated = "\n".join(new)
        if updated == text:
            print(f"{readme}: figures already up to date", file=out)
        else:
            mode_bits = readme.stat().st_mode & 0o777
            write_text_atomic(readme, updated)
            readme.chmod(mode_bits)  # the temporary file it was renamed from was private (0600)
            print(f"{readme}: rewrote {', '.join(b.name for b in blocks)}", file=out)
        return 0
    status = 0
    for b in blocks:
        current = lines[b.start + 1 : b.end]
        expected = rendered[b.start]
        if expected is None:
            continue
        if _compared(current) == _compared(expected):
            print(f"{readme}: {b.name} matches the stored runs", file=out)
            continue
        diff = "\n".join(difflib.unified_diff(current, expected, f"README.md ({b.name})", f"stored runs in {workspace}", lineterm=""))
        named, ours = _made_on(current), _made_on(expected)
        if named is not None and ours is not None and named != ours:
            print(f"{readme}: {b.name} was made on {named[0]} with kernels {named[1]}; the stored runs were made on "
                  f"{ours[0]} with kernels {ours[1]}, where other figures are expected. The difference, for "
                  f"information only:\n{diff}", file=out)
            continue
        print(f"{readme}: {b.name} differs from the stored runs made on the CPU it names; if the change is "
              f"meant, run `{WRITE_COMMAND}`:\n{diff}", file=out)
        status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the README's figures blocks from the stored runs")
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff when a block differs on the same CPU")
    parser.add_argument("--bench", action="store_true", help="first run `workbench bench` for each model the blocks show")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="default: the repository's README.md")
    parser.add_argument("--workspace", type=Path, default=Path(".workbench"), help="run store folder (default .workbench)")
    parser.add_argument("--data", type=Path, default=DEMO_MANIFEST, help="the corpus the runs decoded (default: the demo corpus)")
    args = parser.parse_args(argv)
    try:
        return run(args.readme, args.workspace, args.data, "write" if args.write else "check", run_bench=args.bench)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
