"""The headless command line: `workbench data inspect`, `score`, `runs`, `rescore`.

A thin shell over `workbench.service`: parse arguments into frozen requests, call the
service, print. Exit codes are `workbench.exit_codes.ExitCode`.
"""

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .bootstrap import BootstrapOptions
# Presentation lives in console_format; the old private names stay as aliases.
from .console_format import comparison_dict, format_comparison
from .console_format import print_bench as _print_bench
from .console_format import print_problems as _print_problems
from .console_format import print_review as _print_review
from .console_format import print_train_event as _print_train_event
from .console_format import report_facts as _facts
from .errors import BadInputError, WorkbenchError
from .evaluation import EvaluationOptions, Thresholds
from .exit_codes import ExitCode
from .manifest import LoadOptions
from .normalizers import available_normalizers
from .progress import ConsoleProgress, close_all as close_progress
from .reports import format_table, pct, to_markdown, write_json, write_markdown
from .runstore import DEFAULT_WORKSPACE, RunStore
from .scoring import scorecard_from_dict, scorecard_to_dict
from .split import SplitOptions

__all__ = ["main", "build_parser"]


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _load_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("loading and validation")
    group.add_argument("--strict", action="store_true", help="fail on the first problem instead of excluding the row")
    group.add_argument("--keep-column", action="append", default=[], metavar="NAME", help="extra column allowed in --strict mode (repeatable)")
    group.add_argument("--min-duration", type=float, default=1.0, metavar="S", help="exclude clips shorter than S seconds (default 1)")
    group.add_argument("--max-duration", type=float, default=30.0, metavar="S", help="exclude clips longer than S seconds (default 30)")
    group.add_argument("--check-audio", choices=("header", "decode", "none"), default="header", help="how to check audio files (default: header)")
    group.add_argument("--language", metavar="CODE", help="language of rows that have none (e.g. en)")
    group.add_argument("--hf-config", metavar="NAME", help="Hugging Face dataset config (with hf:NAME)")
    group.add_argument("--hf-split", metavar="NAME", help="Hugging Face split (default: test)")
    group.add_argument("--trim-silence", action="store_true", help="trim leading/trailing silence (top_db 30)")
    group.add_argument("--peak-normalize", action="store_true", help="scale each clip to a 0.95 peak")
    split = parser.add_argument_group("held-out split")
    split.add_argument("--fraction", type=float, default=0.1, help="held-out share of each accent/language slice (default 0.1)")
    split.add_argument("--seed", type=int, default=42, help="split seed (default 42)")


def _load_options(args) -> LoadOptions:
    from .audio import Preprocessing

    return LoadOptions(
        strict=args.strict,
        min_duration_s=args.min_duration,
        max_duration_s=args.max_duration,
        check_audio=args.check_audio,
        keep_columns=tuple(args.keep_column),
        language=args.language,
        hf_config=args.hf_config,
        hf_split=args.hf_split,
        preprocessing=Preprocessing(trim_silence=args.trim_silence, peak_normalize=args.peak_normalize),
    )


def _score_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scoring")
    group.add_argument("--normalizer", default="auto", help="auto (default), whisper-english, multilingual or raw")
    group.add_argument("--slices", type=_csv_list, default=(), metavar="COLS", help="slice columns, comma-separated (default: accent, language and small categorical columns)")
    _bootstrap_args(group)
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    out.add_argument("--markdown", metavar="PATH", help="write the report as Markdown")
    out.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR", help=f"run store folder (default {DEFAULT_WORKSPACE})")


def _bootstrap_args(group) -> None:
    group.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples for intervals (default 1000; 0 = none)")
    group.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    group.add_argument("--bootstrap-seed", type=int, default=42, help="bootstrap seed (default 42)")


def _only(text: str) -> tuple[str, str]:
    column, sep, value = text.partition("=")
    if not sep or not column:
        raise argparse.ArgumentTypeError(f"expected COLUMN=VALUE, got {text!r}")
    return column, value


def _report_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("judging")
    group.add_argument("--tolerance", type=float, default=0.0, metavar="PP", help="a significant rise up to PP points is not a regression (default 0)")
    group.add_argument("--min-utterances", type=int, default=5, metavar="N", help="slices under N utterances are 'too few' (default 5)")
    group.add_argument("--fail-on-regression", action="store_true", help="exit 4 when any slice regressed beyond the tolerance")
    group.add_argument("--only", type=_only, action="append", default=[], metavar="COLUMN=VALUE", help="compare only these utterances (repeatable)")
    group.add_argument("--cluster", metavar="COLUMN", help="resample whole groups of COLUMN (e.g. speaker) in the bootstrap: honest intervals when utterances share a speaker")
    group.add_argument("--normalizer", default=None, help="default: the baseline run's")
    group.add_argument("--slices", type=_csv_list, default=(), metavar="COLS", help="slice columns (default: accent, language and small categorical columns)")
    group.add_argument("--review", metavar="BUDGET", default=None,
                       help="add the baseline's review section: queue vs random vs oracle WER curve at BUDGET (20%%, 50, 30min)")
    _bootstrap_args(group)
    out = parser.add_argument_group("output (default: all three under <workspace>/reports/)")
    out.add_argument("--json", metavar="PATH", help="the report as JSON (schema: workbench/schemas/regression-report.v1.json)")
    out.add_argument("--markdown", metavar="PATH", help="the report as Markdown")
    out.add_argument("--html", metavar="PATH", help="a self-contained HTML report with charts")
    out.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR", help=f"run store folder (default {DEFAULT_WORKSPACE})")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. lexicon.fuzzy_threshold=85), got {text!r}")
    return key.strip(), value


def _temperatures(text: str) -> tuple[float, ...]:
    return tuple(float(t) for t in _csv_list(text))


