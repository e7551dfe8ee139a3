"""workbench.audio: probe, load_audio and Preprocessing on tiny real files."""

import re
import struct
from pathlib import Path

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
    pytest.param("text-as-wav", "not an audio file", id="text-renamed-wav"),
    pytest.param("garbage-bytes", "not an audio file", id="in-memory-garbage"),
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


# --------------------------------------------------------------------------- damaged audio
# Every fixture is damaged in the test from real audio: a clip of the shipped example
# data and tones written by soundfile, never a shipped broken binary.

MINI_CLIP = Path(__file__).resolve().parents[1] / "workbench" / "examples" / "mini" / "audio" / "en-us-01.flac"
CLASS_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b|Error\b")  # NoBackendError, LibsndfileError, ...


def damaged(tmp_path, name: str, content: bytes) -> AudioSource:
    path = tmp_path / name
    path.write_bytes(content)
    return AudioSource(path=str(path), label=f"audio/{name}")


def assert_plain_one_line(error: AudioDecodeError, label: str) -> str:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{label}: ")  # names the file first
    assert message == f"{label}: {error.reason}" and error.source == label
    assert not CLASS_NAME.search(error.reason), f"an exception class name in {message!r}"
    return error.reason


def test_a_flac_cut_in_half_is_truncated_not_scored(tmp_path):
    raw = MINI_CLIP.read_bytes()
    declared = soundfile.info(str(MINI_CLIP)).duration
    source = damaged(tmp_path, "half.flac", raw[: len(raw) // 2])
    with pytest.raises(AudioDecodeError) as info:
        load_audio(source)
    reason = assert_plain_one_line(info.value, "audio/half.flac")
    match = re.fullmatch(r"truncated: header says (\d+\.\d\d) s, decoded (\d+\.\d\d) s", reason)
    assert match, reason
    assert float(match.group(1)) == pytest.approx(declared, abs=0.005)
    assert 0.25 * declared < float(match.group(2)) < 0.75 * declared  # about half was there
    # the header check alone sees it too: the end of the audio cannot be decoded
    with pytest.raises(AudioDecodeError, match=r"truncated or damaged: header says \d+\.\d\d s"):
        probe(source)


@pytest.mark.parametrize("how", ["replaced", "inserted"])
def test_a_flac_with_garbage_in_the_middle_is_corrupt_at_a_time(tmp_path, how):
    raw = MINI_CLIP.read_bytes()
    declared = soundfile.info(str(MINI_CLIP)).duration
    middle = len(raw) // 2
    garbage = np.random.default_rng(7).bytes(1500)
    content = raw[:middle] + garbage + raw[middle + (len(garbage) if how == "replaced" else 0) :]
    with pytest.raises(AudioDecodeError) as info:
        load_audio(damaged(tmp_path, "garbage.flac", content))
    reason = assert_plain_one_line(info.value, "audio/garbage.flac")
    match = re.match(r"corrupt FLAC data at (\d+\.\d) s", reason)
    assert match, reason
    assert 0.2 * declared < float(match.group(1)) < 0.8 * declared  # where the garbage is


@pytest.mark.parametrize("subtype, keep", [("PCM_16", 0.5), ("PCM_24", 0.3), ("FLOAT", 0.75)])
@pytest.mark.parametrize("from_bytes", [False, True], ids=["path", "bytes"])
def test_a_truncated_wav_is_named_by_load_audio_and_probe(make_audio, tmp_path, subtype, keep, from_bytes):
    path = make_audio("full.wav", 2.0)
    data, rate = soundfile.read(str(path), dtype="float32")
    soundfile.write(str(path), data, rate, subtype=subtype)
    raw = path.read_bytes()
    cut = raw[: int(len(raw) * keep)]
    frames_left = soundfile.info(str(damaged(tmp_path, "probe.wav", cut).path)).frames
    source = AudioSource(data=cut, label="audio/cut.wav") if from_bytes else damaged(tmp_path, "cut.wav", cut)
    expected = f"header says 2.00 s, decoded {frames_left / rate:.2f} s"
    with pytest.raises(AudioDecodeError) as info:
        load_audio(source)
    assert assert_plain_one_line(info.value, "audio/cut.wav") == f"truncated: {expected}"
    with pytest.raises(AudioDecodeError, match=re.escape(f"truncated: header says 2.00 s, file holds {frames_left / rate:.2f} s")):
        probe(source)


def test_a_wav_header_without_its_data_is_truncated(make_audio, tmp_path):
    raw = make_audio("full.wav", 1.5).read_bytes()
    with pytest.raises(AudioDecodeError, match=r"^audio/header\.wav: truncated: header says 1\.50 s, decoded 0\.00 s$"):
        load_audio(damaged(tmp_path, "header.wav", raw[:44]))


@pytest.mark.parametrize("name", ["random.flac", "random.wav", "random.mp3", "random.ogg"])
def test_random_bytes_are_not_an_audio_file(tmp_path, name):
    # seed 3 starts with neither an audio signature nor an MPEG frame sync
    source = damaged(tmp_path, name, np.random.default_rng(3).bytes(30_000))
    for read in (load_audio, probe):
        with pytest.raises(AudioDecodeError) as info:
            read(source)
        assert assert_plain_one_line(info.value, f"audio/{name}").startswith("not an audio file")


def test_a_damaged_flac_header_is_named_without_class_names(tmp_path):
    source = damaged(tmp_path, "broken.flac", b"fLaC" + b"\x00" * 2000)
    with pytest.raises(AudioDecodeError) as info:
        load_audio(source)
    assert assert_plain_one_line(info.value, "audio/broken.flac").startswith("undecodable FLAC file: damaged header")


def test_a_format_no_installed_decoder_reads_says_so_in_words(tmp_path):
    # An MP4 box header, then nothing libsndfile or audioread's built-in reader can read:
    # before, this said "undecodable audio (NoBackendError)".
    source = damaged(tmp_path, "voice.m4a", b"\x00\x00\x00\x20ftypM4A " + np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioDecodeError) as info:
        load_audio(source)
    reason = assert_plain_one_line(info.value, "audio/voice.m4a")
    assert reason.startswith("undecodable MP4/M4A file") and "ffmpeg" in reason


def test_the_fallback_decoder_checks_the_header_too(make_audio, tmp_path):
    """audioread (the fallback for what libsndfile cannot open) must not score a partial
    decode either: it reads a truncated WAV as far as it goes unless checked."""
    from workbench.audio import _decode_fallback

    raw = make_audio("full.wav", 2.0).read_bytes()
    source = damaged(tmp_path, "cut.wav", raw[: len(raw) // 2])
    with pytest.raises(AudioDecodeError) as info:
        _decode_fallback(source, "WAV", RuntimeError("libsndfile could not open it"))
    assert assert_plain_one_line(info.value, "audio/cut.wav") == "truncated: header says 2.00 s, decoded 1.00 s"
    whole = _decode_fallback(damaged(tmp_path, "whole.wav", raw), "WAV", RuntimeError("x"))
    assert whole[0].shape == (32_000, 1) and whole[1] == 16_000


def test_a_flac_without_a_length_in_its_header_is_measured_by_decoding(tmp_path):
    """A FLAC written as a stream has total_samples 0: libsndfile then reports an
    absurd length, which must neither be trusted nor break decoding."""
    raw = bytearray(MINI_CLIP.read_bytes())
    frames = soundfile.info(str(MINI_CLIP)).frames
    # STREAMINFO starts at byte 8; its last 36 bits at bytes 18..25 hold total_samples
    (packed,) = struct.unpack(">Q", bytes(raw[18:26]))
    raw[18:26] = struct.pack(">Q", packed & ~((1 << 36) - 1))
    source = damaged(tmp_path, "stream.flac", bytes(raw))
    assert probe(source).duration_s == pytest.approx(frames / 16_000)
    assert len(load_audio(source)) == frames


def test_a_healthy_clip_of_the_example_data_still_decodes_whole():
    source = AudioSource(path=str(MINI_CLIP), label="en-us-01.flac")
    assert len(load_audio(source)) == soundfile.info(str(MINI_CLIP)).frames
    assert probe(source).duration_s == pytest.approx(soundfile.info(str(MINI_CLIP)).duration)


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
