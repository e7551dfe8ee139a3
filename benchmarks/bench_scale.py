#!/usr/bin/env python3
"""Benchmark: `workbench score` of 10k, 30k and 100k utterances (8 accent slices), end to end.

What it measures
----------------
For each size it writes a deterministic synthetic corpus (seeded RNG, no decoding): a
manifest (id, audio, transcription, accent, language, speaker) and a hypotheses JSONL
with ~10-30 % word errors whose rate differs by accent, then runs the REAL command line,
`python -m workbench.entry score --data MANIFEST --hyp HYPS --workspace FRESH`, in a
subprocess, with the default 1,000 bootstrap resamples, the `auto` normalizer and the
default slices (accent: 8 values, language: 1; speaker has too many values to be one).
It reports, per size:

* wall time of the whole command (start of the interpreter to exit), and its CPU time
  (user + system, of the command and the worker processes it waited for): on a shared
  machine the CPU time says what the work costs when the wall time says how busy the
  machine was (the 1-minute load average is printed beside it);
* peak memory: the largest resident set of the command and of the processes it waited
  for (``os.wait4``'s ``ru_maxrss``, what ``/usr/bin/time -v`` prints);
* the workbench's own split (`timings.load_s`, `timings.score_s` from its JSON report).

Then the growth from the smallest to the largest size (time ratio / size ratio: 1.0 is
linear) and, with ``--parquet``, the largest size again from a Parquet manifest.

Every row names one of eight real WAV files written beside the manifest (one per
accent, 1.5-3 s), so the default ``--check-audio header`` reads a header per row, as it
would on a real corpus (from the page cache: the bench measures the workbench, not the
disk).

How to run (from the repository root)::

    python benchmarks/bench_scale.py                          # 10k, 30k, 100k + Parquet
    python benchmarks/bench_scale.py --sizes 10000 --no-parquet
    python benchmarks/bench_scale.py --tree ../main-checkout  # the same data, another checkout

``--tree`` runs the command with another checkout's code first on PYTHONPATH (what was
used for the "before" figures). BLAS/OpenMP threads are left as the workbench sets them.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ACCENTS = ("en-US", "en-GB", "en-IN", "Scottish", "Caribbean", "Nigerian", "Irish", "Australian")
# per-accent word error rate (substitutions + deletions + insertions), so slices differ
ACCENT_ERROR = dict(zip(ACCENTS, (0.08, 0.09, 0.14, 0.18, 0.22, 0.16, 0.12, 0.10)))
SPEAKERS = 2000
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "pl", "sh", "ch")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "nd", "st")
_FUNCTION_WORDS = ("the", "a", "and", "of", "to", "in", "is", "it", "that", "for", "on", "with", "mr", "doctor",
                   "two", "three", "seven", "twenty", "colour", "don't", "it's", "o'clock")


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words = list(_FUNCTION_WORDS)
    seen = set(words)
    while len(words) < size:
        word = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))] + _CODAS[rng.integers(len(_CODAS))]
                       for _ in range(int(rng.integers(2, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _written(words: list[str], ending: str) -> str:
    """Sentence casing and punctuation, as a transcript is written."""
    if not words:
        return ""
    return (words[0][:1].upper() + words[0][1:] + (" " if len(words) > 1 else "") + " ".join(words[1:]) + ending).strip()


def build_rows(n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """n manifest rows and their hypotheses, the same for the same (n, seed). Vectorised:
    100k rows take a few seconds."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng, 3000)
    zipf = 1.0 / (np.arange(len(vocab)) + 10.0)
    zipf /= zipf.sum()
    lengths = rng.integers(5, 26, size=n)
    total = int(lengths.sum())
    ref_words = rng.choice(len(vocab), size=total, p=zipf)
    subs_words = rng.choice(len(vocab), size=total, p=zipf)
    ins_words = rng.choice(len(vocab), size=total, p=zipf)
    draws = rng.random((total, 2))
    speakers = rng.integers(0, SPEAKERS, size=n)
    speaker_accent = rng.integers(0, len(ACCENTS), size=SPEAKERS)
    endings = rng.choice([".", "?", "!"], size=n, p=[0.85, 0.1, 0.05])
    cased = rng.random(n) < 0.7  # the rest of the hypotheses come lower-case, unpunctuated
    manifest, hypotheses = [], []
    at = 0
    for i in range(n):
        k = int(lengths[i])
        accent = ACCENTS[speaker_accent[speakers[i]]]
        rate = ACCENT_ERROR[accent]
        p_sub, p_del, p_ins = 0.6 * rate, 0.25 * rate, 0.15 * rate
        ref, hyp = [], []
        for j in range(at, at + k):
            word = vocab[ref_words[j]]
            ref.append(word)
            u, v = draws[j]
            if u < p_sub:
                hyp.append(vocab[subs_words[j]])
            elif u >= p_sub + p_del:
                hyp.append(word)
            if v < p_ins:
                hyp.append(vocab[ins_words[j]])
        at += k
        utt_id = f"utt{i:06d}"
        manifest.append({
            "id": utt_id,
            "audio": f"audio/{accent}.wav",
            "transcription": _written(ref, str(endings[i])),
            "accent": accent,
            "language": "en",
            "speaker": f"spk{speakers[i]:04d}",
        })
        hypotheses.append({"id": utt_id, "hypothesis": _written(hyp, str(endings[i])) if cased[i] else " ".join(hyp)})
    return manifest, hypotheses