def _bench_args(parser: argparse.ArgumentParser) -> None:
    from .backends import DEFAULT_BACKEND, names as backend_names

    parser.add_argument("--data", metavar="MANIFEST", help="the dataset; its held-out part is transcribed (default: the embedded demo corpus)")
    parser.add_argument("--test", metavar="MANIFEST", help="a separate held-out manifest, transcribed whole")
    parser.add_argument("--part", choices=("heldout", "train", "all"), default="heldout", help="which part to transcribe (default heldout)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N utterances (a quick look)")
    parser.add_argument("--longform", action="store_true",
                        help="the embedded long-form demo (three ~3-minute recordings with SRT references), whole")
    model = parser.add_argument_group("model and decoding")
    model.add_argument("--model", default="base", help="tiny.en, base, a CTranslate2 or transformers folder, a .pt, or a hub id (default base)")
    model.add_argument("--backend", default=DEFAULT_BACKEND, choices=backend_names(), help=f"decoding backend (default {DEFAULT_BACKEND})")
    model.add_argument("--beam-size", type=int, default=1, help="1 = greedy (default)")
    model.add_argument("--no-word-confidence", action="store_true",
                       help="skip the per-word probabilities the review queue highlights (about 4%% of decoding time)")
    model.add_argument("--temperature", type=_temperatures, default=(0.0,), metavar="T[,T...]", help="temperature fallback ladder (default 0)")
    model.add_argument("--force-language", metavar="CODE", help="decode every utterance in this language (default: the language column, else detect)")
    model.add_argument("--no-lid", action="store_true", help="do not run language ID when the language is known (faster)")
    model.add_argument("--initial-prompt", metavar="TEXT", help="decoder prompt")
    model.add_argument("--hotwords", metavar="TEXT", help="faster-whisper hotwords")
    model.add_argument("--batch-size", type=int, default=0,
                       help="utterances per batch where the backend batches (default: 8 on CPU, 16 on a GPU)")
    model.add_argument("--threads", type=int, default=0, help="CPU threads (default: the backend's choice; with --engine ray, per worker)")
    model.add_argument("--compute-type", default="auto", help="faster-whisper compute type (default: int8 on CPU, float16 on a GPU)")
    model.add_argument("--device", default="auto", help="cpu, cuda, or auto (default: a GPU when one is present)")
    model.add_argument("--fresh", action="store_true", help="start a new run instead of resuming an unfinished one")
    parser.add_argument("--max-wer", type=float, metavar="PCT", help="exit 3 if overall WER (%%) is above PCT")
    parser.add_argument("--max-slice-wer", type=float, metavar="PCT", help="exit 3 if any slice's WER (%%) is above PCT")
    parser.add_argument("--min-slice-utterances", type=int, default=1, metavar="N", help="slices smaller than N are not gated")
    engine = parser.add_argument_group("where decoding runs (docs: README, \"Many GPUs and machines\")")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process (default); ray: Ray Data workers, each holding one model (pip install 'whisper-workbench[ray]')")
    engine.add_argument("--address", metavar="ADDRESS", help="ray: an existing cluster (auto, HOST:6379, ray://HOST:10001); default: a local one")
    engine.add_argument("--workers", type=int, metavar="N", help="ray: model-holding workers (default: as many as the GPUs, or CPUs, allow)")
    engine.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G", help="ray: GPUs per worker (default 0: decode on CPU)")
    adapt = parser.add_argument_group("adaptation strategies")
    adapt.add_argument("--strategies", type=_csv_list, default=(), metavar="S[,S...]", help="compare strategies, e.g. baseline,lexicon,prompt,lexicon+prompt")
    adapt.add_argument("--lexicon", metavar="FILE", help="domain lexicon (CSV or YAML) for the lexicon and prompt strategies")
    adapt.add_argument("--mine", action="store_true", help="learn misrecognitions from baseline transcripts of the TRAIN part first")
    adapt.add_argument("--set", dest="strategy_options", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="a strategy option, typed by its config: STRATEGY.OPTION=VALUE or OPTION=VALUE, e.g. "
                       "lexicon.fuzzy_threshold=85, prompt.max_tokens=100 (repeatable)")
    _load_args(parser)
    _score_args(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Benchmark, adapt and regression-test Whisper on your own held-out speech.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="load, validate and inspect datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    inspect = data_commands.add_parser("inspect", help="per-slice summary (utterances, hours, speakers), problems and the held-out split")
    inspect.add_argument("manifest", nargs="?", help="CSV/TSV/JSONL manifest, audio folder, save_to_disk folder or hf:NAME (default: the shipped example)")
    inspect.add_argument("--json", metavar="PATH", help="write the summary and every problem as JSON")
    inspect.add_argument("--show", type=int, default=20, metavar="N", help="problems to print (default 20; all are in --json)")
    _load_args(inspect)

    score = commands.add_parser("score", help="score a hypotheses file against a dataset, per slice, with intervals")
    score.add_argument("--data", metavar="MANIFEST", help="the dataset, or SCTK references (.trn/.stm/.ctm, no audio needed) (default: the shipped example)")
    score.add_argument("--test", metavar="MANIFEST", help="a separate held-out manifest, scored whole")
    score.add_argument("--hyp", "--hypotheses", dest="hyp", metavar="FILE",
                       help="hypotheses: CSV/TSV/JSONL keyed by utterance id or audio path, or SCTK trn/ctm/stm")
    score.add_argument("--part", choices=("all", "heldout", "train"), default="all", help="which part of --data to score (default all)")
    score.add_argument("--max-wer", type=float, metavar="PCT", help="exit 3 if overall WER (%%) is above PCT")
    score.add_argument("--max-slice-wer", type=float, metavar="PCT", help="exit 3 if any slice's WER (%%) is above PCT")
    score.add_argument("--min-slice-utterances", type=int, default=1, metavar="N", help="slices smaller than N are not gated (default 1)")
    score.add_argument("--hyp-strict", action="store_true", help="a missing or unknown hypothesis is an error")
    _load_args(score)
    _score_args(score)

    bench = commands.add_parser("bench", help="transcribe the held-out part with a Whisper model and score it (the baseline)")
    _bench_args(bench)
    parity = commands.add_parser("parity", help="decode the same utterances with two backends and compare")
    _bench_args(parity)
    parity.add_argument("--backends", type=_csv_list, default=("faster-whisper", "openai-whisper"), metavar="A,B", help="the two backends (default faster-whisper,openai-whisper)")
    parity.add_argument("--show", type=int, default=10, metavar="N", help="disagreements to print (default 10)")
    parity.add_argument("--forms", type=_csv_list, default=None, metavar="F[,F...]",
                        help="deployment parity instead of two backends: the model as trained (transformers) against these "
                        "shipped forms: ct2-float16, ct2-int8, and merged for a LoRA training output (give its folder as --model; "
                        "empty: all its forms). Other models are exported first (see --export-dir)")
    parity.add_argument("--export-dir", metavar="DIR", help="--forms: where the CTranslate2 forms of a model that is not a training "
                        "output are exported (default <workspace>/exports/<model>)")
    parity.add_argument("--max-parity-wer-rise", type=float, metavar="PP",
                        help="--forms: exit 4 when a form is significantly worse than the model as trained by more than PP WER points")

    runs = commands.add_parser("runs", help="list and show stored runs")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="SUBCOMMAND")
    runs_list = runs_commands.add_parser("list", help="the latest runs")
    runs_list.add_argument("--limit", type=int, default=20)
    runs_list.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR")
    runs_show = runs_commands.add_parser("show", help="a run's record and scores")
    runs_show.add_argument("run", help="run id, unique prefix, or 'latest'")
    runs_show.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR")
    runs_show.add_argument("--normalizer", help="which stored scores to show (default: the run's)")
    runs_show.add_argument("--json", metavar="PATH")
    runs_show.add_argument("--markdown", metavar="PATH")

    rescore = commands.add_parser("rescore", help="recompute a run's scores from its stored hypotheses")
    rescore.add_argument("run", help="run id, unique prefix, or 'latest'")
    _score_args(rescore)

    commands.add_parser("normalizers", help="list the available normalizers and their versions")

    export = commands.add_parser(
        "export", help="write a run's references and hypotheses as JSONL, CSV or NIST SCTK trn/stm/ctm (for sclite)",
        description="jsonl/csv: id, reference, hypothesis and slices (a hypotheses file again); trn: PATH.ref.trn and "
        "PATH.hyp.trn (sclite -i spu_id); stm: the references with slices as labels; ctm: the hypotheses' timed words "
        "(long recordings and ctm imports). Failed decodes and missing hypotheses are left out and counted.")
    export.add_argument("run", help="run id, unique prefix, or 'latest'")
    export.add_argument("--format", required=True, choices=("jsonl", "csv", "trn", "stm", "ctm"))
    export.add_argument("-o", "--output", metavar="PATH", help="where to write (default <workspace>/exports/RUN.FORMAT)")
    export.add_argument("--normalized", action="store_true",
                        help="write both texts through the run's normalizer, so sclite measures the normalized WER")
    export.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR", help=f"run store folder (default {DEFAULT_WORKSPACE})")

    escalate = commands.add_parser(
        "escalate",
        help="climb the ladder baseline -> lexicon/prompt -> LoRA -> full fine-tuning until the targets are met",
        description="Runs every rung through the one evaluation path and stops at the first that meets every "
        "target of the config. Training runs only on a GPU (or with --allow-cpu); without one, it writes the "
        "training config and the command to run on a GPU machine, and exits 5.",
    )
    _bench_args(escalate)
    escalate.add_argument("--config", metavar="TOML", help="targets, ladder and training settings (default: none of the targets; see `workbench escalate --print-config`)")
    escalate.add_argument("--max-regression", type=float, metavar="PP", help="the largest significant rise any slice may suffer vs the baseline (overrides the config)")
    escalate.add_argument("--allow-cpu", action="store_true", help="permit LoRA / full fine-tuning without a GPU (small runs: tests, demos)")
    escalate.add_argument("--out", metavar="DIR", help="training outputs and the hand-off config (default <workspace>/escalation)")
    escalate.add_argument("--print-config", action="store_true", help="print the default config (TOML, commented) and exit")
    escalate.set_defaults(model=None, min_slice_utterances=None)

    report = commands.add_parser(
        "report",
        help="the regression report: each strategy against the baseline, per slice, with paired significance",
        description="With no RUN: every run made after the latest baseline on the same held-out part (the "
        "strategies of the latest comparison or escalation) against that baseline.",
    )
    report.add_argument("runs", nargs="*", metavar="RUN", help="candidate runs (ids or unique prefixes)")
    report.add_argument("--baseline", metavar="RUN", help="the baseline run (default: the candidates' base run, else the latest baseline bench run)")
    _report_args(report)
    compare = commands.add_parser("compare", help="the regression report for any two stored runs: B against A")
    compare.add_argument("run_a", metavar="RUN_A", help="the reference run")
    compare.add_argument("run_b", metavar="RUN_B", help="the run judged against it")
    _report_args(compare)

    train = commands.add_parser(
        "train",
        help="fine-tune one model (LoRA or full) on the train part, export it; runs under torchrun / accelerate launch",
        description="Trains on the TRAIN part of --data (validation carved from it), exports a merged transformers "
        "folder and a CTranslate2 folder under --out. Score the result with `workbench bench --model OUT/ct2`.",
    )
    train.add_argument("--method", choices=("lora", "full"), required=True)
    train.add_argument("--config", metavar="TOML", help="training settings ([training]) and the model (default: the defaults)")
    train.add_argument("--data", metavar="MANIFEST", help="the dataset (default: the config's, else the embedded demo corpus)")
    train.add_argument("--model", help="the start model (default: the config's, else base)")
    train.add_argument("--out", required=True, metavar="DIR", help="checkpoints/, model/, ct2/, adapter/, result.json")
    train.add_argument("--allow-cpu", action="store_true", help="permit training without a GPU (small runs)")
    train.add_argument("--fresh", action="store_true", help="start over instead of resuming from the last checkpoint")
    _load_args(train)

    tui = commands.add_parser("tui", help="the interactive workbench (also: `workbench` with no command)",
                              description="A terminal UI over the same functions as these commands: data, the strategies "
                              "leaderboard and runs, the lexicon, escalation, the regression report, the utterance inspector.")
    tui.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR", help=f"run store folder (default {DEFAULT_WORKSPACE})")
    tui.add_argument("--data", metavar="MANIFEST", help="the dataset (default: the embedded demo corpus)")
    tui.add_argument("--lexicon", metavar="FILE", help="domain lexicon (default with the demo corpus: its lexicon; edits are saved to <workspace>/lexicon.csv)")
    tui.add_argument("--model", default="base", help="the model new runs decode with (default base)")
    tui.add_argument("--limit", type=int, metavar="N", help="only the first N utterances of a part (quick runs)")
    tui.add_argument("--config", metavar="TOML", help="escalation targets, ladder and training settings")
    tui.add_argument("--allow-cpu", action="store_true", help="let the escalate action train without a GPU (small runs)")
    _review_parser(commands)
    return parser


