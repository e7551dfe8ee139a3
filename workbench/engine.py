"""Decoding engines: where the utterances a run still needs are decoded.

The run lifecycle (`workbench.transcription`) hands an engine the utterances not yet
stored, as chunks, and stores the `Outcome`s it gets back as they arrive; everything
else (claiming the run, its identity, storing, scoring) is the same whichever engine
decodes. Two engines:

- `local` (the default): this process, one backend (`LocalEngine`).
- `ray`: Ray Data actors, each holding one model, on a local Ray cluster or an existing
  one (`workbench.ray_engine`, imported only when asked for; Ray is an optional extra).

`workbench.bench.open_engine` makes the one a request names.

**Why the transcripts are identical.** Both engines decode the same chunks with the same
function (`decode_chunk`): `plan_chunks` cuts the utterances where the backend would cut
its batches anyway (every `batch_size` clips, at a change of prompt or hotwords, around a
recording longer than Whisper's window), so a worker sees the batches this process would
have decoded. Batch composition matters: faster-whisper's word probabilities for a clip
decoded alone differ from the same clip decoded in a batch of two (measured on tiny.en:
13 of 40 clips), while texts and log-probabilities did not move. Chunks are a few batches
long (`CHUNK_CLIPS`): the unit a worker is sent, returns and, when it dies, redoes.

**Why the engine is not part of a run's identity.** Identical chunks, backend, model
weights, applied decoding options and CPU kernels give identical transcripts whichever
process decodes them (a test decodes the demo corpus both ways and compares every
stored field). So an interrupted in-process run can be resumed on Ray and the other way
round, and an identical finished run is reused whichever engine made it. What must hold
for that is checked, not assumed: every Ray worker builds its decoder and compares its
applied options, weights and kernels with the ones in the run's identity, and refuses to
decode when they differ (`DecoderFacts.mismatch`). The engine is recorded in the run's
config (`config["engine"]`: the engine that began the run) and in each bench report.
"""

import socket
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, Sequence

from .audio import AudioDecodeError, Preprocessing, iter_audio_blocks, load_audio
from .backends import AudioItem, Backend, DecodingOptions, Transcript
from .backends.base import LONG_ITEM_SAMPLES, BlockAudio
from .dataset import AudioSource, Utterance

__all__ = [
    "ENGINES", "CHUNK_CLIPS", "EngineOptions", "DecoderSpec", "DecoderFacts", "WorkItem", "Outcome", "Engine",
    "LocalEngine", "work_items", "plan_chunks", "chunk_size", "decode_chunk", "open_decoder",
]

ENGINES = ("local", "ray")
CHUNK_CLIPS = 8  # at least this many clips per chunk (a whole number of batches)
BLOCK_S = 30.0  # seconds per block when a long recording is read in blocks


@dataclass(frozen=True)
class EngineOptions:
    name: str = "local"  # local (this process) or ray
    address: str | None = None  # ray: an existing cluster ("auto", "ray://head:10001", "10.0.0.5:6379"); None = start a local one
    workers: int | None = None  # ray: model-holding actors; None = as many as the cluster's GPUs (or CPUs) allow
    gpus_per_worker: float = 0.0  # ray: GPUs each actor reserves (0 = decode on CPU; 0.5 = two actors per GPU)

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.name!r}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers!r}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"gpus_per_worker must be >= 0, got {self.gpus_per_worker!r}")
        if self.name == "local" and (self.address is not None or self.workers is not None or self.gpus_per_worker):
            raise ValueError("address, workers and gpus_per_worker are for the ray engine (--engine ray)")


@dataclass(frozen=True)
class DecoderSpec:
    """What a process needs to build the run's decoder itself (a Ray worker builds its own)."""

    backend: str  # a registered backend name
    model: str  # as the user named it (tiny.en, base, a hub id); a local folder or file made absolute
    decoding: DecodingOptions  # as requested: "auto" settings are decided where the decoder runs
    preprocessing: Preprocessing = field(default_factory=Preprocessing)  # applied to each clip after decoding its audio


