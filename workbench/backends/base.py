"""What every decoding backend takes and returns.

`DecodingOptions` are frozen into each run record, so a score always says how its
transcripts were decoded. `Transcript` keeps the confidence signals Whisper gives per
utterance (average log-probability, no-speech probability, compression ratio), the
language it detected, whether or not the language was forced, and (with
`word_confidence`) each word with its probability, the input of `workbench.confidence`.

Word probabilities are Whisper's: the mean probability of a word's tokens, punctuation
merged into its word as Whisper does for word timestamps (`merge_punctuation`), so the
words joined are the text. faster-whisper and openai-whisper take them from the
teacher-forced alignment pass their word timestamps use; transformers from the
teacher-forced pass it already runs for the average log-probability.
"""

import string
import zlib
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

__all__ = ["DecodingOptions", "AudioItem", "Transcript", "Backend", "applied_options", "compression_ratio", "language_code",
           "word_probability", "merge_punctuation", "split_words", "PREPEND_PUNCTUATION", "APPEND_PUNCTUATION", "LONGFORM_MODES",
           "long_item_options", "LONG_ITEM_SAMPLES", "BlockAudio", "signal"]


LONGFORM_MODES = ("sequential", "batched")  # how items longer than 30 s are decoded
LONG_ITEM_SAMPLES = 30 * 16_000  # an item with more samples than Whisper's window is decoded long-form