def _review_parser(commands) -> None:
    review = commands.add_parser(
        "review",
        help="the review queue of a run (least likely correct first) and what reviewing it is worth; `review import` stores corrections",
        description="workbench review RUN: the run's speech transcripts ordered by calibrated confidence, least likely "
        "correct first, and, simulated on the references, the WER after reviewing the queue's head against a random "
        "order and the oracle, per slice. Confidence is calibrated on the newest train-part run of the same split and "
        "model (never on the run reviewed). workbench review import CORRECTIONS --run RUN: a reviewer's corrections "
        "(JSONL or CSV of utterance_id,text, or a Label Studio JSON export) as a new run derived from RUN, scored like "
        "any run; every row is checked first and nothing is stored when one is bad.",
    )
    review.add_argument("run", metavar="RUN|import", help="the run to review (id, unique prefix or 'latest'), or `import`")
    review.add_argument("corrections", nargs="?", metavar="CORRECTIONS", help="with `import`: the corrections file")
    review.add_argument("--run", dest="import_run", metavar="RUN", help="with `import`: the run the corrections are of")
    review.add_argument("--to-manifest", metavar="PATH", help="with `import`: also write the reviewed utterances as a manifest CSV for training data")
    review.add_argument("--budget", default="20%", metavar="20%|N|MINUTES",
                        help="what a reviewer can do: a share of the utterances (20%%, the default), a count (50) or minutes of audio (12min)")
    review.add_argument("--export", metavar="PATH", help="write the queue within the budget for reviewers (format from --format, else the suffix)")
    review.add_argument("--format", choices=("jsonl", "csv", "labelstudio"), help="export format (default: .csv -> csv, .json -> labelstudio, else jsonl)")
    review.add_argument("--calibrate-on", metavar="TRAIN_RUN", help="the train-part run to calibrate the confidence on (default: the newest of the same split and model)")
    review.add_argument("--calibration", choices=("logistic", "isotonic"), default="logistic", help="calibration method (default logistic)")
    review.add_argument("--suspect-confidence", type=float, default=0.9, metavar="P",
                        help="a transcript at least this confident that still disagrees with its reference is a suspect reference (default 0.9)")
    review.add_argument("--show", type=int, default=10, metavar="N", help="queue items and suspects to print (default 10)")
    review.add_argument("--json", metavar="PATH", help="the review report as JSON")
    review.add_argument("--markdown", metavar="PATH", help="the review report as Markdown")
    review.add_argument("--html", metavar="PATH", help="the review report as one self-contained HTML file with the curve")
    review.add_argument("--workspace", default=DEFAULT_WORKSPACE, metavar="DIR", help=f"run store folder (default {DEFAULT_WORKSPACE})")


