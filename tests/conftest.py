"""Shared fixtures: write tiny real audio files (and broken ones) under tmp_path."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

FORMAT_BY_SUFFIX = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}


def tone(duration_s: float, sample_rate: int = 16_000, channels: int = 1, amplitude: float = 0.3, seed: int = 0) -> np.ndarray:
    """A 440 Hz tone plus a little noise; shape (n,) for mono, (n, channels) otherwise."""
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(n)
    mono = amplitude * np.sin(2 * np.pi * 440.0 * t) + 0.01 * amplitude * noise
    if channels == 1:
        return mono.astype(np.float32)
    # Channels differ in level, so a correct down-mix is their mean, not channel 0.
    return np.stack([mono * (1.0 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)


def require_format(suffix: str) -> None:
    fmt = FORMAT_BY_SUFFIX.get(suffix.lower())
    if fmt is None or fmt not in soundfile.available_formats():
        pytest.skip(f"libsndfile here cannot write {suffix}")


@pytest.fixture
def make_audio(tmp_path):
    """make_audio("audio/a.wav", duration_s=1.5, sample_rate=16000, channels=1, silence_s=0, silent=False) -> Path."""

    def _make(relative: str, duration_s: float = 1.5, sample_rate: int = 16_000, channels: int = 1,
              silence_s: float = 0.0, silent: bool = False, amplitude: float = 0.3) -> Path:
        path = tmp_path / relative
        require_format(path.suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = tone(duration_s, sample_rate, channels, amplitude)
        if silent:
            data = np.zeros_like(data)
        if silence_s:
            pad = np.zeros((int(round(silence_s * sample_rate)),) + data.shape[1:], dtype=np.float32)
            data = np.concatenate([pad, data, pad])
        soundfile.write(str(path), data, sample_rate, format=FORMAT_BY_SUFFIX[path.suffix.lower()])
        return path

    return _make


@pytest.fixture
def make_file(tmp_path):
    """make_file("x.csv", "text" | b"bytes") -> Path (str is written as UTF-8)."""

    def _make(relative: str, content: str | bytes) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return _make
