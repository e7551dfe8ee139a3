"""What every decoding backend takes and returns.

`DecodingOptions` are frozen into each run record, so a score always says how its
transcripts were decoded. `Transcript` keeps the confidence signals Whisper gives per
utterance (average log-probability, no-speech probability, compression ratio) and the
language it detected, whether or not the language was forced.
"""

import zlib
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Protocol

import numpy as np

__all__ = ["DecodingOptions", "AudioItem", "Transcript", "Backend", "applied_options", "compression_ratio", "language_code"]


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
    batch_size: int = 8  # utterances decoded together where the backend batches
    compute_type: str = "int8"  # faster-whisper on CPU; "float16" on GPU
    threads: int = 0  # CPU threads; 0 = the backend's default
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size!r}")
        if not self.temperature or any(t < 0 for t in self.temperature):
            raise ValueError(f"temperature must be a non-empty list of values >= 0, got {self.temperature!r}")
        if self.task not in ("transcribe", "translate"):
            raise ValueError(f"task must be transcribe or translate, got {self.task!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AudioItem:
    utterance_id: str
    audio: np.ndarray  # 16 kHz mono float32
    language: str | None  # from the dataset; None = detect
    prompt: str | None = None  # this utterance's initial prompt (a strategy's), else the options'
    hotwords: str | None = None  # faster-whisper: this utterance's hotwords, else the options'


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

    def signals(self) -> dict:
        """What the run store keeps beside the hypothesis text."""
        data = asdict(self)
        del data["utterance_id"], data["text"]
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
