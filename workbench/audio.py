"""Decode any common audio file to 16 kHz mono float32, with optional preprocessing.

soundfile (libsndfile) reads wav, flac, ogg/vorbis/opus and mp3 without ffmpeg; anything
else falls back to librosa's audioread path. Resampling uses soxr through librosa.
"""

import io
import os
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import soundfile

from .dataset import AudioSource
from .errors import BadInputError

__all__ = ["SAMPLE_RATE", "Preprocessing", "AudioInfo", "probe", "load_audio", "AudioDecodeError"]

SAMPLE_RATE = 16_000  # what every Whisper model expects


class AudioDecodeError(BadInputError):
    """The audio file is missing, empty or cannot be decoded."""


@dataclass(frozen=True)
class Preprocessing:
    """Options applied to every clip after decoding; recorded in each run's configuration."""

    sample_rate: int = SAMPLE_RATE  # target rate; Whisper needs 16 kHz
    trim_silence: bool = False  # cut leading/trailing silence (librosa.effects.trim)
    trim_top_db: float = 30.0  # how far below peak counts as silence when trimming
    peak_normalize: bool = False  # scale so the loudest sample is at peak_level
    peak_level: float = 0.95

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate!r}")
        if self.trim_top_db <= 0:
            raise ValueError(f"trim_top_db must be positive, got {self.trim_top_db!r}")
        if not 0 < self.peak_level <= 1:
            raise ValueError(f"peak_level must be in (0, 1], got {self.peak_level!r}")

    @property
    def changes_duration(self) -> bool:
        return self.trim_silence

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int


def _open(source: AudioSource):
    return source.path if source.path is not None else io.BytesIO(source.data)


def _check_present(source: AudioSource) -> None:
    """The same clear message for a missing or empty file, whichever reader comes next."""
    if source.path is not None:
        if not os.path.exists(source.path):
            raise AudioDecodeError("file not found")
        if os.path.getsize(source.path) == 0:
            raise AudioDecodeError("file is empty (0 bytes)")
    elif not source.data:
        raise AudioDecodeError("audio is empty (0 bytes)")


def probe(source: AudioSource) -> AudioInfo:
    """Read the header only (fast); fall back to a full decode for odd formats."""
    _check_present(source)
    try:
        info = soundfile.info(_open(source))
        if info.frames <= 0 or info.samplerate <= 0:
            raise AudioDecodeError("audio has no samples")
        return AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels)
    except AudioDecodeError:
        raise
    except Exception:
        samples, rate, channels = _decode_fallback(source)
        return AudioInfo(samples.shape[-1] / rate, rate, channels)


def _decode_fallback(source: AudioSource) -> tuple[np.ndarray, int, int]:
    """librosa/audioread (ffmpeg when installed) for what libsndfile cannot read."""
    import librosa

    if source.path is None:
        raise AudioDecodeError("undecodable audio (not a format libsndfile reads)")
    try:
        with warnings.catch_warnings():  # librosa warns before it tries audioread: expected here
            warnings.simplefilter("ignore")
            samples, rate = librosa.load(source.path, sr=None, mono=False)
    except Exception as exc:  # audioread raises many unrelated types
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AudioDecodeError(f"undecodable audio ({detail})") from None
    samples = np.atleast_2d(samples)
    if samples.shape[-1] == 0:
        raise AudioDecodeError("audio has no samples")
    return samples, int(rate), samples.shape[0]


def load_audio(source: AudioSource, preprocessing: Preprocessing = Preprocessing()) -> np.ndarray:
    """Decode, down-mix to mono, resample, then trim and normalize as configured."""
    _check_present(source)
    try:
        data, rate = soundfile.read(_open(source), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
    except Exception:
        samples, rate, _ = _decode_fallback(source)
        mono = samples.mean(axis=0).astype(np.float32)
    if mono.size == 0:
        raise AudioDecodeError("audio has no samples")
    if rate != preprocessing.sample_rate:
        import librosa

        mono = librosa.resample(mono, orig_sr=rate, target_sr=preprocessing.sample_rate, res_type="soxr_hq")
    if preprocessing.trim_silence:
        import librosa

        mono, _ = librosa.effects.trim(mono, top_db=preprocessing.trim_top_db)
    if preprocessing.peak_normalize:
        peak = float(np.max(np.abs(mono))) if mono.size else 0.0
        if peak > 0:  # all-silent clips stay silent rather than dividing by zero
            mono = mono * (preprocessing.peak_level / peak)
    return np.ascontiguousarray(mono, dtype=np.float32)
