#!/usr/bin/env python3
"""Benchmark: long-form decoding strategies side by side, WER and real-time factor.

Recordings (each 3-4 minutes):

- **realspeech**: three built from ``../shared/realspeech-dev`` (real read speech): one
  speaker's clips in file-name order, joined with 0.3-1.5 s pauses of faint noise
  (seeded), until a recording holds at least ``--minutes`` of audio: two English (the
  US speaker, clips 1..n and n+1..m) and one German. Skipped with a message when the
  folder is absent. The reference is the clips' texts with their exact times.
- **demo**: the embedded long-form demo, ``workbench/examples/longform`` (synthetic
  speech, SRT references), when it is there.

Decodings, each on every recording, with the same weights and threads:

- ``old-default``: what the workbench did before long-form decoding: faster-whisper's
  ``WhisperModel.transcribe`` with the short-clip options (no timestamps, no
  conditioning, greedy). This is the issue's 17.4 % WER with 155 deletions.
- ``sequential``, ``sequential-cond``, ``batched-vad``: the registered strategies with
  their default config (beam 5; the temperature fallback for the sequential ones),
  through the faster-whisper backend exactly as a run decodes (the strategy's
  ``decode_overrides`` on the ``AudioItem``, the run's other options at their defaults,
  word confidence on: for the sequential ones that is one more encoder pass per window,
  counted in their time).
- ``faster-whisper``: plain ``WhisperModel.transcribe(audio, language=...)`` with all
  its own defaults (beam 5, temperature fallback, conditioning on previous text,
  timestamps): the reference the issue measures against (target: ``sequential`` within
  1 WER point of it).

For each model (base on everything, tiny.en on the English recordings) it prints WER
(jiwer over the whole recording after the workbench normalizer ``auto``; corpus figures
pool the recordings' errors), substitutions/deletions/insertions, reference sentences
lost entirely (every word of the sentence deleted by the one alignment:
``workbench.longform.score_recording``'s deleted segments), and the real-time
factor (decode wall time / audio duration; lower is faster). Wall times on a shared
2-core machine swing with other load: compare ratios within one run.

``--memory`` measures instead what decoding a long recording holds in memory: each
English demo recording, and a synthetic recording of ``--hour-minutes`` (default 60)
made of them repeated, written as 16 kHz WAV files and decoded in a fresh process per
decoding, which reports its peak resident memory above what it held after loading the
model and decoding 5 s once (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``):

- ``whole-signal``: the file loaded whole and ``WhisperModel.transcribe`` (the whole
  signal's features at once) with the ``sequential`` strategy's options: how the
  backend decoded a long item before it read recordings in blocks (its word pass, left
  out here, computed the whole spectrogram a second time);
- ``block-wise``: the ``sequential`` strategy through the backend as a run decodes it,
  the audio read in 30 s blocks (``transcription.utterance_audio``) and the features of
  each window computed as the decoder reaches it (``backends.streaming_mel``), word
  confidence off, so it is the same work as ``whole-signal``;
- ``block-wise+words``: the same with word confidence on (a run's default);
- ``batched-vad`` (with ``--memory-batched``): the batched pipeline, which takes one
  array (the whole signal is read).

It prints WER, S/D/I, dropped sentences, real-time factor, the peak memory and whether
the text is identical to ``whole-signal``'s.

How to run (from the repository root, in the project's venv)::

    . .venv/bin/activate
    python benchmarks/bench_longform.py                 # about 30-40 minutes on 2 busy cores
    python benchmarks/bench_longform.py --models tiny.en --corpora demo --json out.json
    python benchmarks/bench_longform.py --memory --models tiny.en --beam 1   # ~75 min on 2 busy cores: an hour decoded 3 times

The exit status is 0, or 1 when a recording could not be built.
"""

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "realspeech-dev"
DEMO = ROOT / "workbench" / "examples" / "longform"
RATE = 16_000
CONFIGS = ("old-default", "sequential", "sequential-cond", "batched-vad", "faster-whisper")


@dataclass(frozen=True)
class Recording:
    corpus: str
    name: str
    language: str
    audio: object  # float32 samples at 16 kHz
    reference: tuple  # workbench.subtitles.Segment, timed

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE


def realspeech(data: Path, minutes: float, seed: int = 0) -> list[Recording]:
    """Two English recordings and one German, each of at least `minutes`, from one speaker's
    clips joined by short pauses of faint noise."""
    import numpy as np
    import soundfile

    from workbench.subtitles import Segment

    with open(data / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(seed)
    plan = [("en-cathy-1", "rhasspy-cathy", "en"), ("en-cathy-2", "rhasspy-cathy", "en"), ("de-kerstin-1", "rhasspy-kerstin", "de")]
    out, cursor = [], {}
    for name, speaker, language in plan:
        clips = sorted((r for r in rows if r["speaker"] == speaker and r["language"] == language), key=lambda r: r["audio"])
        start = cursor.get(speaker, 0)  # after the clips an earlier recording of this speaker used
        chosen, total = [], 0.0
        for r in clips[start:]:
            chosen.append(r)
            total += float(r["duration_s"]) + 0.9  # the mean pause
            if total >= minutes * 60:
                break
        cursor[speaker] = start + len(chosen)
        parts, segments, at = [_noise(rng, 1.0)], [], 1.0
        for r in chosen:
            audio, rate = soundfile.read(data / r["audio"], dtype="float32")
            if rate != RATE or audio.ndim != 1:
                raise SystemExit(f"{data / r['audio']}: expected 16 kHz mono, got {rate} Hz, shape {audio.shape}")
            segments.append(Segment(round(at, 3), round(at + len(audio) / RATE, 3), r["transcription"]))
            pause = float(rng.uniform(0.3, 1.5))
            parts += [audio, _noise(rng, pause)]
            at += len(audio) / RATE + pause
        out.append(Recording("realspeech", name, language, np.concatenate(parts), tuple(segments)))
    return out


def _noise(rng, seconds: float):
    import numpy as np

    return (0.001 * rng.standard_normal(int(round(seconds * RATE)))).astype(np.float32)  # about -60 dBFS


def demo() -> list[Recording]:
    from workbench.audio import load_audio
    from workbench.dataset import AudioSource
    from workbench.subtitles import read_reference

    with open(DEMO / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [Recording("demo", r["id"], r["language"], load_audio(AudioSource(path=str(DEMO / r["audio"]))),
                      read_reference(DEMO / r["reference_file"])) for r in rows]


# --------------------------------------------------------------------------- decoding


def decode(config: str, backend, recording: Recording) -> tuple[str, list, float]:
    """(text, [(start, end, text), ...], wall seconds) of one decoding of a recording."""
    import strategies
    from workbench.backends import AudioItem

    started = time.perf_counter()
    if config == "old-default":
        segments, _ = backend.model.transcribe(recording.audio, language=_lang(backend, recording), beam_size=1, best_of=1,
                                               temperature=[0.0], condition_on_previous_text=False, without_timestamps=True,
                                               vad_filter=False)
        spans = [(s.start, s.end, s.text) for s in segments]
    elif config == "faster-whisper":
        segments, _ = backend.model.transcribe(recording.audio, language=_lang(backend, recording))
        spans = [(s.start, s.end, s.text) for s in segments]
    else:
        overrides = strategies.build(config).decode.decode_overrides(recording.language, backend.name)
        [transcript] = list(backend.transcribe([AudioItem(recording.name, recording.audio, recording.language, **overrides)]))
        spans = list(transcript.segments)
    wall = time.perf_counter() - started
    return " ".join(t.strip() for _, _, t in spans), spans, wall


def _lang(backend, recording: Recording) -> str | None:
    return recording.language if backend.multilingual else "en"


# --------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    ref: int = 0
    sub: int = 0
    dele: int = 0
    ins: int = 0
    dropped: int = 0
    sentences: int = 0
    wall: float = 0.0
    audio: float = 0.0

    def add(self, other: "Tally") -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def wer(self) -> float:
        return 100.0 * (self.sub + self.dele + self.ins) / self.ref if self.ref else float("nan")

    @property
    def rtf(self) -> float:
        return self.wall / self.audio if self.audio else float("nan")


def score(recording: Recording, text: str, spans: list, wall: float) -> Tally:
    import jiwer

    from workbench.longform import score_recording
    from workbench.normalizers import get_normalizer
    from workbench.subtitles import Segment

    normalizer = get_normalizer("auto")
    ref = normalizer(" ".join(s.text for s in recording.reference), recording.language)
    hyp = normalizer(text, recording.language)
    tally = Tally(ref=len(ref.split()), wall=wall, audio=recording.duration_s, sentences=len(recording.reference))
    if hyp.split():
        out = jiwer.process_words(ref, hyp)
        tally.sub, tally.dele, tally.ins = out.substitutions, out.deletions, out.insertions
    else:
        tally.dele = tally.ref
    long = score_recording(recording.reference, [Segment(float(a), float(b), t) for a, b, t in spans], normalizer,
                           recording.language, duration_s=recording.duration_s)
    assert long.ref_words == tally.ref and long.deletions == tally.dele, (long.ref_words, tally.ref, long.deletions, tally.dele)
    tally.dropped = long.deleted_segments
    return tally


# --------------------------------------------------------------------------- memory

MEMORY_MODES = ("whole-signal", "block-wise", "block-wise+words")


def _status(field: str) -> int:
    """A /proc/self/status figure in kB (VmRSS, VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory_child(mode: str, wav: str, language: str, model: str, beam: int, threads: int) -> dict:
    """One decoding of one WAV file in this (fresh) process: the text, the segments, the
    wall time and the peak resident memory above the model's."""
    import ctranslate2
    import numpy as np

    import strategies
    from workbench.audio import load_audio, probe
    from workbench.backends import AudioItem, DecodingOptions, create_backend, model_files
    from workbench.dataset import AudioSource, Utterance
    from workbench.transcription import utterance_audio

    options = DecodingOptions(threads=threads, word_confidence=mode == "block-wise+words")
    backend = create_backend("faster-whisper", model_files("faster-whisper", model), options)
    list(backend.model.transcribe(np.zeros(5 * RATE, np.float32), language="en")[0])  # CTranslate2's buffers, once
    # The temperature fallback samples: the same seed in every process, so that two
    # decodings of the same features give the same text
    ctranslate2.set_random_seed(0)
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # the peak (VmHWM) starts again from the current resident size
    base = _status("VmRSS")
    started = time.perf_counter()
    strategy = "batched-vad" if mode == "batched-vad" else "sequential"
    longform = strategies.build(strategy, {"beam_size": str(beam)}).decode.decode_overrides(language, backend.name)["longform_options"]
    if mode == "whole-signal":
        samples = load_audio(AudioSource(path=wav))
        segments, _ = backend.model.transcribe(
            samples, language=language, beam_size=beam, best_of=beam, temperature=list(longform["temperature"]),
            condition_on_previous_text=False, without_timestamps=False, vad_filter=False)
        spans = [(s.start, s.end, s.text.strip()) for s in segments]
    else:
        source = AudioSource(path=wav, label=Path(wav).name)
        audio = utterance_audio(Utterance(Path(wav).stem, source, "", duration_s=probe(source).duration_s))
        [transcript] = backend.transcribe([AudioItem(Path(wav).stem, audio, language, longform_options=longform)])
        spans = [list(s) for s in transcript.segments]
    wall = time.perf_counter() - started
    return {"spans": [list(s) for s in spans], "wall_s": wall, "peak_mb": (_status("VmHWM") - base) / 1024, "base_mb": base / 1024}


def hour_recording(parts: list[Recording], minutes: float) -> Recording:
    """The recordings one after another, again and again, until `minutes` of audio."""
    import numpy as np

    from workbench.subtitles import Segment

    audio, segments, at = [], [], 0.0
    while at < minutes * 60:
        for r in parts:
            segments += [Segment(round(s.start + at, 3), round(s.end + at, 3), s.text) for s in r.reference]
            audio.append(r.audio)
            at += r.duration_s
    return Recording("synthetic", f"demo-x{len(audio) // len(parts)}", parts[0].language, np.concatenate(audio), tuple(segments))


def memory_main(args) -> int:
    import subprocess
    import tempfile

    import soundfile

    if not (DEMO / "manifest.csv").is_file():
        print(f"no {DEMO / 'manifest.csv'}")
        return 1
    english = [r for r in demo() if r.language == "en"]
    recordings = english + ([hour_recording(english, args.hour_minutes)] if args.hour_minutes > 0 else [])
    modes = MEMORY_MODES + (("batched-vad",) if args.memory_batched else ())
    model = [m.strip() for m in args.models.split(",") if m.strip()][0]
    print(f"model {model}, beam {args.beam}, {args.threads} threads; peak resident memory above the loaded model's, per decoding")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recording in recordings:
            wav = str(Path(tmp) / f"{recording.name}.wav")
            soundfile.write(wav, recording.audio, RATE, subtype="PCM_16")
            recording = Recording(recording.corpus, recording.name, recording.language, soundfile.read(wav, dtype="float32")[0],
                                  recording.reference)  # as the decoders read it
            print(f"{recording.name:<16} {recording.duration_s / 60:6.1f} min  {len(recording.reference)} sentences", flush=True)
            whole_text = None
            for mode in modes:
                command = [sys.executable, __file__, "--memory-child", mode, wav, recording.language, model, str(args.beam), str(args.threads)]
                done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
                if done.returncode != 0:
                    print(f"  {mode}: failed\n{done.stderr[-2000:]}")
                    return 1
                out = json.loads(done.stdout.strip().splitlines()[-1])
                text = " ".join(t for _, _, t in out["spans"])
                whole_text = text if mode == "whole-signal" else whole_text
                tally = score(recording, text, out["spans"], out["wall_s"])
                same = "—" if mode == "whole-signal" else ("yes" if text == whole_text else "NO")
                rows.append({"recording": recording.name, "minutes": round(recording.duration_s / 60, 2), "mode": mode,
                             "wer": round(tally.wer, 3), "substitutions": tally.sub, "deletions": tally.dele, "insertions": tally.ins,
                             "dropped_sentences": tally.dropped, "sentences": tally.sentences, "rtf": round(tally.rtf, 4),
                             "peak_mb": round(out["peak_mb"], 1), "same_text_as_whole_signal": same})
                print(f"  {mode:<18} WER {tally.wer:6.2f}%  S/D/I {tally.sub}/{tally.dele}/{tally.ins}  dropped {tally.dropped}/{tally.sentences}"
                      f"  RTF {tally.rtf:.3f}  peak +{out['peak_mb']:7.1f} MB  same text as whole-signal: {same}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="realspeech-dev folder (default ../shared/realspeech-dev)")
    parser.add_argument("--corpora", default="realspeech,demo", help="realspeech, demo or both (comma-separated)")
    parser.add_argument("--models", default="base,tiny.en", help="comma-separated (tiny.en decodes the English recordings only)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of: {', '.join(CONFIGS)}")
    parser.add_argument("--minutes", type=float, default=3.5, help="length of each realspeech recording (default 3.5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--memory", action="store_true", help="peak memory of whole-signal vs block-wise decoding (see above)")
    parser.add_argument("--hour-minutes", type=float, default=60.0, help="--memory: length of the synthetic recording (0: none)")
    parser.add_argument("--memory-batched", action="store_true", help="--memory: batched-vad as well")
    parser.add_argument("--beam", type=int, default=5, help="--memory: beam size (the strategies' default 5)")
    parser.add_argument("--memory-child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.memory_child:
        mode, wav, language, model, beam, threads = args.memory_child
        print(json.dumps(memory_child(mode, wav, language, model, int(beam), int(threads))))
        return 0
    if args.memory:
        return memory_main(args)

    from workbench.backends import DecodingOptions, create_backend, model_files

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"--configs: unknown {unknown} (of: {', '.join(CONFIGS)})")
    recordings: list[Recording] = []
    corpora = {c.strip() for c in args.corpora.split(",")}
    if "realspeech" in corpora:
        if (args.data / "manifest.csv").is_file():
            recordings += realspeech(args.data, args.minutes)
        else:
            print(f"(realspeech skipped: no {args.data / 'manifest.csv'})")
    if "demo" in corpora:
        if (DEMO / "manifest.csv").is_file():
            recordings += demo()
        else:
            print(f"(demo skipped: no {DEMO / 'manifest.csv'} yet)")
    if not recordings:
        print("no recordings to decode")
        return 1
    for r in recordings:
        print(f"{r.corpus:<10} {r.name:<16} {r.language}  {r.duration_s / 60:.2f} min  {len(r.reference)} sentences  "
              f"{len(' '.join(s.text for s in r.reference).split())} words")

    results = []  # (model, corpus, language, config, recording, Tally)
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        backend = create_backend("faster-whisper", model_files("faster-whisper", model), DecodingOptions(threads=args.threads))
        usable = [r for r in recordings if backend.multilingual or r.language == "en"]
        for recording in usable:
            for config in configs:
                text, spans, wall = decode(config, backend, recording)
                tally = score(recording, text, spans, wall)
                results.append((model, recording.corpus, recording.language, config, recording.name, tally))
                print(f"  {model:<8} {recording.name:<16} {config:<16} WER {tally.wer:6.2f}%  S/D/I {tally.sub}/{tally.dele}/{tally.ins}"
                      f"  dropped {tally.dropped}/{tally.sentences}  RTF {tally.rtf:.3f}", flush=True)

    print("\nPooled per model, corpus and language (WER %, S/D/I, sentences dropped, real-time factor):")
    groups: dict[tuple, Tally] = {}
    for model, corpus, language, config, _, tally in results:
        for key in ((model, corpus, language, config), (model, corpus, "all", config)):
            groups.setdefault(key, Tally()).add(tally)
    header = f"{'model':<8} {'corpus':<11} {'lang':<4} " + " ".join(f"{c:>24}" for c in configs)
    print(header)
    for key in dict.fromkeys(k[:3] for k in groups):
        cells = []
        for config in configs:
            t = groups.get((*key, config))
            cells.append(f"{t.wer:5.2f} {t.sub}/{t.dele}/{t.ins} d{t.dropped} x{t.rtf:.3f}".rjust(24) if t else " " * 24)
        print(f"{key[0]:<8} {key[1]:<11} {key[2]:<4} " + " ".join(cells))
    if args.json:
        args.json.write_text(json.dumps([
            {"model": m, "corpus": c, "language": lang, "config": cfg, "recording": name, "ref_words": t.ref,
             "substitutions": t.sub, "deletions": t.dele, "insertions": t.ins, "wer": round(t.wer, 3),
             "dropped_sentences": t.dropped, "sentences": t.sentences, "wall_s": round(t.wall, 3), "audio_s": round(t.audio, 3),
             "rtf": round(t.rtf, 4)} for m, c, lang, cfg, name, t in results], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