# ------------------------------------------------------------------------- commands


def cmd_data_inspect(args) -> int:
    from .dataset import summarize
    from .service import example_paths, inspect_data

    spec = args.manifest or example_paths()[0]
    result = inspect_data(spec, _load_options(args), SplitOptions(args.fraction, args.seed), ConsoleProgress())
    ds = result.dataset
    print(f"{ds.source}: {ds.rows_read} rows, {len(ds.utterances)} valid, {ds.excluded} excluded")
    extras = [c for c in ds.slice_columns if c not in ("accent", "language", "speaker")]
    if extras:
        print(f"extra columns kept as slices: {', '.join(extras)}")
    rows = summarize(ds.utterances, result.slice_columns)
    width = min(48, max(len(f"{r.column}={r.value}") for r in rows))
    print(f"\n{'slice'.ljust(width)}  {'utts':>6}  {'hours':>7}  {'speakers':>8}")
    previous = "overall"
    for r in rows:
        if r.column != previous:
            print()
            previous = r.column
        label = "overall" if r.column == "overall" else f"{r.column}={r.value or '(empty)'}"
        label = label if len(label) <= width else label[: width - 1] + "…"
        speakers = "—" if r.speakers is None else str(r.speakers)
        print(f"{label.ljust(width)}  {r.utterances:>6}  {r.hours:>7.3f}  {speakers:>8}")
    counts = ds.problem_counts()
    if counts:
        print("\nExcluded or flagged, by reason: " + ", ".join(f"{reason} ×{n}" for reason, n in counts.most_common()))
        hints = {"audio too short": "--min-duration", "audio too long": "--max-duration"}
        for reason, flag in hints.items():
            if counts.get(reason):
                print(f"  ({reason}: the limit is {flag}; Whisper is unreliable outside 1-30 s, so lower it knowingly)")
    _print_problems(ds.problems, args.show)
    split = result.split
    print(f"\nHeld-out split (fraction {args.fraction:g}, seed {args.seed}): {len(split.train)} train, {len(split.heldout)} held out; id {split.heldout_id[:19]}…")
    for note in split.notes:
        print(f"  note: {note}")
    if args.json:
        import dataclasses

        write_json(
            args.json,
            {
                "source": ds.source,
                "rows_read": ds.rows_read,
                "valid": len(ds.utterances),
                "excluded": ds.excluded,
                "slice_columns": list(ds.slice_columns),
                "summary": [dataclasses.asdict(r) for r in rows],
                "problems": [dataclasses.asdict(p) | {"message": str(p)} for p in ds.problems],
                "split": {"train": len(split.train), "heldout": len(split.heldout), "heldout_id": split.heldout_id, "notes": list(split.notes)},
            },
        )
        print(f"wrote {args.json}")
    return ExitCode.OK


def _evaluation_options(args) -> EvaluationOptions:
    return EvaluationOptions(args.normalizer, tuple(args.slices), BootstrapOptions(args.bootstrap, args.confidence, args.bootstrap_seed))


def cmd_score(args) -> int:
    _check_outputs(args)
    from . import api
    from .service import DataSelection, ScoreRequest, example_paths

    data, hyp = args.data, args.hyp
    if data is None and args.test is None:
        data, example_hyp = example_paths()
        hyp = hyp or example_hyp
        print(f"(no --data: scoring the shipped example {data})")
    if hyp is None:
        raise BadInputError("--hyp: a hypotheses file is required with --data/--test")
    request = ScoreRequest(
        selection=DataSelection(data, args.test, args.part, _load_options(args), SplitOptions(args.fraction, args.seed)),
        hypotheses=hyp,
        evaluation=_evaluation_options(args),
        thresholds=Thresholds(args.max_wer, args.max_slice_wer, args.min_slice_utterances),
        workspace=args.workspace,
        strict=args.hyp_strict,
    )
    result = api.score(request.hypotheses, request=request, progress=ConsoleProgress()).detail
    facts = result.report["data"]
    excluded = ", ".join(f"{d.excluded} rows excluded from {Path(d.source).name}" for d in result.data.datasets)
    print(f"run {result.run_id}: {facts['utterances_scored']} utterances ({excluded}), held-out id {result.report['heldout_id'][:19]}…")
    print(f"covered: {result.scores.coverage.describe()} ({result.scores.coverage.to_dict()['rule']})")
    for note in result.scores.notes:
        print(f"note: {note}")
    print()
    print(format_table(result.evaluation.normalized, result.evaluation.raw))
    _print_problems(result.data.problems, 10, "Data problems")
    _print_problems(result.hypothesis_problems, 10, "Hypothesis problems")
    for note in result.data.split.notes if args.part != "all" else ():
        print(f"note: {note}")
    _write_outputs(args, result.report, result.evaluation.normalized, result.evaluation.raw, f"Scores of run {result.run_id}", _facts(result.report))
    return _exit_for(result.missed)


def _exit_for(missed) -> int:
    """THRESHOLD_MISSED, after saying which targets, or OK."""
    if not missed:
        return ExitCode.OK
    print("\nTARGET MISSED:")
    for line in missed:
        print(f"  {line}")
    return ExitCode.THRESHOLD_MISSED


def _check_outputs(args, workspace_reports: bool = False) -> None:
    """Every output path must be writable BEFORE the work starts (a run is not stored as
    succeeded and then lost to an unwritable --json)."""
    from .atomic import check_writable

    for name in ("json", "markdown", "html"):
        if getattr(args, name, None):
            check_writable(getattr(args, name))
    explicit = any(getattr(args, name, None) for name in ("json", "markdown", "html"))
    if workspace_reports == "always" or (workspace_reports and not explicit):
        check_writable(Path(args.workspace) / "reports" / "probe.json")


def _write_outputs(args, report, normalized, raw, title, facts) -> None:
    if getattr(args, "json", None):
        write_json(args.json, report)
        print(f"wrote {args.json}")
    if getattr(args, "markdown", None):
        notes = list(report.get("thresholds", {}).get("missed", []))
        write_markdown(args.markdown, to_markdown(title, normalized, raw, facts, [f"target missed: {m}" for m in notes]))
        print(f"wrote {args.markdown}")


