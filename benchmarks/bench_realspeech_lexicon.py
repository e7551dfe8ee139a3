#!/usr/bin/env python3
"""Benchmark: the cheap strategies on real recorded speech with a proper-noun lexicon.

The English read sentences of ``../shared/realspeech-dev`` (one US speaker reading CMU
ARCTIC prompts, 200 utterances) are full of names: "Gregson", "Lake Linderman",
"Pasquini", "Waikiki Beach". `benchmarks/data/realspeech_proper_nouns.csv` lists the
proper nouns of those prompts (54 terms, written by hand from the prompts: sentence-initial
ordinary words left out). This script:

1. writes a manifest of those 200 rows (absolute audio paths) to a temporary folder;
2. runs ``workbench bench --strategies baseline,lexicon,prompt,lexicon+prompt --lexicon
   benchmarks/data/realspeech_proper_nouns.csv --mine`` on it with the workbench's own
   split (one speaker: split by utterance; ``--fraction 0.5``, so that the held-out part
   holds enough names to count), so the held-out part is scored and only the train
   part is mined;
3. prints the comparison (WER per strategy with the paired change, term recall and
   precision, over-correction, replacements) exactly as the CLI does.

Note what this can and cannot show: every name is in the lexicon, so the lexicon
strategy is the upper bound of a hand-made name list; most names occur once, so mining
the train part learns little for the held-out part.

How to run (from the repository root, in the project's venv)::

    . .venv/bin/activate
    python benchmarks/bench_realspeech_lexicon.py             # base, about 4 minutes on 2 cores
    python benchmarks/bench_realspeech_lexicon.py --model tiny.en

The exit status is the CLI's.
"""

import argparse
import csv
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "realspeech-dev"
LEXICON = ROOT / "benchmarks" / "data" / "realspeech_proper_nouns.csv"
ACCENT = "en-US (native)"  # the read sentences; the other English rows are isolated digits


def write_manifest(data: Path, out: Path) -> int:
    with open(data / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["accent"] == ACCENT and r["language"] == "en"]
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["audio", "transcription", "accent", "language", "speaker"])
        writer.writeheader()
        for r in rows:
            writer.writerow({
                "audio": str((data / r["audio"]).resolve()),
                "transcription": r["transcription"],
                "accent": r["accent"],
                "language": r["language"],
                "speaker": r["speaker"],
            })
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the realspeech-dev folder")
    parser.add_argument("--model", default="base")
    parser.add_argument("--fraction", default="0.5", help="held-out share (default 0.5)")
    parser.add_argument("--workspace", default=None, help="run store (default: a temporary folder)")
    parser.add_argument("--markdown", default=None, help="also write the report here")
    args = parser.parse_args()
    if not (args.data / "manifest.csv").is_file():
        print(f"{args.data}/manifest.csv: not found (realspeech-dev is not beside the project)", file=sys.stderr)
        return 2

    sys.path.insert(0, str(ROOT))
    from workbench.cli import main as cli

    with tempfile.TemporaryDirectory(prefix="rs-lexicon-") as tmp:
        manifest = Path(tmp) / "read-en.csv"
        n = write_manifest(args.data, manifest)
        print(f"{n} utterances ({ACCENT}, read sentences); lexicon {LEXICON.relative_to(ROOT)}", flush=True)
        argv = [
            "bench", "--data", str(manifest), "--model", args.model,
            "--strategies", "baseline,lexicon,prompt,lexicon+prompt",
            "--lexicon", str(LEXICON), "--mine", "--fraction", args.fraction,
            "--workspace", args.workspace or str(Path(tmp) / "ws"),
        ]
        if args.markdown:
            argv += ["--markdown", args.markdown]
        return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
