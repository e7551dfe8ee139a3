#!/usr/bin/env python3
"""Build the embedded long-form demo: three recordings of about three minutes, from the
demo corpus clips, with pauses, noise and an SRT reference each.

What it writes (under ``workbench/examples/longform/`` unless ``--out`` says otherwise)::

    audio/<id>.ogg      16 kHz mono OGG Opus, one per recording
    refs/<id>.srt       SubRip reference: one cue per clip, at the clip's exact place
    clips.csv           which demo clip is where (recording, cue, clip, start, end, ...)
    manifest.csv        id,audio,reference_file,language,accent
    README.md           what all of it is

The recordings (SYNTHETIC speech, like the demo corpus it is cut from):

* ``en-consultation``: the held-out clips of the en-US and en-GB voices and half of the
  Scottish ones, shuffled, as one English recording;
* ``en-ward-round``: the other held-out Scottish clips and the held-out Caribbean and
  New-York ones;
* ``de-sprechstunde``: all 27 German clips (19 of them are in the demo's `train` split:
  the demo has too few held-out German clips for two minutes).

Each clip is decoded, its leading and trailing silence trimmed (so a cue's times are
when speech is heard), and peak-normalized to 0.9 (its own noise, if the demo degraded
it, is kept). Between clips: a pause of 0.5 to 4 s, drawn uniformly, so about six in
seven pauses are reference silences of more than a second; the whole recording lies
on low pink noise (about -50 dBFS); about half the pauses of 2 s or more hold a noise
event (a burst of brown or pink noise, or a mains hum, 0.3 to 1.2 s, about -30 dBFS),
the kind of sound Whisper writes text for. One second of lead-in, two of tail.

Determinism: every draw comes from ``numpy.random.default_rng(SEED)`` in a fixed
order; the Opus stream's serial number is fixed (``make_demo_corpus.encode_opus``), so
the same package versions give byte-identical files.

Run from the repository root::

    .venv/bin/python scripts/make_longform_demo.py
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.audio import load_audio  # noqa: E402
from workbench.dataset import AudioSource  # noqa: E402
from workbench.subtitles import Segment, format_srt  # noqa: E402

SEED = 20250314
RATE = 16_000
DEMO = ROOT / "workbench" / "examples" / "demo"
OUT = ROOT / "workbench" / "examples" / "longform"
PEAK = 0.9
BACKGROUND_RMS = 0.003  # about -50 dBFS: a quiet room
EVENT_RMS = 0.03  # about -30 dBFS: audible, well below speech
PAUSE_S = (0.5, 4.0)
LEAD_IN_S, TAIL_S = 1.0, 2.0
TRIM_TOP_DB = 35.0

# id -> (language, accent column value, which demo clips)
RECORDINGS = {
    "en-consultation": ("en", "en-US+en-GB+Scottish", lambda r, k: r["accent"] in ("en-US", "en-GB") or (r["accent"] == "Scottish" and k % 2 == 0)),
    "en-ward-round": ("en", "Scottish+Caribbean+New-York", lambda r, k: r["accent"] in ("Caribbean", "New-York") or (r["accent"] == "Scottish" and k % 2 == 1)),
    "de-sprechstunde": ("de", "de-DE", None),
}


def _corpus_module():
    """scripts/make_demo_corpus.py, for its Opus writer with a fixed stream serial."""
    spec = importlib.util.spec_from_file_location("make_demo_corpus", ROOT / "scripts" / "make_demo_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def pick_clips(rows: list[dict]) -> dict[str, list[dict]]:
    speech = [r for r in rows if r["no_speech"] != "yes"]
    scottish = [r for r in speech if r["language"] == "en" and r["split"] == "heldout" and r["accent"] == "Scottish"]
    order = {r["audios"]: k for k, r in enumerate(scottish)}
    out = {}
    for rec_id, (language, _, chooser) in RECORDINGS.items():
        if chooser is None:
            out[rec_id] = [r for r in speech if r["language"] == language]
        else:
            out[rec_id] = [
                r for r in speech if r["language"] == language and r["split"] == "heldout" and chooser(r, order.get(r["audios"], -1))
            ]
    return out


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    x = np.fft.irfft(spectrum, n)
    return x / (np.sqrt(np.mean(x**2)) or 1.0)


def _event(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(0.3, 1.2) * RATE)
    kind = rng.integers(3)
    if kind == 0:  # brown noise: a rumble, a door
        x = np.cumsum(rng.standard_normal(n))
        x -= np.linspace(x[0], x[-1], n)
    elif kind == 1:
        x = _pink(n, rng)
    else:  # mains hum with harmonics
        t = np.arange(n) / RATE
        x = np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 100 * t) + 0.3 * np.sin(2 * np.pi * 150 * t)
    x = x / (np.sqrt(np.mean(x**2)) or 1.0) * EVENT_RMS
    fade = min(n // 4, int(0.05 * RATE))
    ramp = np.linspace(0.0, 1.0, fade)
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    return x


def build(rec_id: str, clips: list[dict], rng: np.random.Generator) -> tuple[np.ndarray, list[Segment], list[dict]]:
    import librosa

    order = rng.permutation(len(clips))
    pieces: list[np.ndarray] = [np.zeros(int(LEAD_IN_S * RATE), dtype=np.float32)]
    cursor = len(pieces[0])
    segments, placed = [], []
    for cue, index in enumerate(order, start=1):
        clip = clips[int(index)]
        audio = load_audio(AudioSource(path=str(DEMO / clip["audios"]), label=clip["audios"]))
        audio, _ = librosa.effects.trim(audio, top_db=TRIM_TOP_DB)
        audio = audio / (np.max(np.abs(audio)) or 1.0) * PEAK
        start = cursor
        pieces.append(audio.astype(np.float32))
        cursor += len(audio)
        segments.append(Segment(round(start / RATE, 3), round(cursor / RATE, 3), clip["transcription"]))
        placed.append(
            {"recording": rec_id, "cue": cue, "clip": clip["audios"], "start_s": f"{start / RATE:.3f}", "end_s": f"{cursor / RATE:.3f}",
             "accent": clip["accent"], "speaker": clip["speaker"], "condition": clip["condition"], "split": clip["split"], "noise_after": ""}
        )
        last = cue == len(order)
        pause = np.zeros(int((TAIL_S if last else rng.uniform(*PAUSE_S)) * RATE), dtype=np.float32)
        if not last and len(pause) >= 2 * RATE and rng.random() < 0.5:
            event = _event(rng)
            at = int(rng.integers(int(0.2 * RATE), len(pause) - len(event) - int(0.2 * RATE)))
            pause[at : at + len(event)] += event.astype(np.float32)
            placed[-1]["noise_after"] = f"{(cursor + at) / RATE:.3f}-{(cursor + at + len(event)) / RATE:.3f}"
        pieces.append(pause)
        cursor += len(pause)
    signal = np.concatenate(pieces)
    signal += (_pink(len(signal), rng) * BACKGROUND_RMS).astype(np.float32)
    return np.clip(signal, -1.0, 1.0).astype(np.float32), segments, placed


README = """# longform: the embedded long-form demo (SYNTHETIC speech)