@dataclass(frozen=True)
class DecodingOptions:
    beam_size: int = 1  # 1 = greedy: deterministic and fastest on CPU
    temperature: tuple[float, ...] = (0.0,)  # fallback ladder, e.g. (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4  # above: treat as a repetition loop, retry hotter
    logprob_threshold: float | None = -1.0  # below: retry at the next temperature
    no_speech_threshold: float | None = 0.6  # above (with low log-prob): output nothing
    condition_on_previous_text: bool = False  # clips are independent utterances
    initial_prompt: str | None = None  # text the decoder sees as preceding context
    hotwords: str | None = None  # faster-whisper only: words to bias towards
    without_timestamps: bool = True
    task: str = "transcribe"  # or "translate"
    language: str | None = None  # force one language for every utterance
    detect_language: bool = True  # always record the detected language (multilingual models)
    batch_size: int = 8  # utterances decoded together where the backend batches; 0 = auto (8 on CPU, 16 on GPU)
    compute_type: str = "int8"  # faster-whisper on CPU; "float16" on GPU; "auto" = whichever device is used
    threads: int = 0  # CPU threads; 0 = the backend's default
    device: str = "cpu"  # cpu, cuda, or auto (a GPU when one is present: backends/device.py)
    # Per-word probabilities stored with each hypothesis (extra["words"]), for the review
    # queue and the confidence calibrator. On by default: on faster-whisper the alignment
    # pass is 4-5% of decoding on CPU (benchmarks/README.md, "Word confidence"), under the
    # 10% target; on transformers it is free; on openai-whisper it encodes each clip again.
    word_confidence: bool = True
    # Items longer than Whisper's 30 s window (clips up to 30 s decode as before, whatever
    # these say). "sequential": Whisper's own algorithm (faster-whisper's and
    # openai-whisper's `transcribe`), always with timestamps: without them the decoder
    # cannot seek to where the last full segment ended, and speech cut at a 30 s window
    # boundary is silently dropped. "batched": faster-whisper's BatchedInferencePipeline,
    # Silero VAD cutting the speech into chunks of at most `chunk_length` s decoded
    # `batch_size` at a time (faster-whisper only; openai-whisper decodes sequentially).
    longform: str = "sequential"
    chunk_length: int = 30  # batched: seconds of speech per VAD chunk, 1..30
    vad: bool = False  # sequential: skip what Silero VAD calls non-speech first (faster-whisper)

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size!r}")
        if not self.temperature or any(t < 0 for t in self.temperature):
            raise ValueError(f"temperature must be a non-empty list of values >= 0, got {self.temperature!r}")
        if self.task not in ("transcribe", "translate"):
            raise ValueError(f"task must be transcribe or translate, got {self.task!r}")
        if self.batch_size < 0:
            raise ValueError(f"batch_size must be >= 1, or 0 for auto, got {self.batch_size!r}")
        if self.longform not in LONGFORM_MODES:
            raise ValueError(f"longform must be one of {', '.join(LONGFORM_MODES)}, got {self.longform!r}")
        if not 1 <= self.chunk_length <= 30:
            raise ValueError(f"chunk_length must be 1..30 seconds (Whisper's window), got {self.chunk_length!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BlockAudio:
    """A recording too long to hold whole: how many samples it has, and a way to read it
    again from the start in blocks (`workbench.audio.iter_audio_blocks`). The
    faster-whisper backend decodes it sequentially block by block
    (`backends.streaming_mel`); what needs the whole signal asks for it (`signal`)."""

    samples: int  # 16 kHz samples in the whole recording (counted by a first read)
    read: Callable[[], Iterable[np.ndarray]]  # each call a fresh read: consecutive float32 blocks, any sizes

    def __len__(self) -> int:
        return self.samples

    @classmethod
    def of_array(cls, samples: np.ndarray, block: int = LONG_ITEM_SAMPLES) -> "BlockAudio":
        """An array already in memory, read in blocks of `block` samples."""
        return cls(len(samples), lambda: (samples[i : i + block] for i in range(0, len(samples), block)))

    def head(self, count: int) -> np.ndarray:
        """The first `count` samples (one partial read)."""
        out, held = [], 0
        for block in self.read():
            out.append(block[: count - held])
            held += len(out[-1])
            if held >= count:
                break
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def signal(audio: "np.ndarray | BlockAudio") -> np.ndarray:
    """The whole signal of an item's audio, read into memory if it is a `BlockAudio` (for
    the decoders that take one array: openai-whisper, the batched pipeline, VAD)."""
    if isinstance(audio, BlockAudio):
        return np.ascontiguousarray(np.concatenate(list(audio.read())), dtype=np.float32)
    return audio


@dataclass(frozen=True)
class AudioItem:
    utterance_id: str
    # 16 kHz mono float32: an array, or for a recording longer than 30 s a BlockAudio
    # read in blocks (len() is the sample count either way)
    audio: "np.ndarray | BlockAudio"
    language: str | None  # from the dataset; None = detect
    prompt: str | None = None  # this utterance's initial prompt (a strategy's), else the options'
    hotwords: str | None = None  # faster-whisper: this utterance's hotwords, else the options'
    # DecodingOptions fields changed for this item if it is longer than 30 s (a long-form
    # strategy's, e.g. {"longform": "batched", "chunk_length": 20}); ignored for shorter clips.
    longform_options: dict | None = None
    # Hypotheses to return for a clip (an n-best strategy's): > 1 decodes with a beam of at
    # least this width and keeps the beam's best `num_hypotheses` (`Transcript.nbest`);
    # ignored by backends that cannot return several, and for items longer than 30 s.
    num_hypotheses: int = 1


@dataclass(frozen=True)
class Transcript:
    utterance_id: str
    text: str
    language: str | None  # the language decoded with (forced or detected)
    detected_language: str | None  # what language ID said, even when the language was forced
    language_probability: float | None
    avg_logprob: float | None
    no_speech_prob: float | None
    compression_ratio: float | None
    temperature: float | None  # the temperature that produced the text
    decode_s: float  # wall seconds spent on this utterance (its share of a batch)
    # (word, probability) in text order, the word with its leading space as decoded;
    # None when word confidence was off, () when there is no text
    words: tuple[tuple[str, float], ...] | None = None
    # (start s, end s, text) of each decoded segment of an item longer than 30 s, in order;
    # () for a clip (one window, no timestamps)
    segments: tuple[tuple[float, float, str], ...] = ()
    # (start s, end s) of each of `words`, where the decoder timed them (long items)
    word_times: tuple[tuple[float, float], ...] | None = None
    # (text, score) of each hypothesis the beam kept, best first, when several were asked
    # for (`AudioItem.num_hypotheses`); score: the decoder's log-probability per token
    # (length-normalised, as the beam ranks them). The first is `text`.
    nbest: tuple[tuple[str, float], ...] | None = None

    def signals(self) -> dict:
        """What the run store keeps beside the hypothesis text; "words" as [[word, p], ...]
        and only when word confidence was on."""
        data = asdict(self)
        del data["utterance_id"], data["text"]
        if self.words is None:
            del data["words"]
        else:
            data["words"] = [[w, float(p)] for w, p in self.words]
        # Long items only, so a clip's stored signals stay as they were.
        if self.segments:
            data["segments"] = [[float(a), float(b), t] for a, b, t in self.segments]
        else:
            del data["segments"]
        if self.word_times is None:
            del data["word_times"]
        else:
            data["word_times"] = [[float(a), float(b)] for a, b in self.word_times]
        if self.nbest is None:
            del data["nbest"]
        else:
            data["nbest"] = [[t, round(float(s), 4)] for t, s in self.nbest]
        return data


class Backend(Protocol):
    name: str

    def transcribe(self, items: Iterable[AudioItem]) -> Iterator[Transcript]:
        """Transcripts in the order of `items`, yielded as they are ready; `items` is
        consumed lazily so only what is being decoded needs to be in memory."""
        ...

    def applied_options(self) -> dict:
        """The decoding options as this backend really applies them (`applied_options`
        below): what a run records, since a requested option can be capped or ignored."""
        ...


def applied_options(options: DecodingOptions, backend: str, model_path: str, **effective) -> dict:
    """`options` as a dict with what the backend changed put in (`effective`: e.g. the
    batch size it caps, the compute type and device it got, a hotword list it ignores),
    plus the backend, the library versions it was given in `effective["libraries"]`, and
    the model it loaded: {"path", "sha256"} (`workbench.models.model_fingerprint`, cached
    per file size and mtime, so cheap after the first run)."""
    from ..models import model_fingerprint

    unknown = set(effective) - set(options.to_dict()) - {"libraries"}
    if unknown:  # a typo here would silently record the requested value
        raise ValueError(f"applied_options: not decoding options: {sorted(unknown)}")
    applied = options.to_dict() | effective
    applied["temperature"] = list(applied["temperature"])
    applied["backend"] = backend
    applied["model"] = {"path": str(model_path), "sha256": model_fingerprint(model_path)}
    return applied


def long_item_options(options: DecodingOptions, item: AudioItem) -> DecodingOptions:
    """The run's options with the item's long-form changes (a long-form strategy's
    `AudioItem.longform_options`); ValueError naming the item for a bad one."""
    if not item.longform_options:
        return options
    try:
        return replace(options, **item.longform_options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"utterance {item.utterance_id}: bad long-form options {item.longform_options!r}: {exc}") from None


def compression_ratio(text: str) -> float | None:
    """Whisper's repetition signal: text bytes over zlib-compressed bytes."""
    data = text.encode("utf-8")
    if not data:
        return None
    return len(data) / len(zlib.compress(data))


def language_code(language: str | None) -> str | None:
    """'en-GB', 'English', 'EN' -> 'en' (Whisper's codes); None stays None."""
    if not language:
        return None
    text = language.strip().lower().replace("_", "-")
    code = text.split("-", 1)[0]
    names = {"english": "en", "german": "de", "spanish": "es", "french": "fr", "italian": "it", "portuguese": "pt", "persian": "fa", "farsi": "fa"}
    return names.get(text, code)


# Whisper's defaults for word timestamps (openai-whisper and faster-whisper alike).
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


def word_probability(value: float) -> float:
    """A token-probability mean as stored: a float in (0, 1]. Clamped only against float
    rounding (a float32 mean of ~1.0 can land a hair above 1; an underflow at 0)."""
    return min(max(float(value), 1e-9), 1.0)


def merge_punctuation(words: list[tuple[str, float]], prepended: str = PREPEND_PUNCTUATION,
                      appended: str = APPEND_PUNCTUATION) -> list[tuple[str, float]]:
    """Whisper's `merge_punctuations` for (word, probability) pairs: an opening mark joins
    the word after it, a closing mark the word before it, and the merged word keeps its
    host word's probability (as Whisper's word timestamps do). Nothing is dropped, so the
    words joined still equal the text."""
    out = [[w, p] for w, p in words]
    i, j = len(out) - 2, len(out) - 1
    while i >= 0:
        if out[i][0].startswith(" ") and out[i][0].strip() in prepended and out[j][0]:
            out[j][0] = out[i][0] + out[j][0]
            out[i][0] = ""
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(out):
        if out[i][0] and not out[i][0].endswith(" ") and out[j][0] and out[j][0] in appended:
            out[i][0] = out[i][0] + out[j][0]
            out[j][0] = ""
        else:
            i = j
        j += 1
    return [(w, p) for w, p in out if w]


# Languages written without spaces: Whisper splits their words at every whole character.
_UNSPACED = {"zh", "ja", "th", "lo", "my", "yue"}


def split_words(tokens: Sequence[int], probabilities: Sequence[float], decode: Callable[[list[int]], str],
                language: str | None) -> list[tuple[str, float]]:
    """Text tokens and their probabilities as (word, mean token probability), Whisper's way
    (`split_to_word_tokens`): tokens are first grouped until they decode to whole Unicode
    characters, then a group that starts with a space or is punctuation starts a new word
    (every group does in languages written without spaces); then `merge_punctuation`."""
    if len(tokens) != len(probabilities):
        raise ValueError(f"split_words: {len(tokens)} tokens, {len(probabilities)} probabilities")
    full = decode(list(tokens))
    groups: list[tuple[str, list[float]]] = []
    current: list[int] = []
    current_p: list[float] = []
    offset = 0
    for token, p in zip(tokens, probabilities):
        current.append(token)
        current_p.append(float(p))
        decoded = decode(current)
        bad = decoded.find("\ufffd")
        # a replacement character that the full text has too is real, not a cut character
        if bad < 0 or (offset + bad < len(full) and full[offset + bad] == "\ufffd"):
            groups.append((decoded, current_p))
            offset += len(decoded)
            current, current_p = [], []
    if current:  # trailing bytes that never formed a character
        groups.append((decode(current), current_p))
    words: list[tuple[str, list[float]]] = []
    for text, ps in groups:
        if language in _UNSPACED or not words or text.startswith(" ") or text.strip() in string.punctuation:
            words.append((text, list(ps)))
        else:
            words[-1] = (words[-1][0] + text, words[-1][1] + ps)
    return merge_punctuation([(w, word_probability(sum(ps) / len(ps))) for w, ps in words])