def cmd_runs_list(args) -> int:
    if not (Path(args.workspace) / "runs.sqlite").is_file():
        print(f"no runs yet in {args.workspace}")
        return ExitCode.OK
    with RunStore(args.workspace, read_only=True) as store:
        records = store.runs(args.limit)
    if not records:
        print(f"no runs yet in {args.workspace}")
        return ExitCode.OK
    print(f"{'run':<22}  {'kind':<8}  {'status':<11}  {'utts':>5}  {'WER %':>7}  normalizer   created")
    for r in records:
        wer = pct(r.summary.get("wer")) if r.summary else "—"
        print(f"{r.id:<22}  {r.kind:<8}  {r.effective_status:<11}  {r.heldout_size or 0:>5}  {wer:>7}  {r.normalizer or '—':<11}  {r.created_at}")
    return ExitCode.OK


def cmd_runs_show(args) -> int:
    _check_outputs(args)
    with RunStore(args.workspace, read_only=True) as store:
        record = store.run(args.run)
        scores = store.scores(record.id)
        versions = store.score_versions(record.id)
    print(f"run {record.id} ({record.kind}): {record.effective_status}, created {record.created_at}, finished {record.finished_at or '—'}")
    if record.error:
        print(f"error: {record.error}")
    print(f"held-out id {record.heldout_id} ({record.heldout_size} utterances); commit {record.git_commit or '—'}")
    cpu = (record.environment or {}).get("cpu") or {}
    kernels = (record.environment or {}).get("kernels") or {}
    if cpu or kernels:
        print(f"machine: {cpu.get('model', '—')}; kernels: {kernels.get('summary', '—')}")
    identity = (record.config or {}).get("identity")
    if identity:
        print(f"identity {identity['digest']}")
        for key, value in sorted(identity.get("parts", {}).items()):
            print(f"  {key}: {json.dumps(value, sort_keys=True)[:160]}")
    coverage = (record.summary or {}).get("coverage")
    if coverage:
        print(f"coverage: {coverage['rule']}: {coverage['speech_scored']} speech scored, {coverage['no_speech_clips']} no-speech, "
              f"{coverage['failed']} failed, {coverage['missing']} missing")
    for version, created, note, normalizers in versions:
        print(f"scorecard v{version} ({created}): {', '.join(normalizers)}" + (f" — {note}" if note else ""))
    normalizer = args.normalizer or record.normalizer
    if normalizer not in scores:
        print(f"no stored scores for {normalizer} (stored: {', '.join(scores) or 'none'})")
        return ExitCode.OK if record.status != "succeeded" else ExitCode.BAD_INPUT
    normalized = scorecard_from_dict(scores[normalizer])
    raw = scorecard_from_dict(scores.get("raw@1", scores[normalizer]))
    print()
    print(format_table(normalized, raw))
    report = {"run_id": record.id, "kind": record.kind, "status": record.effective_status, "heldout_id": record.heldout_id,
              "identity": identity, "coverage": coverage, "config": record.config,
              "environment": record.environment, "git_commit": record.git_commit, "timings": record.timings,
              "scores": {"normalized": scorecard_to_dict(normalized), "raw": scorecard_to_dict(raw)}}
    _write_outputs(args, report, normalized, raw, f"Scores of run {record.id}", _facts(report))
    return ExitCode.OK


def cmd_rescore(args) -> int:
    _check_outputs(args)
    from .service import rescore_run

    options = _evaluation_options(args)
    result = rescore_run(args.run, args.workspace, args.normalizer, tuple(args.slices), options.bootstrap)
    evaluation = result.evaluation
    added = f"scorecard version {result.version} added" if result.version else "identical to the stored scores (nothing added)"
    print(f"run {result.run_id}: rescored from stored hypotheses with {evaluation.normalized.normalizer}; {added}")
    print(f"covered: {result.scores.coverage.describe()}\n")
    print(format_table(evaluation.normalized, evaluation.raw))
    for note in result.scores.notes:
        print(f"note: {note}")
    report = {"run_id": result.run_id, "kind": "rescore", "scorecard_version": result.version, **result.scores.to_dict()}
    _write_outputs(args, report, evaluation.normalized, evaluation.raw, f"Rescored run {result.run_id}", [("run", result.run_id)])
    return ExitCode.OK


def _bench_request(args):
    from .backends import DecodingOptions
    from .bench import BenchRequest, demo_manifest
    from .service import DataSelection

    data = args.data
    if getattr(args, "longform", False):
        if data is not None or args.test is not None:
            raise BadInputError("--longform: the embedded long-form demo; leave out --data/--test")
        from .bench import longform_manifest

        data, args.part = longform_manifest(), "all"  # recordings, not a split: all of them are scored
        print(f"(--longform: the embedded long-form demo, SYNTHETIC speech: {data})")
    elif data is None and args.test is None:
        data = demo_manifest()
        print(f"(no --data: the embedded demo corpus, SYNTHETIC speech: {data})")
    decoding = DecodingOptions(
        beam_size=args.beam_size,
        temperature=args.temperature,
        initial_prompt=args.initial_prompt,
        hotwords=args.hotwords,
        language=args.force_language,
        detect_language=not args.no_lid,
        batch_size=args.batch_size,
        compute_type=args.compute_type,
        threads=args.threads,
        device=args.device,
        word_confidence=not getattr(args, "no_word_confidence", False),
    )
    return BenchRequest(
        selection=DataSelection(data, args.test, args.part, _load_options(args), SplitOptions(args.fraction, args.seed)),
        model=args.model,
        backend=args.backend,
        decoding=decoding,
        evaluation=_evaluation_options(args),
        thresholds=Thresholds(args.max_wer, args.max_slice_wer, args.min_slice_utterances),
        workspace=args.workspace,
        resume=not args.fresh,
        limit=args.limit,
        strategy_options=_strategy_options(args),
        engine=_engine_options(args),
    )


def _engine_options(args):
    """--engine and its options; the Ray-only ones refused, naming the flag, without --engine ray."""
    from .engine import EngineOptions

    if getattr(args, "engine", "local") != "ray":
        for flag, value in (("--address", args.address), ("--workers", args.workers), ("--gpus-per-worker", args.gpus_per_worker)):
            if value:
                raise BadInputError(f"{flag}: only with --engine ray")
        return EngineOptions()
    try:
        return EngineOptions("ray", args.address, args.workers, args.gpus_per_worker)
    except ValueError as exc:
        raise BadInputError(f"--engine ray: {exc}") from None


def _strategy_options(args) -> tuple[tuple[str, str], ...]:
    """--set KEY=VALUE pairs, checked before anything is decoded: an unknown key, a bad
    value or an option of no strategy being run is a one-line error, not a wasted run."""
    options = tuple(getattr(args, "strategy_options", None) or ())
    if options:
        import strategies

        if args.command == "escalate":
            specs = strategies.ladder()
        else:
            specs = tuple(getattr(args, "strategies", ()) or ()) if args.command == "bench" else ()
        strategies.check_overrides(specs or ("baseline",), options)
    return options


def _default_report_paths(args, run_id: str) -> None:
    """Every bench run writes its reports into the workspace, besides any --json/--markdown."""
    folder = Path(args.workspace) / "reports"
    args.json = args.json or str(folder / f"{run_id}.json")
    args.markdown = args.markdown or str(folder / f"{run_id}.md")


