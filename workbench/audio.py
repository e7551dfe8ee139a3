"""Decode any common audio file to 16 kHz mono float32, with optional preprocessing.

soundfile (libsndfile) reads wav, flac, ogg/vorbis/opus and mp3 without ffmpeg; anything
else falls back to audioread (ffmpeg when installed). Resampling uses soxr through librosa.

A clip is never scored on part of its audio: every decode is checked against what the
file's header declares (WAV data size, FLAC total samples, the container's duration),
and a decode that fails or ends early raises `AudioDecodeError` with a reason in words
("truncated: header says 4.20 s, decoded 2.10 s", "corrupt FLAC data at 1.3 s",
"not an audio file"). Files whose first bytes announce no audio format are refused
before any decoder sees them: mp3 decoders resync through anything and would turn
random bytes into noise.
"""

import io
import os
import re
import stat
import struct
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import soundfile

from .dataset import AudioSource
from .errors import BadInputError

__all__ = ["SAMPLE_RATE", "Preprocessing", "AudioInfo", "probe", "load_audio", "AudioDecodeError", "sniff_format", "audio_duration", "iter_audio_blocks"]

SAMPLE_RATE = 16_000  # what every Whisper model expects

# libsndfile reports SF_COUNT_MAX frames when the header leaves the length open (a FLAC
# written as a stream has total_samples 0): then only decoding tells the duration.
_UNKNOWN_FRAMES = 1 << 62
# Formats whose header states the exact number of frames: any shortfall is damage.
# Lossy formats declare an estimate, so they get a small tolerance.
_EXACT_FORMATS = ("WAV", "W64", "FLAC", "AIFF", "AU", "CAF")
_LIBSNDFILE_FORMATS = ("WAV", "W64", "FLAC", "Ogg", "MP3", "AIFF", "AU", "CAF", "NIST SPHERE", "VOC")
_BLOCK = 1024  # frames per read when locating where a decode failed


class AudioDecodeError(BadInputError):
    """The audio file is missing, empty, damaged or cannot be decoded.

    `reason` says what is wrong in words; `source` names the file (its label as the
    manifest writes it). The message is "source: reason", one line.
    """

    def __init__(self, reason: str, source: str | None = None):
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)

    def __reduce__(self):  # keep both fields across processes
        return (type(self), (self.reason, self.source))


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


def _fail(source: AudioSource, reason: str) -> AudioDecodeError:
    return AudioDecodeError(reason, source.describe())


def _check_present(source: AudioSource) -> None:
    """The same clear message for a missing or empty file, whichever reader comes next."""
    if source.path is not None:
        try:
            st = os.stat(source.path)  # one call answers all three (probing 100k clips calls this 100k times)
        except (OSError, ValueError):
            raise _fail(source, "file not found") from None
        if stat.S_ISDIR(st.st_mode):
            raise _fail(source, "is a folder, not an audio file")
        if st.st_size == 0:
            raise _fail(source, "file is empty (0 bytes)")
    elif not source.data:
        raise _fail(source, "audio is empty (0 bytes)")


# --------------------------------------------------------------------------- what the file is


def _head(source: AudioSource, size: int = 64) -> bytes:
    if source.data is not None:
        return source.data[:size]
    try:
        with open(source.path, "rb") as f:
            return f.read(size)
    except OSError as exc:
        raise _fail(source, f"cannot read the file ({exc.strerror or 'unreadable'})") from None


def sniff_format(head: bytes) -> str | None:
    """The audio format a file's first bytes announce ("WAV", "FLAC", ...), or None."""
    four = head[:4]
    if four in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "WAV"
    if four == b"RF64" or four == b"BW64":
        return "WAV"
    if four == b"fLaC":
        return "FLAC"
    if four == b"OggS":
        return "Ogg"
    if head[:3] == b"ID3":
        return "MP3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "MP3"  # an MPEG audio (or ADTS AAC) frame sync
    if four == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[4:8] == b"ftyp":
        return "MP4/M4A"
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return "WMA"
    if four == b"\x1aE\xdf\xa3":
        return "WebM/Matroska"
    if head[:5] == b"#!AMR":
        return "AMR"
    if four == b".snd":
        return "AU"
    if four == b"caff":
        return "CAF"
    if four == b"wvpk":
        return "WavPack"
    if four == b"MAC ":
        return "APE"
    if head[:7] == b"NIST_1A":
        return "NIST SPHERE"
    if head[:16] == b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00":
        return "W64"
    if head[:4] == b"ajkg":
        return "Shorten"
    if head[:20] == b"Creative Voice File\x1a":
        return "VOC"
    return None


