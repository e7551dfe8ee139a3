"""Long-form decoding: how a recording longer than Whisper's 30 s window is decoded.

Three decode-time strategies, so one comparison puts them side by side on the same
recordings through the normal run path (`workbench compare --strategies
sequential,sequential-cond,batched-vad`):

- `sequential`: Whisper's own algorithm (faster-whisper's / openai-whisper's
  `transcribe`): 30 s windows, each starting where the last full segment of the previous
  one ended, with timestamps (the backend always decodes long items with timestamps,
  since without them speech cut at a window boundary is dropped). Each window is decoded
  on its own (no conditioning on the previous text), which resists repetition loops.
- `sequential-cond`: the same, with the previous window's text as the prompt (Whisper's
  default): more consistent spelling across windows, more risk of a loop repeating.
- `batched-vad`: faster-whisper's BatchedInferencePipeline: Silero VAD cuts the speech
  into chunks of at most `chunk_length` s, decoded `batch_size` at a time. Faster on a
  GPU; no context crosses a chunk; silence is never decoded, so no text is invented
  there. faster-whisper only (openai-whisper refuses it rather than decode otherwise).

All three decode with beam search of 5 by default (`beam_size`; Whisper's own default
for `transcribe`, where the run's default is greedy for short clips): on three 3.5-minute
real-speech recordings (benchmarks/README.md, "Long-form decoding") greedy sequential
decoding was 1.4 WER points above plain faster-whisper and beam 5 was 0.2 above, for
about 1.3-1.5x the decoding time. The sequential ones keep Whisper's temperature
fallback (`temperature`): a window that loops or scores too low is decoded again
hotter, which is what recovers a repetition loop in a long recording (the batched
pipeline has no fallback: it decodes at the first temperature only).

They change only items longer than 30 s (via `AudioItem.longform_options`); clips of up
to 30 s decode exactly as the baseline does, so these are not rungs of the escalation
ladder (they would re-decode short clips for nothing).
"""

from dataclasses import dataclass, field

from .registry import register

__all__ = ["SequentialConfig", "BatchedConfig", "LongformDecoding", "WHISPER_FALLBACK"]


WHISPER_FALLBACK = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Whisper's temperature ladder


@dataclass(frozen=True)
class SequentialConfig:
    vad: bool = field(default=False, metadata={"help": "skip what Silero VAD calls non-speech before decoding (faster-whisper)"})
    beam_size: int = field(default=5, metadata={"help": "beam search width for long items (1 = greedy)"})
    temperature: tuple[float, ...] = field(default=WHISPER_FALLBACK, metadata={"help": "temperature fallback ladder"})

    def __post_init__(self) -> None:
        _check_beam(self.beam_size)
        if not self.temperature or any(t < 0 for t in self.temperature):
            raise ValueError(f"temperature must be a non-empty list of values >= 0, got {self.temperature!r}")


@dataclass(frozen=True)
class BatchedConfig:
    chunk_length: int = field(default=30, metadata={"help": "seconds of speech per VAD chunk, 1..30"})
    batch_size: int = field(default=8, metadata={"help": "chunks decoded together"})
    beam_size: int = field(default=5, metadata={"help": "beam search width (1 = greedy)"})

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_length <= 30:
            raise ValueError(f"chunk_length must be 1..30 seconds (Whisper's window), got {self.chunk_length!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        _check_beam(self.beam_size)


def _check_beam(beam_size: int) -> None:
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size!r}")


class LongformDecoding:
    """A decode-time strategy whose per-utterance overrides are long-form decoding options
    (the backend applies them to items longer than 30 s only)."""

    def __init__(self, name: str, options: dict):
        self.name = name
        self.options = dict(options)

    def decode_overrides(self, language: str | None, backend: str) -> dict:
        return {"longform_options": dict(self.options)}


@register("sequential", "decode", SequentialConfig, cost=3, on_ladder=False,
          description="long recordings: Whisper's sequential 30 s windows with timestamps, each window on its own")
def make_sequential(config: SequentialConfig, lexicon=None) -> LongformDecoding:
    return LongformDecoding("sequential", _sequential(config, condition=False))


@register("sequential-cond", "decode", SequentialConfig, cost=3, on_ladder=False,
          description="long recordings: Whisper's sequential windows, each conditioned on the previous text")
def make_sequential_cond(config: SequentialConfig, lexicon=None) -> LongformDecoding:
    return LongformDecoding("sequential-cond", _sequential(config, condition=True))


def _sequential(config: SequentialConfig, condition: bool) -> dict:
    return {"longform": "sequential", "condition_on_previous_text": condition, "vad": config.vad,
            "beam_size": config.beam_size, "temperature": tuple(config.temperature)}


@register("batched-vad", "decode", BatchedConfig, cost=3, on_ladder=False,
          description="long recordings: faster-whisper's batched pipeline on Silero VAD speech chunks")
def make_batched(config: BatchedConfig, lexicon=None) -> LongformDecoding:
    return LongformDecoding("batched-vad", {"longform": "batched", "chunk_length": config.chunk_length,
                                            "batch_size": config.batch_size, "beam_size": config.beam_size})