def cmd_bench(args) -> int:
    _check_outputs(args, workspace_reports="always")
    from . import api

    if args.strategies and tuple(args.strategies) != ("baseline",):
        return cmd_compare(args)
    result = api.bench(request=_bench_request(args), progress=ConsoleProgress()).detail
    _print_bench(result)
    _default_report_paths(args, result.run_id)
    facts = _facts(result.report) + [("model", f"{result.report['model']} ({result.report['backend']})")]
    notes = [f"target missed: {m}" for m in result.missed]
    notes += [f"covered: {result.coverage.describe()} ({result.report['coverage']['rule']})"] if result.coverage else []
    notes += [f"excluded or flagged: {p}" for p in (*result.data.problems, *result.failed)]
    if result.report.get("synthetic_data"):
        notes.insert(0, "The embedded demo corpus is SYNTHETIC speech (text-to-speech), not recordings of people.")
    write_json(args.json, result.report)
    markdown = to_markdown(f"Baseline: {result.report['model']} on held-out data", result.evaluation.normalized, result.evaluation.raw, facts, notes)
    if result.report.get("longform"):
        from .console_format import format_longform

        markdown += "\n## Long recordings\n\n```\n" + format_longform(result.report["longform"]) + "\n```\n"
    write_markdown(args.markdown, markdown)
    print(f"\nwrote {args.json} and {args.markdown}")
    return _exit_for(result.missed)


def cmd_compare(args) -> int:
    from . import api
    from .strategy_runs import ComparisonRequest

    request = ComparisonRequest(_bench_request(args), tuple(args.strategies), args.lexicon, args.mine)
    comparison = api.compare_strategies(request=request, progress=ConsoleProgress()).detail
    text = format_comparison(comparison)
    print(text)
    _print_problems(comparison.data_problems, 10, "Data problems")
    _print_problems(comparison.lexicon_problems, 10, f"Lexicon problems ({args.lexicon})")
    folder = Path(args.workspace) / "reports"
    stamp = comparison.outcomes[0].result.run_id
    args.json = args.json or str(folder / f"compare-{stamp}.json")
    args.markdown = args.markdown or str(folder / f"compare-{stamp}.md")
    write_json(args.json, comparison_dict(comparison))
    listed = [f"- {p}" for p in (*comparison.data_problems, *comparison.lexicon_problems)]
    write_markdown(args.markdown, "# Strategy comparison\n\n```\n" + text + "\n```\n"
                   + (f"\n## Excluded or flagged rows ({len(listed)})\n\n" + "\n".join(listed) + "\n" if listed else ""))
    print(f"\nwrote {args.json} and {args.markdown}")
    return ExitCode.OK


def cmd_parity(args) -> int:
    _check_outputs(args)
    if args.forms is not None:
        return _forms_parity(args)
    from .bench import run_parity

    if len(args.backends) != 2:
        raise BadInputError(f"--backends: name exactly two backends, got {','.join(args.backends)!r}")
    parity = run_parity(_bench_request(args), tuple(args.backends), ConsoleProgress())
    first, second = parity.runs
    n = len(first.evaluation.per_utterance)
    print(f"\n{args.backends[0]:<16} run {first.run_id}: WER {pct(first.evaluation.normalized.overall.wer)}%")
    print(f"{args.backends[1]:<16} run {second.run_id}: WER {pct(second.evaluation.normalized.overall.wer)}%")
    print(f"difference ({args.backends[1]} − {args.backends[0]}): {100 * parity.wer_difference:+.2f} WER points; "
          f"{len(parity.disagreements)} of {n} utterances decoded differently (normalized)")
    for utt_id, ref, a, b in parity.disagreements[: args.show]:
        print(f"\n  {utt_id}\n    ref: {ref}\n    {args.backends[0]}: {a}\n    {args.backends[1]}: {b}")
    if args.json:
        write_json(args.json, {"backends": list(args.backends), "runs": [first.run_id, second.run_id],
                               "wer": [first.evaluation.normalized.overall.wer, second.evaluation.normalized.overall.wer],
                               "wer_difference": parity.wer_difference,
                               "disagreements": [dict(zip(("id", "reference", args.backends[0], args.backends[1]), d)) for d in parity.disagreements]})
        print(f"wrote {args.json}")
    return ExitCode.OK


def cmd_export(args) -> int:
    from . import api

    result = api.export(args.run, args.format, args.output, workspace=args.workspace, normalized=args.normalized)
    print(f"run {result.run_id}: {result.written} utterances written as {result.format} to {', '.join(result.paths)}")
    for note in result.notes:
        print(f"note: {note}")
    if result.skipped:
        print(f"left out {len(result.skipped)} utterances:")
        for utt_id, why in result.skipped[:10]:
            print(f"  {utt_id}: {why}")
        if len(result.skipped) > 10:
            print(f"  ... and {len(result.skipped) - 10} more")
    return ExitCode.OK


def _forms_parity(args) -> int:
    """`workbench parity --forms`: each shipped form against the model as trained."""
    from .deployment import prepare_forms, run_forms_parity
    from .escalation import parity_lines
    from .escalation_config import Targets
    from .policy import parity_misses

    if args.max_parity_wer_rise is not None and args.max_parity_wer_rise < 0:
        raise BadInputError(f"--max-parity-wer-rise: must be at least 0, got {args.max_parity_wer_rise:g}")
    request = _bench_request(args)
    with _graceful_interrupt() as cancel:
        reference, forms = prepare_forms(args.model, tuple(args.forms), args.export_dir, args.workspace, ConsoleProgress())
        parity = run_forms_parity(request, reference, forms, ConsoleProgress(), cancel)
    data = parity.to_dict()
    print()
    for line in parity_lines(data):
        print(line)
    refused = ()
    if args.max_parity_wer_rise is not None:
        targets = Targets(max_parity_wer_rise=args.max_parity_wer_rise, min_slice_utterances=args.min_slice_utterances)
        refused = parity_misses(parity.figures(), targets)
        for miss in refused:
            print(f"  - {miss.describe()}")
        if not refused:
            print(f"no form is significantly worse than the model as trained by more than {args.max_parity_wer_rise:g} WER points")
    if args.json:
        write_json(args.json, {**data, "max_parity_wer_rise": args.max_parity_wer_rise,
                               "refused": [m.describe() for m in refused]})
        print(f"wrote {args.json}")
    return ExitCode.REGRESSION if refused else ExitCode.OK


def cmd_normalizers(args) -> int:
    for n in available_normalizers():
        print(f"{n.id:<22} {n.description}")
    return ExitCode.OK


def _input_problems(bench, lexicon: str | None) -> tuple[tuple, tuple]:
    """Print, before a long job, every excluded data row and dropped lexicon row: none of
    them may vanish silently. Returns (data problems, lexicon problems)."""
    from .service import select_data

    data = select_data(bench.selection).problems
    lexicon_problems = ()
    if lexicon:
        from .lexicon import load_lexicon

        lexicon_problems = tuple(load_lexicon(lexicon).problems)
    _print_problems(data, 10, "Data problems")
    _print_problems(lexicon_problems, 10, f"Lexicon problems ({lexicon})")
    return tuple(data), lexicon_problems


