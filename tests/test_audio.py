"""workbench.audio: probe, load_audio and Preprocessing on tiny real files."""

import numpy as np
import pytest
import soundfile

from workbench.audio import SAMPLE_RATE, AudioDecodeError, Preprocessing, load_audio, probe
from workbench.dataset import AudioSource
from workbench.errors import BadInputError

# The fallback decoder (librosa -> audioread) warns on every file libsndfile cannot read.
pytestmark = [
    pytest.mark.filterwarnings("ignore:PySoundFile failed:UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:'(aifc|audioop|sunau)' is deprecated:DeprecationWarning"),
]

SOURCES = [
    # name, seconds, sample rate, channels
    pytest.param("mono16k.wav", 1.5, 16_000, 1, id="wav-16k-mono"),
    pytest.param("stereo44k.wav", 1.5, 44_100, 2, id="wav-44k1-stereo"),
    pytest.param("mono8k.wav", 1.5, 8_000, 1, id="wav-8k-mono"),
    pytest.param("stereo48k.flac", 1.5, 48_000, 2, id="flac-48k-stereo"),
    pytest.param("mono22k.ogg", 1.5, 22_050, 1, id="ogg-vorbis-22k"),
    pytest.param("stereo44k.mp3", 1.5, 44_100, 2, id="mp3-44k1-stereo"),
    pytest.param("short.wav", 0.5, 16_000, 1, id="wav-0.5s"),
]


def path_source(path) -> AudioSource:
    return AudioSource(path=str(path), label=path.name)


@pytest.mark.parametrize("name, seconds, rate, channels", SOURCES)
def test_probe_reads_duration_rate_and_channels(make_audio, name, seconds, rate, channels):
    info = probe(path_source(make_audio(name, seconds, rate, channels)))
    assert info.sample_rate == rate
    assert info.channels == channels
    assert info.duration_s == pytest.approx(seconds, abs=0.06)


@pytest.mark.parametrize("name, seconds, rate, channels", SOURCES)
@pytest.mark.parametrize("from_bytes", [False, True], ids=["path", "bytes"])
def test_load_audio_downmixes_and_resamples_to_16k_float32(make_audio, name, seconds, rate, channels, from_bytes):
    path = make_audio(name, seconds, rate, channels)
    source = AudioSource(data=path.read_bytes(), label=name) if from_bytes else path_source(path)
    samples = load_audio(source)
    assert samples.dtype == np.float32
    assert samples.ndim == 1  # mono
    assert samples.flags["C_CONTIGUOUS"]
    assert len(samples) == pytest.approx(seconds * SAMPLE_RATE, rel=0.02)
    # A 0.3-amplitude tone stays a tone: not silent, not clipped.
    assert 0.1 < np.max(np.abs(samples)) < 0.5


def test_downmix_is_the_mean_of_the_channels(make_audio):
    # The fixture's channel 1 is 0.7x channel 0, so channel 0 alone would not match the mean.
    path = make_audio("stereo.wav", 1.5, 16_000, 2)
    stereo, _ = soundfile.read(str(path), dtype="float32")
    samples = load_audio(path_source(path))
    np.testing.assert_allclose(samples, stereo.mean(axis=1), atol=1e-6)
    assert not np.allclose(samples, stereo[:, 0], atol=1e-3)


@pytest.mark.parametrize("target_rate", [8_000, 16_000, 22_050])
def test_load_audio_resamples_to_the_configured_rate(make_audio, target_rate):
    samples = load_audio(path_source(make_audio("stereo44k.wav", 1.5, 44_100, 2)), Preprocessing(sample_rate=target_rate))
    assert len(samples) == pytest.approx(1.5 * target_rate, rel=0.01)


# --------------------------------------------------------------------------- broken audio

BROKEN = [
    # make the source, expected message fragment for (probe, load_audio)
    pytest.param("missing", "file not found", id="missing-file"),
    pytest.param("zero-bytes", "empty", id="zero-byte-file"),
    pytest.param("text-as-wav", "undecodable audio", id="text-renamed-wav"),
    pytest.param("garbage-bytes", "undecodable audio", id="in-memory-garbage"),
]