def write_corpus(folder: Path, n: int, seed: int, parquet: bool = False) -> tuple[Path, Path]:
    """The manifest (CSV, or Parquet) and hypotheses JSONL of n rows, with the audio they name."""
    import csv

    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    tone = np.random.default_rng(seed)
    for k, accent in enumerate(ACCENTS):
        seconds = 1.5 + 0.2 * k
        t = np.arange(int(16_000 * seconds)) / 16_000
        samples = 0.2 * np.sin(2 * np.pi * (180 + 20 * k) * t) + 0.01 * tone.standard_normal(t.size)
        sf.write(folder / "audio" / f"{accent}.wav", samples.astype(np.float32), 16_000, subtype="PCM_16")
    rows, hyps = build_rows(n, seed)
    manifest = folder / ("manifest.parquet" if parquet else "manifest.csv")
    if parquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), manifest, row_group_size=10_000)
    else:
        with manifest.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    hyp_path = folder / "hypotheses.jsonl"
    with hyp_path.open("w", encoding="utf-8") as f:
        for h in hyps:
            f.write(json.dumps(h, ensure_ascii=False) + "\n")
    return manifest, hyp_path


def run_score(tree: Path, manifest: Path, hyps: Path, workspace: Path, resamples: int, extra: tuple[str, ...] = ()) -> dict:
    """One `workbench score` in a subprocess: wall seconds, peak RSS (MB) and its report."""
    report = workspace / "report.json"
    command = [sys.executable, "-m", "workbench.entry", "score", "--data", str(manifest), "--hyp", str(hyps),
               "--workspace", str(workspace), "--bootstrap", str(resamples), "--json", str(report), *extra]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 3):
        last = output.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        return {"failed": f"exit code {process.returncode}: {last[0][:200]}", "wall_s": wall}
    data = json.loads(report.read_text())
    normalized = data.get("scores", {}).get("normalized") or {}
    overall = normalized.get("overall") or {}
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the command and the workers it waited for
        "peak_mb": usage.ru_maxrss / 1024,
        "load_s": data["timings"]["load_s"],
        "score_s": data["timings"]["score_s"],
        "wer": overall.get("wer"),
        "wer_ci": overall.get("wer_ci"),
        "slices": len(normalized.get("slices") or ()),
        "utterances": data["data"]["utterances_scored"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000", help="utterance counts, comma-separated (default 10000,30000,100000)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1], help="checkout whose workbench is run (default: this one)")
    parser.add_argument("--no-parquet", dest="parquet", action="store_false", help="skip the Parquet manifest run")
    parser.add_argument("--workdir", type=Path, help="where corpora are written (default: a temporary folder)")
    parser.add_argument("--target-s", type=float, default=30.0, help="wall-time target for the largest size (default 30)")
    parser.add_argument("--target-mb", type=float, default=2048.0, help="peak-memory target for the largest size (default 2048)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    tree = args.tree.resolve()
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"workbench tree {tree} (commit {commit or '?'}); python {platform.python_version()}; {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}); {args.resamples} resamples")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        results = []
        for n in sizes:
            manifest, hyps = write_corpus(root / f"n{n}", n, args.seed)
            result = run_score(tree, manifest, hyps, root / f"ws{n}", args.resamples)
            results.append((f"{n:,} CSV", n, result))
            _print_row(results[-1])
        if args.parquet:
            n = max(sizes)
            manifest, hyps = write_corpus(root / f"p{n}", n, args.seed, parquet=True)
            result = run_score(tree, manifest, hyps, root / f"pws{n}", args.resamples)
            results.append((f"{n:,} Parquet", n, result))
            _print_row(results[-1])
    csv_rows = [r for r in results if r[0].endswith("CSV") and "failed" not in r[2]]
    if not csv_rows:
        return 1
    if len(csv_rows) >= 2:
        (_, n0, a), (_, n1, b) = csv_rows[0], csv_rows[-1]
        growth = (b["wall_s"] / a["wall_s"]) / (n1 / n0)
        print(f"growth {n0:,} -> {n1:,}: time x{b['wall_s'] / a['wall_s']:.2f} for x{n1 / n0:.0f} utterances "
              f"({growth:.2f} of linear), memory x{b['peak_mb'] / a['peak_mb']:.2f}")
    largest = csv_rows[-1][2]
    met = largest["wall_s"] < args.target_s and largest["peak_mb"] < args.target_mb
    print(f"target: {csv_rows[-1][1]:,} utterances under {args.target_s:g} s and {args.target_mb:g} MB -> "
          f"{'MET' if met else 'NOT MET'} ({largest['wall_s']:.1f} s, {largest['peak_mb']:.0f} MB)")
    return 0


def _print_row(entry) -> None:
    label, _, r = entry
    if "failed" in r:
        print(f"{label:>16}: FAILED ({r['failed']})", flush=True)
        return
    ci = r["wer_ci"] or {}
    print(f"{label:>16}: wall {r['wall_s']:7.1f} s  cpu {r['cpu_s']:7.1f} s  peak {r['peak_mb']:7.0f} MB  "
          f"(load {r['load_s']:.1f} s, score {r['score_s']:.1f} s; load average {os.getloadavg()[0]:.1f})  "
          f"WER {100 * (r['wer'] or 0):.2f}% [{100 * ci.get('low', 0):.2f}, {100 * ci.get('high', 0):.2f}], "
          f"{r['slices']} slices, {r['utterances']:,} scored", flush=True)


if __name__ == "__main__":
    sys.exit(main())