def cmd_escalate(args) -> int:
    from dataclasses import replace as _replace

    from .escalation import EscalationRequest, run_escalation
    from .escalation_config import EscalationConfig, default_config_text, load_config

    if args.print_config:
        print(default_config_text(), end="")
        return ExitCode.OK
    config = load_config(args.config) if args.config else EscalationConfig()
    # Command-line options win over the config file.
    targets = config.targets
    overrides = {k: v for k, v in (("max_wer", args.max_wer), ("max_slice_wer", args.max_slice_wer),
                                   ("max_regression", args.max_regression), ("min_slice_utterances", args.min_slice_utterances))
                 if v is not None}
    config = _replace(config, targets=_replace(targets, **overrides), model=args.model or config.model,
                      lexicon=args.lexicon or config.lexicon)
    # Strategy options: the config's [strategies] table, then --set (the command line wins).
    if config.strategies:
        args.strategy_options = [*config.strategies, *(getattr(args, "strategy_options", None) or [])]
    if args.data is None and args.test is None and config.data:
        args.data = config.data
    args.model = config.model
    args.min_slice_utterances = config.targets.min_slice_utterances
    bench = _bench_request(args)
    out = args.out or str(Path(args.workspace) / "escalation")
    request = EscalationRequest(config, bench, out, allow_cpu=args.allow_cpu)
    problems = _input_problems(bench, config.lexicon)
    with _graceful_interrupt() as cancel:
        escalation = run_escalation(request, ConsoleProgress(), report=lambda line: print(line, flush=True),
                                    cancel=cancel, on_train_event=_print_train_event)
    for line in escalation.skipped:
        print(f"skipped {line}")
    summary = {
        "final": {"action": escalation.final.action, "rung": escalation.final.rung, "met": escalation.final.met,
                  "next_rung": escalation.final.next_rung, "explanation": escalation.final.explain()},
        "rungs": [
            {"rung": o.rung, "run": o.run_id, "action": o.decision.action, "met": o.decision.met,
             "misses": [m.describe() for m in o.decision.misses], "guard": list(o.guard), "train": o.train,
             "parity": o.parity, "retention_run": o.retention_run,
             "slices": [vars(f) for f in o.scores.slices]}
            for o in escalation.outcomes
        ],
        "training_config": escalation.training_config,
        "command": escalation.command,
        "skipped": list(escalation.skipped),
        "config": args.config,
        "data_problems": [str(p) for p in problems[0]],
        "lexicon_problems": [str(p) for p in problems[1]],
    }
    path = args.json or str(Path(out) / "escalation.json")
    write_json(path, summary)
    print(f"\nwrote {path}")
    return _escalation_exit(escalation)


def _report_options(args):
    from .regression import ReportOptions

    return ReportOptions(
        tolerance_pp=args.tolerance,
        min_utterances=args.min_utterances,
        normalizer=args.normalizer,
        slice_columns=tuple(args.slices),
        only=tuple(args.only),
        cluster=args.cluster,
        bootstrap=BootstrapOptions(args.bootstrap, args.confidence, args.bootstrap_seed),
    )


def _default_candidates(workspace: str, baseline: str | None) -> tuple[str, list[str]]:
    """The latest comparison's baseline and every succeeded run after it on the same held-out part."""
    from . import session

    baseline = baseline or session.latest_baseline(workspace, with_later_runs=True)
    if baseline is None:
        raise BadInputError(f"{workspace}: no baseline run with later runs on the same held-out part; name the runs to compare")
    board = session.leaderboard(workspace, baseline)
    later = [r.id for r in board.runs if r.id != board.baseline]
    if not later:
        raise BadInputError(f"{workspace}: no run after baseline {board.baseline} on the same held-out part to compare with it")
    return board.baseline, later


def _baseline_for(workspace: str, runs: list[str]) -> str:
    from .runstore import RunStore

    with RunStore(workspace) as store:
        bases = {(store.run(store.resolve(r)).config or {}).get("base_run") for r in runs}
    if len(bases) == 1 and None not in bases:
        return bases.pop()
    raise BadInputError("--baseline is needed: the runs do not name one common base run")


def cmd_report(args) -> int:
    _check_outputs(args, workspace_reports=True)
    if args.runs:
        baseline, candidates = args.baseline or _baseline_for(args.workspace, args.runs), list(args.runs)
    else:
        baseline, candidates = _default_candidates(args.workspace, args.baseline)
    return _write_regression_report(args, baseline, candidates)


def cmd_compare_runs(args) -> int:
    _check_outputs(args, workspace_reports=True)
    return _write_regression_report(args, args.run_a, [args.run_b])


def _write_regression_report(args, baseline: str, candidates: list[str]) -> int:
    from . import api
    from .reports_html import render_html
    from .reports_markdown import render_markdown

    options = _report_options(args)
    if args.fail_on_regression and options.bootstrap.resamples == 0:
        # Without resamples no change can be significant, so nothing could ever fail the gate.
        raise BadInputError("--fail-on-regression needs --bootstrap > 0: without intervals no regression can be detected")
    report = api.compare(baseline, candidates, workspace=args.workspace, options=options).report
    if getattr(args, "review", None):
        from .review import review_report

        # What an hour of human review buys on the baseline (simulated), beside the strategies.
        report["review"] = review_report(args.workspace, report["baseline"]["id"], args.review)
    text = render_markdown(report)
    print(text)
    stem = Path(args.workspace) / "reports" / f"regression-{report['baseline']['id']}"
    paths = {
        "json": args.json or (None if (args.markdown or args.html) else f"{stem}.json"),
        "markdown": args.markdown or (None if (args.json or args.html) else f"{stem}.md"),
        "html": args.html or (None if (args.json or args.markdown) else f"{stem}.html"),
    }
    if paths["json"]:
        write_json(paths["json"], report)
    if paths["markdown"]:
        write_markdown(paths["markdown"], text)
    if paths["html"]:
        write_markdown(paths["html"], render_html(report))
    print("wrote " + ", ".join(p for p in paths.values() if p))
    if args.fail_on_regression and report["regressed"]:
        return ExitCode.REGRESSION
    return ExitCode.OK