def _not_audio(source: AudioSource, head: bytes) -> AudioDecodeError:
    """Say what the bytes look like instead, so a renamed text or HTML file is obvious."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.strip() and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        preview = " ".join(text.split())[:30]
        return _fail(source, f"not an audio file (it holds text: {preview!r})")
    return _fail(source, "not an audio file (its first bytes match no audio format)")


def _wav_declared_frames(source: AudioSource) -> int | None:
    """Frames the RIFF `data` chunk declares. libsndfile silently shortens a WAV whose data
    ends early to what is there, so only the header itself tells a WAV was truncated."""
    try:
        f = open(source.path, "rb") if source.path is not None else io.BytesIO(source.data)
    except OSError:
        return None
    with f:
        if f.read(12)[:4] != b"RIFF":
            return None  # RIFX (big-endian), RF64: rare; libsndfile's count is used
        block_align = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                fmt = f.read(min(size, 16))
                if len(fmt) < 14:
                    return None
                block_align = struct.unpack("<H", fmt[12:14])[0]
                f.seek(size - len(fmt) + (size & 1), 1)
            elif name == b"data":
                # 0 and 0xFFFFFFFF mean "length not written" (streamed WAV): unknown
                if not block_align or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                f.seek(size + (size & 1), 1)


def _plain(exc: BaseException | str) -> str:
    """A decoder's message in words: no exception class names, no internals, no paths."""
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    text = re.sub(r"^Error opening .*?: ", "", text)
    text = re.sub(r"^Error\s*:\s*", "", text).strip().rstrip(".")
    if "psf_" in text or text.lower().startswith("internal"):
        return ""
    if "does not exist or is not a regular file" in text or "format not recognised" in text.lower():
        return "the decoder does not recognise its contents"
    return text


def _seconds(frames: int, rate: int) -> str:
    return f"{frames / rate:.2f} s"


# --------------------------------------------------------------------------- decoding


def _read_all(f: soundfile.SoundFile, blocksize: int = 1 << 16) -> tuple[list[np.ndarray], str | None]:
    """Blocks of float32 frames read in order from an open file, and what stopped the read
    early, if anything.

    libsndfile's own read call is used: it returns the frames decoded before an error (so
    the error has a position) and a short count at the end of a stream of unknown length.
    soundfile's `read` raises instead and loses both (its position update seeks past the
    end, which fails).
    """
    blocks: list[np.ndarray] = []
    try:
        from soundfile import _ffi, _snd

        handle = f._file
    except (ImportError, AttributeError):  # a soundfile without these internals: less exact
        return _read_all_public(f, blocks)
    try:
        while True:
            out = np.empty((blocksize, f.channels), dtype=np.float32)
            count = _snd.sf_readf_float(handle, _ffi.cast("float *", out.ctypes.data), blocksize)
            if count > 0:
                blocks.append(out[:count])
            if _snd.sf_error(handle):
                return blocks, _ffi.string(_snd.sf_strerror(handle)).decode("utf-8", "replace")
            if count < blocksize:
                return blocks, None
    except Exception as exc:  # libsndfile raises its own error type for every failure
        return blocks, str(exc) or "decoder error"


def _read_all_public(f: soundfile.SoundFile, blocks: list[np.ndarray]) -> tuple[list[np.ndarray], str | None]:
    try:
        while True:
            block = f.read(_BLOCK, dtype="float32", always_2d=True)
            if not len(block):
                return blocks, None
            blocks.append(block)
    except Exception as exc:
        return blocks, str(exc) or "decoder error"