@dataclass(frozen=True)
class DecoderFacts:
    """What a built decoder really does: the parts of a run's identity a decoder decides."""

    decoding: dict  # the backend's applied options (`applied_options`), with the model's path and sha256
    kernels: str | None  # the CPU kernels' summary (None on a GPU): int8/float kernels round differently
    node: str  # the host that built it, for messages

    def mismatch(self, expected: "DecoderFacts") -> str | None:
        """Why this decoder would not reproduce `expected`'s transcripts; None when it would."""
        mine, theirs = _comparable(self.decoding), _comparable(expected.decoding)
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                return f"{key} is {mine.get(key)!r} on {self.node}, {theirs.get(key)!r} in the run's identity (from {expected.node})"
        if self.kernels != expected.kernels:
            return f"CPU kernels are {self.kernels!r} on {self.node}, {expected.kernels!r} in the run's identity (from {expected.node})"
        return None


def _comparable(decoding: dict) -> dict:
    """Applied options without the model's path: the same weights may sit in another folder on another node."""
    out = {k: v for k, v in decoding.items() if k != "model"}
    out["model_sha256"] = (decoding.get("model") or {}).get("sha256")
    return out


@dataclass(frozen=True)
class WorkItem:
    """One utterance as a decoder needs it: its audio and the per-utterance options."""

    utterance_id: str
    audio: AudioSource  # read and resampled where it is decoded
    language: str | None  # from the dataset; None = detect
    fields: dict = field(default_factory=dict)  # AudioItem fields a strategy sets: prompt, hotwords, longform_options, num_hypotheses
    long: bool = False  # longer than Whisper's window as far as the manifest knows: decoded alone

    def batch_key(self) -> tuple:
        """Items with another prompt, hotwords or n-best width start a new batch in every backend."""
        return (self.fields.get("prompt"), self.fields.get("hotwords"), self.fields.get("num_hypotheses", 1))


@dataclass(frozen=True)
class Outcome:
    """One utterance decoded, or the reason its audio could not be."""

    utterance_id: str
    transcript: Transcript | None  # None when the audio could not be decoded
    error: str | None = None  # the reason alone ("truncated: header says 4.20 s, decoded 2.10 s")
    audio_s: float = 0.0  # seconds of audio decoded


def is_long(u: Utterance) -> bool:
    """Longer than Whisper's window as far as the manifest knows (a long-form reference, or the header's duration)."""
    return bool(u.longform or (u.duration_s or 0.0) > LONG_ITEM_SAMPLES / 16_000)


def work_items(utterances: Sequence[Utterance], overrides: Callable[[Utterance], dict] | None = None) -> list[WorkItem]:
    """The utterances as work items, with a strategy's per-utterance fields (`overrides`)."""
    return [WorkItem(u.id, u.audio, u.language, dict(overrides(u)) if overrides else {}, is_long(u))
            for u in utterances]


def item_audio(audio: AudioSource, long: bool, preprocessing: Preprocessing = Preprocessing()):
    """An item's audio: a clip's samples, or for a recording longer than 30 s a `BlockAudio`
    that reads it in blocks whenever the decoder asks (only the count is kept from this
    first read, which also checks the whole file decodes: a damaged recording is a failed
    row here, not an error in the middle of decoding). Trimming silence needs the whole
    signal (and refuses long recordings with a timed reference at loading), so then it is
    loaded whole."""
    if not long or preprocessing.trim_silence:
        return load_audio(audio, preprocessing)

    def read():
        return iter_audio_blocks(audio, BLOCK_S, preprocessing)

    count = sum(len(block) for block in read())
    if count <= LONG_ITEM_SAMPLES:  # not long after all (the header's duration rounds): a clip
        return load_audio(audio, preprocessing)
    return BlockAudio(count, read)