def broken_source(kind, make_file, tmp_path) -> AudioSource:
    if kind == "missing":
        return AudioSource(path=str(tmp_path / "nope.wav"))
    if kind == "zero-bytes":
        return AudioSource(path=str(make_file("empty.wav", b"")))
    if kind == "text-as-wav":
        return AudioSource(path=str(make_file("notes.wav", "this is a text file, not audio\n")))
    return AudioSource(data=b"definitely not audio" * 10, label="row 1")


@pytest.mark.parametrize("kind, message", BROKEN)
def test_probe_rejects_broken_audio(make_file, tmp_path, kind, message):
    with pytest.raises(AudioDecodeError, match=message) as info:
        probe(broken_source(kind, make_file, tmp_path))
    assert isinstance(info.value, BadInputError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kind, message",
    BROKEN,
)
def test_load_audio_rejects_broken_audio(make_file, tmp_path, kind, message):
    with pytest.raises(AudioDecodeError, match=message) as info:
        load_audio(broken_source(kind, make_file, tmp_path))
    assert isinstance(info.value, BadInputError)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize(
    "rate, channels",
    [pytest.param(16_000, 1, id="16k-mono"), pytest.param(44_100, 2, id="44k1-stereo")],
)
def test_trim_silence_cuts_padding(make_audio, rate, channels):
    source = path_source(make_audio("padded.wav", 1.5, rate, channels, silence_s=1.0))
    untrimmed = load_audio(source)
    trimmed = load_audio(source, Preprocessing(trim_silence=True))
    assert len(untrimmed) == pytest.approx(3.5 * SAMPLE_RATE, rel=0.01)
    # librosa trims on 2048-sample frames, so allow a frame or so around the 1.5 s tone.
    assert 1.4 * SAMPLE_RATE < len(trimmed) < 1.75 * SAMPLE_RATE
    assert trimmed.dtype == np.float32


def test_trim_silence_leaves_an_unpadded_clip_about_the_same(make_audio):
    source = path_source(make_audio("tone.wav", 1.5))
    assert len(load_audio(source, Preprocessing(trim_silence=True))) > 1.35 * SAMPLE_RATE


@pytest.mark.parametrize(
    "rate, channels, amplitude, level",
    [
        pytest.param(16_000, 1, 0.3, 0.95, id="quiet-up-to-0.95"),
        pytest.param(44_100, 2, 0.3, 0.95, id="stereo-44k1-up-to-0.95"),
        pytest.param(16_000, 1, 0.98, 0.95, id="loud-down-to-0.95"),
        pytest.param(16_000, 1, 0.3, 0.5, id="custom-level-0.5"),
    ],
)
def test_peak_normalize_sets_the_peak(make_audio, rate, channels, amplitude, level):
    source = path_source(make_audio("clip.wav", 1.5, rate, channels, amplitude=amplitude))
    samples = load_audio(source, Preprocessing(peak_normalize=True, peak_level=level))
    assert float(np.max(np.abs(samples))) == pytest.approx(level, abs=1e-4)
    assert samples.dtype == np.float32


@pytest.mark.parametrize(
    "preprocessing",
    [
        pytest.param(Preprocessing(peak_normalize=True), id="peak-normalize"),
        pytest.param(Preprocessing(peak_normalize=True, trim_silence=True), id="trim-and-normalize"),
    ],
)
def test_all_zero_clip_stays_zeros(make_audio, preprocessing):
    samples = load_audio(path_source(make_audio("silence.wav", 1.5, silent=True)), preprocessing)
    assert samples.dtype == np.float32
    assert np.all(np.isfinite(samples))
    assert not np.any(samples)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"sample_rate": 0}, id="sample-rate-0"),
        pytest.param({"trim_top_db": 0}, id="trim-top-db-0"),
        pytest.param({"peak_level": 0}, id="peak-level-0"),
        pytest.param({"peak_level": 1.5}, id="peak-level-above-1"),
    ],
)
def test_preprocessing_rejects_bad_options(kwargs):
    with pytest.raises(ValueError):
        Preprocessing(**kwargs)


@pytest.mark.parametrize(
    "preprocessing, changes",
    [
        pytest.param(Preprocessing(), False, id="default"),
        pytest.param(Preprocessing(peak_normalize=True), False, id="normalize"),
        pytest.param(Preprocessing(trim_silence=True), True, id="trim"),
    ],
)
def test_changes_duration_only_when_trimming(preprocessing, changes):
    assert preprocessing.changes_duration is changes
    assert Preprocessing(**preprocessing.to_dict()) == preprocessing