def _tail_readable(source: AudioSource, declared: int) -> bool:
    """Whether the last frames the header declares can be decoded: they can when the
    damage is in the middle of the file, not when the file was cut short."""
    try:
        with soundfile.SoundFile(_open(source)) as f:
            f.seek(max(0, declared - _BLOCK))
            return len(f.read(_BLOCK, dtype="float32")) > 0
    except Exception:
        return False


def _shortfall_allowed(fmt: str, declared: int, rate: int) -> int:
    if fmt in _EXACT_FORMATS:
        return 0
    return max(int(0.01 * declared), int(0.05 * rate))  # lossy headers hold an estimate


def _decode(source: AudioSource) -> tuple[np.ndarray, int]:
    """(frames x channels float32, sample rate), checked against the header."""
    _check_present(source)
    head = _head(source)
    fmt = sniff_format(head)
    if fmt is None:
        raise _not_audio(source, head)
    try:
        f = soundfile.SoundFile(_open(source))
    except Exception as exc:
        return _decode_fallback(source, fmt, exc)
    with f:
        rate, frames = f.samplerate, f.frames
        blocks, error = _read_all(f)
    declared = frames if 0 <= frames < _UNKNOWN_FRAMES else None
    if fmt == "WAV":
        declared = _wav_declared_frames(source) or declared
    decoded = sum(len(b) for b in blocks)
    if error is not None:
        if declared is not None and decoded < declared and not _tail_readable(source, declared):
            raise _fail(source, f"truncated: header says {_seconds(declared, rate)}, decoded {_seconds(decoded, rate)}")
        detail = _plain(error)
        raise _fail(source, f"corrupt {fmt} data at {decoded / rate:.1f} s" + (f" ({detail})" if detail else ""))
    if declared is not None and decoded < declared - _shortfall_allowed(fmt, declared, rate):
        if decoded == 0 or fmt == "WAV" or not _tail_readable(source, declared):
            raise _fail(source, f"truncated: header says {_seconds(declared, rate)}, decoded {_seconds(decoded, rate)}")
        raise _fail(source, f"corrupt {fmt} data: header says {_seconds(declared, rate)}, decoded {_seconds(decoded, rate)}")
    if decoded == 0:
        raise _fail(source, "audio has no samples")
    return np.concatenate(blocks), rate


def _decode_fallback(source: AudioSource, fmt: str, first_error: Exception) -> tuple[np.ndarray, int]:
    """audioread (ffmpeg when installed) for what libsndfile cannot open, checked the same way."""
    # libsndfile reads these formats, so failing to open one means its header is damaged;
    # for the others the fix is a decoder that reads them.
    damaged = fmt in _LIBSNDFILE_FORMATS
    why = _plain(first_error) if damaged else ""
    what = f"undecodable {fmt} file: damaged header" if damaged else f"undecodable {fmt} file"
    what += f" ({why})" if why else ""
    if source.path is None:
        raise _fail(source, what)
    import audioread

    try:
        handle = audioread.audio_open(source.path)
    except audioread.NoBackendError:
        hint = "" if damaged else "; no installed decoder reads this format (ffmpeg adds it)"
        raise _fail(source, what + hint) from None
    except Exception as exc:  # each backend raises its own types
        detail = _plain(exc)
        raise _fail(source, what if why or not detail else f"undecodable {fmt} file ({detail})") from None
    chunks: list[np.ndarray] = []
    with handle:
        rate, channels = int(handle.samplerate), max(1, int(handle.channels))
        declared_s = float(handle.duration or 0.0)
        decoded = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for buffer in handle:  # 16-bit signed little-endian, interleaved
                    chunk = np.frombuffer(buffer, dtype="<i2")
                    chunks.append(chunk)
                    decoded += chunk.size
        except Exception as exc:
            detail = _plain(exc)
            where = decoded / channels / rate
            raise _fail(source, f"corrupt {fmt} data at {where:.1f} s" + (f" ({detail})" if detail else "")) from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype="<i2")
    samples = samples[: samples.size - samples.size % channels].reshape(-1, channels).astype(np.float32) / 32768.0
    decoded_s = len(samples) / rate
    # the container's duration is rounded (ffmpeg prints centiseconds): allow for that
    if declared_s and decoded_s < declared_s - max(0.1, 0.01 * declared_s):
        raise _fail(source, f"truncated: header says {declared_s:.2f} s, decoded {decoded_s:.2f} s")
    if not len(samples):
        raise _fail(source, "audio has no samples")
    return samples, rate