def cmd_train(args) -> int:
    from .bench import demo_manifest
    from .escalation_config import EscalationConfig, load_config
    from .service import DataSelection, select_data
    from .training import TrainRequest, train

    config = load_config(args.config) if args.config else EscalationConfig()
    data = args.data or config.data or str(demo_manifest())
    selection = DataSelection(data, None, "train", _load_options(args), SplitOptions(args.fraction, args.seed))
    selected = select_data(selection, ConsoleProgress())
    utterances = selected.utterances
    # The held-out part of the same split travels with the request, so the training record
    # names it and an overlap (by id) is refused before anything loads.
    request = TrainRequest(args.method, args.model or config.model, tuple(utterances), args.out, config.training,
                           allow_cpu=args.allow_cpu, resume=not args.fresh, heldout_id=selected.split.heldout_id,
                           heldout_ids=tuple(u.id for u in selected.split.heldout))
    with _graceful_interrupt() as cancel:
        result = train(request, ConsoleProgress(), _print_train_event, cancel)
    if result is None:  # not the main process of a multi-GPU launch
        return ExitCode.OK
    print(f"trained {result.method} for {result.steps} steps ({result.epochs:.2f} epochs) in {result.wall_s:.0f} s on "
          f"{result.device} ({result.precision}); best validation WER "
          f"{'n/a' if result.best_validation_wer is None else f'{result.best_validation_wer:.1f}%'}")
    print(f"model: {result.model_dir}\nctranslate2: {result.ct2_dir}\nscore it: workbench bench --data {data} --model {result.ct2_dir}")
    if result.forms:
        print(f"shipped forms: {', '.join(result.forms.values())}\nmodel card: README.md in each folder\n"
              f"check them against the model as trained: workbench parity --forms '' --data {data} --model {args.out}")
    return ExitCode.OK


def cmd_review(args) -> int:
    if args.run == "import":
        return cmd_review_import(args)
    for name in ("corrections", "import_run", "to_manifest"):
        if getattr(args, name):
            flag = "CORRECTIONS" if name == "corrections" else "--" + name.replace("import_", "").replace("_", "-")
            raise BadInputError(f"{flag}: only with `workbench review import CORRECTIONS --run RUN`")
    from .atomic import check_writable
    from .review import parse_budget, review_report, review_run
    from .review_io import export_queue
    from .reports_html import render_review_html
    from .reports_markdown import render_review_markdown

    if not 0 <= args.suspect_confidence <= 1:
        raise BadInputError(f"--suspect-confidence: expected a probability in [0, 1], got {args.suspect_confidence:g}")
    budget = parse_budget(args.budget)
    _check_outputs(args, workspace_reports=True)
    if args.export:
        check_writable(args.export)
    analysis = review_run(args.workspace, args.run, budget, args.calibrate_on, args.calibration,
                          suspect_confidence=args.suspect_confidence)
    report = review_report(args.workspace, analysis.run_id, budget, analysis=analysis, head=max(args.show, 20))
    _print_review(analysis, args.show)
    if args.export:
        items = analysis.queue.within(budget)
        fmt = args.format
        path = export_queue(items, args.export, fmt, run_id=analysis.run_id)
        print(f"\nexported {len(items)} utterances (the queue within the budget, in queue order) to {path}")
    stem = Path(args.workspace) / "reports" / f"review-{analysis.run_id}"
    explicit = args.json or args.markdown or args.html
    paths = {"json": args.json or (None if explicit else f"{stem}.json"),
             "markdown": args.markdown or (None if explicit else f"{stem}.md"),
             "html": args.html or (None if explicit else f"{stem}.html")}
    if paths["json"]:
        write_json(paths["json"], report)
    if paths["markdown"]:
        write_markdown(paths["markdown"], render_review_markdown(report))
    if paths["html"]:
        write_markdown(paths["html"], render_review_html(report))
    print("wrote " + ", ".join(p for p in paths.values() if p))
    return ExitCode.OK


def cmd_review_import(args) -> int:
    from .review_io import import_corrections

    if not args.corrections or not args.import_run:
        raise BadInputError("usage: workbench review import CORRECTIONS --run RUN [--to-manifest PATH]")
    result = import_corrections(args.workspace, args.import_run, args.corrections, args.to_manifest, ConsoleProgress())
    print(f"imported {result.reviewed} reviewed utterances ({result.changed} changed) of run {result.base_run} "
          f"from {args.corrections}")
    print(f"stored as run {result.run_id} (derived from {result.base_run}, scored like any run): "
          f"WER {pct(None if result.wer_before is None else result.wer_before / 100)}% -> "
          f"{pct(None if result.wer_after is None else result.wer_after / 100)}%")
    if result.manifest:
        print(f"wrote {result.manifest}: the {result.reviewed} reviewed utterances as a training manifest "
              f"(id, audio, text, slices; source = \"review of run {result.base_run}\")")
        if result.base_part in (None, "heldout", "all"):
            print(f"note: run {result.base_run} transcribed the held-out part: training on these utterances leaks them "
                  "into training, and the held-out part no longer judges the trained model fairly")
    return ExitCode.OK


def cmd_tui(args) -> int:
    from .tui import TuiOptions, run_tui  # the only place the command line imports Textual

    options = TuiOptions(workspace=args.workspace, data=args.data, lexicon=args.lexicon, model=args.model,
                         limit=args.limit, config=args.config, allow_cpu=args.allow_cpu)
    return run_tui(options)


class _graceful_interrupt:
    """The first Ctrl-C asks the job to stop after its current step or clip (a training
    checkpoint is saved, finished clips are kept); a second one stops at once."""

    def __enter__(self):
        import signal
        import threading

        self.event = threading.Event()
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self.event

    def _handle(self, signum, frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print("\nstopping after the current step; Ctrl-C again to stop at once", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self.previous is not None:
            import signal

            signal.signal(signal.SIGINT, self.previous)
        return False


def _escalation_exit(escalation) -> int:
    final = escalation.final
    if final.action == "stop":
        return ExitCode.OK
    if final.action == "needs_gpu":
        return ExitCode.NEEDS_GPU
    regressed = any(m.target == "max_regression" for m in final.misses) or any(o.guard for o in escalation.outcomes[-1:])
    return ExitCode.REGRESSION if regressed else ExitCode.THRESHOLD_MISSED


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv or ["tui"])  # `workbench` alone opens the interactive workbench
    handler = {
        ("data", "inspect"): cmd_data_inspect,
        ("score", None): cmd_score,
        ("runs", "list"): cmd_runs_list,
        ("runs", "show"): cmd_runs_show,
        ("rescore", None): cmd_rescore,
        ("bench", None): cmd_bench,
        ("parity", None): cmd_parity,
        ("normalizers", None): cmd_normalizers,
        ("export", None): cmd_export,
        ("escalate", None): cmd_escalate,
        ("train", None): cmd_train,
        ("report", None): cmd_report,
        ("compare", None): cmd_compare_runs,
        ("tui", None): cmd_tui,
        ("review", None): cmd_review,
    }[(args.command, getattr(args, "data_command", None) or getattr(args, "runs_command", None))]
    try:
        try:
            return int(handler(args))
        finally:
            close_progress()  # the bars end before an error or "cancelled" is printed below them
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except ValueError as exc:  # option dataclasses validate once and quote the bad value
        print(f"error: {exc}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return int(ExitCode.CANCELLED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except OSError as exc:  # a full disk, a folder that vanished: one line naming the path, not a traceback
        where = exc.filename or "a file"
        print(f"error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)


if __name__ == "__main__":
    sys.exit(main())
