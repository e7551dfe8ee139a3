#!/usr/bin/env python3
"""Benchmark: the cheap rungs side by side, WER per accent and decoding time, in one run.

For the embedded demo corpus (clinical dictation and general speech, five English accents
and five other languages, the shipped 211-term lexicon) and, when it is beside the
project, `../shared/realspeech-dev` (real recordings: 200 read US-English sentences full
of names with the 54-name lexicon of `benchmarks/data/realspeech_proper_nouns.csv`, plus
spoken digits in four accents that hold no term at all), this runs

    baseline, lexicon, lexicon+prompt, lexicon+nbest, lexicon+bias, lexicon+nbest+bias

through the one comparison path (`workbench.strategy_runs.run_comparison`, misrecognitions
mined from the train part only) with every decoding made fresh in this run, so the
decoding times are measured side by side on the same machine at the same load. It prints,
per corpus: WER per accent (and per accent and domain on the demo) for every strategy,
term recall, words broken, and the decoding seconds of each strategy with its ratio to
the baseline's (the two-pass strategies' first pass included).

    python benchmarks/bench_cheap_rungs.py                 # base; ~15 min on 2 cores
    python benchmarks/bench_cheap_rungs.py --corpus demo   # the demo corpus only
    python benchmarks/bench_cheap_rungs.py --workspace .workbench  # keep the runs (the train runs mined from are reused)

Results are recorded in benchmarks/README.md ("The cheap rungs, per accent").
"""

import argparse
import csv
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REALSPEECH = ROOT.parent / "shared" / "realspeech-dev"
SPECS = ("baseline", "lexicon", "lexicon+prompt", "lexicon+nbest", "lexicon+bias", "lexicon+nbest+bias")


def realspeech_manifest(data: Path, out: Path) -> int:
    """The English rows: read sentences (domain "names") and spoken digits (domain "digits")."""
    with open(data / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["language"] == "en"]
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["audio", "transcription", "accent", "language", "speaker", "domain"])
        writer.writeheader()
        for r in rows:
            writer.writerow({"audio": str((data / r["audio"]).resolve()), "transcription": r["transcription"],
                             "accent": r["accent"], "language": "en", "speaker": r["speaker"],
                             "domain": "names" if r["accent"] == "en-US (native)" else "digits"})
    return len(rows)


def run_corpus(name: str, manifest: str, lexicon: str, model: str, workspace: str, split: dict, load: dict | None = None) -> None:
    from workbench.bench import BenchRequest
    from workbench.console_format import format_comparison
    from workbench.evaluation import EvaluationOptions
    from workbench.service import DataSelection
    from workbench.split import SplitOptions
    from workbench.strategy_runs import ComparisonRequest, run_comparison

    selection = DataSelection(manifest, part="heldout")
    if split:
        selection = replace(selection, split=replace(SplitOptions(), **split))
    if load:
        selection = replace(selection, load=replace(selection.load, **load))
    bench = BenchRequest(selection, model=model, workspace=workspace, resume=False,
                         evaluation=EvaluationOptions(slice_columns=("accent", "domain", "accent*domain")))
    started = time.perf_counter()
    comparison = run_comparison(ComparisonRequest(bench, SPECS, lexicon, mine=True))
    wall = time.perf_counter() - started
    print(f"\n=== {name}: {manifest} (model {model}, lexicon {lexicon}) — {wall:.0f} s in all\n")
    print(format_comparison(comparison))
    base = comparison.outcomes[0].cost or {}
    print("\nDecoding cost side by side (fresh decodes in this run):")
    print(f"{'strategy':<22} {'decode s':>9} {'x baseline':>10} {'RTF':>7} {'decoded again':>13}")
    for o in comparison.outcomes:
        c = o.cost or {}
        total = c.get("decode_s", 0.0) + c.get("post_s", 0.0)
        ratio = total / base["decode_s"] if base.get("decode_s") else None
        print(f"{o.spec:<22} {total:>9.1f} {ratio if ratio is None else f'{ratio:.2f}':>10} "
              f"{c.get('real_time_factor') or 0:>7.3f} {c.get('decoded_again') if c.get('decoded_again') is not None else '—':>13}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--corpus", choices=("all", "demo", "realspeech"), default="all")
    parser.add_argument("--realspeech", type=Path, default=REALSPEECH)
    parser.add_argument("--workspace", default=None, help="run store (default: a temporary folder)")
    args = parser.parse_args()
    from workbench.bench import demo_manifest

    with tempfile.TemporaryDirectory(prefix="cheap-rungs-") as tmp:
        workspace = args.workspace or str(Path(tmp) / "ws")
        if args.corpus in ("all", "demo"):
            demo = demo_manifest()
            run_corpus("demo corpus (synthetic)", demo, str(Path(demo).parent / "lexicon.csv"), args.model, workspace, {})
        if args.corpus in ("all", "realspeech"):
            if not (args.realspeech / "manifest.csv").is_file():
                print(f"\n{args.realspeech}: not found, the real-speech part is skipped", file=sys.stderr)
                return 0
            manifest = Path(tmp) / "realspeech-en.csv"
            n = realspeech_manifest(args.realspeech, manifest)
            print(f"\nrealspeech-dev: {n} English utterances (read sentences with names, spoken digits in four accents)")
            run_corpus("realspeech-dev (real recordings)", str(manifest), str(ROOT / "benchmarks" / "data" / "realspeech_proper_nouns.csv"),
                       args.model, workspace, {"fraction": 0.5}, {"min_duration_s": 0.2})  # spoken digits are 0.3-1 s
    return 0


if __name__ == "__main__":
    sys.exit(main())