def probe(source: AudioSource) -> AudioInfo:
    """Read the header (fast) and check what is cheap to check; decode odd formats fully.

    A truncated WAV is caught here (its data chunk is longer than the file); a FLAC whose
    last frames cannot be decoded too. Damage in the middle of a compressed file shows
    only when decoding it (`load_audio`).
    """
    _check_present(source)
    head = _head(source)
    fmt = sniff_format(head)
    if fmt is None:
        raise _not_audio(source, head)
    try:
        # The header's frames, rate and channels: what soundfile.info() reads, without the
        # format names and log it also builds (a quarter of the time of probing a clip).
        with soundfile.SoundFile(_open(source)) as info:
            pass
    except Exception:
        samples, rate = _decode(source)
        return AudioInfo(len(samples) / rate, rate, samples.shape[1])
    if info.samplerate <= 0:
        raise _fail(source, "header gives no sample rate")
    if info.frames >= _UNKNOWN_FRAMES:  # length not in the header: measure it
        samples, rate = _decode(source)
        return AudioInfo(len(samples) / rate, rate, samples.shape[1])
    if fmt == "WAV":
        declared = _wav_declared_frames(source)
        if declared is not None and info.frames < declared:
            raise _fail(source, f"truncated: header says {_seconds(declared, info.samplerate)}, file holds {_seconds(info.frames, info.samplerate)}")
    if info.frames <= 0:
        raise _fail(source, "audio has no samples")
    if fmt == "FLAC" and not _tail_readable(source, info.frames):
        raise _fail(source, f"truncated or damaged: header says {_seconds(info.frames, info.samplerate)} but the end of the audio cannot be decoded")
    return AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels)


def load_audio(source: AudioSource, preprocessing: Preprocessing = Preprocessing()) -> np.ndarray:
    """Decode (checked against the header), down-mix to mono, resample, then trim and
    normalize as configured."""
    data, rate = _decode(source)
    mono = data.mean(axis=1).astype(np.float32)
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


# --------------------------------------------------------------------------- long recordings


def _as_source(source: "AudioSource | str | os.PathLike") -> AudioSource:
    return source if isinstance(source, AudioSource) else AudioSource(path=os.fspath(source), label=os.fspath(source))


def audio_duration(source: "AudioSource | str | os.PathLike") -> float:
    """Seconds of audio, from the header where it states them (no decoding)."""
    return probe(_as_source(source)).duration_s


def _frames(f: soundfile.SoundFile, blocksize: int, state: dict):
    """Float32 frame blocks read in order; what stopped the read early, if anything, is
    left in state["error"] (the same libsndfile read as `_read_all`, one block at a time)."""
    try:
        from soundfile import _ffi, _snd

        handle = f._file
    except (ImportError, AttributeError):
        handle = None
    try:
        while True:
            if handle is None:
                block = f.read(blocksize, dtype="float32", always_2d=True)
                if not len(block):
                    return
                yield block
                continue
            out = np.empty((blocksize, f.channels), dtype=np.float32)
            count = _snd.sf_readf_float(handle, _ffi.cast("float *", out.ctypes.data), blocksize)
            if count > 0:
                yield out[:count]
            if _snd.sf_error(handle):
                state["error"] = _ffi.string(_snd.sf_strerror(handle)).decode("utf-8", "replace")
                return
            if count < blocksize:
                return
    except Exception as exc:  # libsndfile raises its own error type for every failure
        state["error"] = str(exc) or "decoder error"