**Built from the demo corpus (`../demo`), whose speech is SYNTHETIC (text-to-speech).**
Three recordings of about three minutes, for trying long-form decoding and scoring on a
fresh machine: whole-recording WER, WER per minute, and the long-form failures (words
written in silences, repetition loops, dropped segments, timestamp error).
Made by `scripts/make_longform_demo.py` (deterministic; run it to rebuild).

| recording | language | clips | duration | speech | pauses > 1 s | noise events |
|---|---|---|---|---|---|---|
{table}

| file | what it is |
|---|---|
| `manifest.csv` | `id,audio,reference_file,language,accent`: the reference is a FILE (`reference_file`), so each row loads as a long recording (`Utterance.segments`) and the 30 s limit does not apply |
| `audio/*.ogg` | 16 kHz mono OGG Opus |
| `refs/*.srt` | SubRip references: one cue per clip, at the exact place the clip was put (its leading and trailing silence trimmed first) |
| `clips.csv` | where each demo clip is: recording, cue, clip, start/end seconds, its accent, voice, condition and split, and the noise event in the pause after it |

How each recording is made: the chosen clips in a seeded random order; each trimmed of
leading and trailing silence and peak-normalized to 0.9; a pause of 0.5 to 4 s after each
(uniform); low pink noise (about -50 dBFS) under the whole recording; about half the
pauses of 2 s or more hold a noise event (brown or pink noise burst, or mains hum,
0.3-1.2 s, about -30 dBFS). One second of lead-in, two seconds of tail.

Clips: `en-consultation` holds the demo's held-out en-US and en-GB clips and half of the
held-out Scottish ones; `en-ward-round` the other held-out Scottish clips and the
held-out Caribbean and New-York ones. The English recordings use held-out clips only,
so a model fine-tuned on the demo's `train` split has not heard them. `de-sprechstunde`
holds all 27 German clips, 19 of which are in `train` (the demo has only 8 held-out
German clips): do not read a fine-tuned model's German long-form score as held-out.
Some clips carry the demo's degradations (telephone band, added noise): see `condition`
in `clips.csv`.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: workbench/examples/longform)")
    args = parser.parse_args(argv)
    corpus = _corpus_module()
    with open(DEMO / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    chosen = pick_clips(rows)
    out: Path = args.out
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "refs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    manifest, placements, table = [], [], []
    for rec_id, (language, accent, _) in RECORDINGS.items():
        signal, segments, placed = build(rec_id, chosen[rec_id], rng)
        (out / "audio" / f"{rec_id}.ogg").write_bytes(corpus.encode_opus(signal))
        (out / "refs" / f"{rec_id}.srt").write_text(format_srt(segments), encoding="utf-8")
        manifest.append({"id": rec_id, "audio": f"audio/{rec_id}.ogg", "reference_file": f"refs/{rec_id}.srt", "language": language, "accent": accent})
        placements.extend(placed)
        duration = len(signal) / RATE
        speech = sum(s.end - s.start for s in segments)
        gaps = sum(1 for a, b in zip(segments, segments[1:]) if b.start - a.end > 1.0)
        events = sum(1 for p in placed if p["noise_after"])
        table.append(f"| `{rec_id}` | {language} | {len(segments)} | {duration / 60:.1f} min | {speech:.0f} s | {gaps} | {events} |")
        print(f"{rec_id}: {len(segments)} clips, {duration:.1f} s, {speech:.1f} s speech, {gaps} pauses > 1 s, {events} noise events")
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(manifest[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest)
    with open(out / "clips.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(placements[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(placements)
    (out / "README.md").write_text(README.format(table="\n".join(table)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