def chunk_size(batch_size: int) -> int:
    """Clips per chunk: a whole number of the backend's batches, at least `CHUNK_CLIPS`."""
    batch_size = max(1, batch_size)
    return batch_size * -(-CHUNK_CLIPS // batch_size)


def plan_chunks(items: Sequence[WorkItem], batch_size: int) -> list[tuple[WorkItem, ...]]:
    """Consecutive items in chunks cut where the backend cuts its batches: every
    `chunk_size(batch_size)` items since the last cut, at a change of batch key, and around
    a long item (alone in its chunk)."""
    size = chunk_size(batch_size)
    chunks: list[tuple[WorkItem, ...]] = []
    current: list[WorkItem] = []
    for item in items:
        if current and (item.long or len(current) == size or item.batch_key() != current[0].batch_key()):
            chunks.append(tuple(current))
            current = []
        current.append(item)
        if item.long:
            chunks.append(tuple(current))
            current = []
    if current:
        chunks.append(tuple(current))
    return chunks


def decode_chunk(backend: Backend, chunk: Sequence[WorkItem], preprocessing: Preprocessing,
                 cancel: threading.Event | None = None) -> Iterator[Outcome]:
    """One chunk through one backend: audio read lazily (one clip ahead of the model, so
    memory stays flat), an undecodable clip reported as an `Outcome` with its reason and
    the rest decoded. Both engines decode with this function."""
    failures: list[Outcome] = []
    seconds: dict[str, float] = {}

    def items():
        for item in chunk:
            if cancel is not None and cancel.is_set():
                return
            try:
                samples = item_audio(item.audio, item.long, preprocessing)
            except AudioDecodeError as exc:
                failures.append(Outcome(item.utterance_id, None, getattr(exc, "reason", None) or str(exc)))
                continue
            seconds[item.utterance_id] = len(samples) / preprocessing.sample_rate
            yield AudioItem(item.utterance_id, samples, item.language, **item.fields)

    for transcript in backend.transcribe(items()):
        yield from failures
        failures.clear()
        yield Outcome(transcript.utterance_id, transcript, None, seconds.pop(transcript.utterance_id, 0.0))
    yield from failures


def _kernels(device: str) -> str | None:
    """The CPU kernels' summary ("GEMM DNNL AVX512_CORE_BF16, CTranslate2 AVX2"); None on a GPU."""
    if device.startswith("cuda"):
        return None
    from .environment import environment

    return ((environment().get("kernels") or {}).get("summary")) or None


def open_decoder(spec: DecoderSpec, progress=None, create: Callable | None = None) -> tuple[Backend, DecoderFacts]:
    """Build the spec's backend here (model resolved offline, "auto" settings decided for
    this machine) and say what it really does. `create`: the backend factory
    (`workbench.backends.create_backend` unless a caller caches loaded backends)."""
    from .backends import create_backend
    from .models import resolve_model

    model = resolve_model(spec.model, spec.backend, progress)
    backend = (create or create_backend)(spec.backend, model, spec.decoding)
    applied = getattr(backend, "applied_options", None)
    decoding = dict(applied()) if callable(applied) else spec.decoding.to_dict()
    return backend, DecoderFacts(decoding, _kernels(str(decoding.get("device") or spec.decoding.device)), socket.gethostname())


class Engine(Protocol):
    facts: DecoderFacts  # what the decoders do: the run's identity is made from it

    def decode(self, chunks: Sequence[Sequence[WorkItem]], cancel: threading.Event | None = None) -> Iterator[list[Outcome]]:
        """Outcomes of every item of `chunks`, in groups the driver stores together, as they arrive."""
        ...

    def record(self) -> dict:
        """The engine as a run's config records it."""
        ...

    def close(self) -> None:
        ...


class LocalEngine:
    """This process: one backend, chunk after chunk; each outcome handed over as it is made."""

    def __init__(self, backend: Backend, facts: DecoderFacts, preprocessing: Preprocessing = Preprocessing()):
        self.backend = backend
        self.facts = facts
        self.preprocessing = preprocessing

    @classmethod
    def for_backend(cls, backend: Backend, preprocessing: Preprocessing = Preprocessing()) -> "LocalEngine":
        """An engine around an already built backend (tests, benchmarks)."""
        applied = getattr(backend, "applied_options", None)
        decoding = dict(applied()) if callable(applied) else {"batch_size": getattr(backend, "batch_size", 1)}
        return cls(backend, DecoderFacts(decoding, None, socket.gethostname()), preprocessing)

    def decode(self, chunks, cancel=None) -> Iterator[list[Outcome]]:
        for chunk in chunks:
            if cancel is not None and cancel.is_set():
                return
            for outcome in decode_chunk(self.backend, chunk, self.preprocessing, cancel):
                yield [outcome]

    def record(self) -> dict:
        return {"name": "local"}

    def close(self) -> None:
        pass