def _stream(source: AudioSource, block_s: float, rate_out: int):
    """16 kHz (rate_out) mono float32 blocks of exactly block_s seconds (the last one
    shorter), checked against the header like `load_audio`: a truncated or damaged file
    raises AudioDecodeError when the read reaches the damage."""
    size = max(1, int(round(block_s * rate_out)))
    _check_present(source)
    head = _head(source)
    fmt = sniff_format(head)
    if fmt is None:
        raise _not_audio(source, head)
    try:
        f = soundfile.SoundFile(_open(source))
    except Exception:
        # audioread formats (m4a, ...) have no block reader here: decoded whole, then cut
        samples = load_audio(source, Preprocessing(sample_rate=rate_out))
        for start in range(0, len(samples), size):
            yield samples[start : start + size]
        return
    with f:
        rate, frames = f.samplerate, f.frames
        declared = frames if 0 <= frames < _UNKNOWN_FRAMES else None
        if fmt == "WAV":
            declared = _wav_declared_frames(source) or declared
        resampler = None
        if rate != rate_out:
            import soxr

            # one streaming resampler for the whole file: no edge effects at block seams,
            # the same filter (soxr HQ) that load_audio's librosa.resample uses
            resampler = soxr.ResampleStream(rate, rate_out, 1, dtype="float32", quality="HQ")
        pending: list[np.ndarray] = []
        held = 0
        decoded = 0
        state: dict = {}
        for block in _frames(f, max(1024, int(block_s * rate)), state):
            decoded += len(block)
            mono = block.mean(axis=1).astype(np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=False)
            pending.append(mono)
            held += len(mono)
            while held >= size:
                joined = np.concatenate(pending)
                yield np.ascontiguousarray(joined[:size])
                pending, held = [joined[size:]], len(joined) - size
        error = state.get("error")
    if error is not None:
        if declared is not None and decoded < declared and not _tail_readable(source, declared):
            raise _fail(source, f"truncated: header says {_seconds(declared, rate)}, decoded {_seconds(decoded, rate)}")
        detail = _plain(error)
        raise _fail(source, f"corrupt {fmt} data at {decoded / rate:.1f} s" + (f" ({detail})" if detail else ""))
    if declared is not None and decoded < declared - _shortfall_allowed(fmt, declared, rate):
        if decoded == 0 or fmt == "WAV" or not _tail_readable(source, declared):
            raise _fail(source, f"truncated: header says {_seconds(declared, rate)}, decoded {_seconds(decoded, rate)}")
        raise _fail(source, f"corrupt {fmt} data: header says {_seconds(declared, rate)}, decoded {_seconds(decoded, rate)}")
    if decoded == 0:
        raise _fail(source, "audio has no samples")
    if resampler is not None:
        pending.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    rest = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
    for start in range(0, len(rest), size):
        yield np.ascontiguousarray(rest[start : start + size], dtype=np.float32)


def iter_audio_blocks(
    source: "AudioSource | str | os.PathLike", block_s: float = 30.0, preprocessing: Preprocessing = Preprocessing()
):
    """The audio as consecutive 16 kHz mono float32 blocks of `block_s` seconds (the last
    one shorter), so a two-hour recording never needs its whole signal in memory.

    Concatenated, the blocks are what `load_audio` returns (the same decode, down-mix and
    soxr HQ resampling, streamed). `peak_normalize` reads the file twice (the peak first);
    `trim_silence` is refused: cutting the leading silence would shift every time against
    a timed reference. Damage is found as the read reaches it, so blocks before it may
    already have been yielded when AudioDecodeError is raised.
    """
    if block_s <= 0:
        raise ValueError(f"block_s must be positive, got {block_s!r}")
    src = _as_source(source)
    if preprocessing.trim_silence:
        raise BadInputError(
            f"{src.describe()}: trim_silence cannot be used on a long recording read in blocks: it would shift every time against the reference"
        )
    scale = None
    if preprocessing.peak_normalize:
        peak = max((float(np.max(np.abs(b))) for b in _stream(src, block_s, preprocessing.sample_rate) if b.size), default=0.0)
        scale = preprocessing.peak_level / peak if peak > 0 else None  # all-silent audio stays silent
    for block in _stream(src, block_s, preprocessing.sample_rate):
        yield block if scale is None else (block * scale).astype(np.float32)
