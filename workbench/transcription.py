"""Transcribe utterances into a run, resumably: each hypothesis is stored as it is made.

An interrupted run (Ctrl-C, a crash, a closed laptop) keeps every finished utterance;
running the same command again resumes where it stopped instead of starting over.
A clip that cannot be decoded is recorded with its error and the rest go on.
"""

import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from .audio import AudioDecodeError, Preprocessing, iter_audio_blocks, load_audio
from .backends import AudioItem, Backend
from .backends.base import LONG_ITEM_SAMPLES, BlockAudio
from .dataset import Problem, Utterance
from .errors import CancelledError
from .runstore import RunStore, StoredHypothesis

__all__ = ["TranscriptionStats", "transcribe_into_run", "utterance_audio"]

Progress = Callable[[str, int, int], None]

BLOCK_S = 30.0  # seconds per block when a long recording is read in blocks


@dataclass(frozen=True)
class TranscriptionStats:
    total: int  # utterances in the run
    resumed: int  # already stored before this call
    transcribed: int  # decoded by this call
    failed: tuple[Problem, ...]  # clips that could not be decoded
    audio_s: float  # seconds of audio decoded by this call
    wall_s: float  # wall seconds this call spent


def _reference_times(u: Utterance) -> dict:
    """A long recording's timed reference, stored beside its hypothesis so the long-form
    measures (per-minute WER, dropped segments, words in silence) are computed from the run
    store like every other figure."""
    segments = getattr(u, "segments", ()) or ()
    if not segments:
        # A clip's length (of the file, from its header): what an stm export's segment
        # end is (`workbench export --format stm`).
        return {} if u.duration_s is None else {"duration_s": u.duration_s}
    return {
        "reference_segments": [[s.start, s.end, s.text] for s in segments if not getattr(s, "ignored", False)],
        "duration_s": u.duration_s,
    }


def utterance_audio(u: Utterance, preprocessing: Preprocessing = Preprocessing()):
    """The utterance's audio: a clip's samples, or for a recording longer than 30 s a
    `BlockAudio` that reads it in blocks whenever the decoder asks (only the count is
    kept from this first read, which also checks the whole file decodes: a damaged
    recording is a failed row here, not an error in the middle of decoding). Trimming
    silence needs the whole signal (and refuses long recordings with a timed reference at
    loading), so then it is loaded whole."""
    long = u.longform or (u.duration_s or 0.0) > LONG_ITEM_SAMPLES / 16_000
    if not long or preprocessing.trim_silence:
        return load_audio(u.audio, preprocessing)

    def read():
        return iter_audio_blocks(u.audio, BLOCK_S, preprocessing)

    count = sum(len(block) for block in read())
    if count <= LONG_ITEM_SAMPLES:  # not long after all (the header's duration rounds): a clip
        return load_audio(u.audio, preprocessing)
    return BlockAudio(count, read)


def transcribe_into_run(
    store: RunStore,
    run_id: str,
    utterances: Sequence[Utterance],
    backend: Backend,
    preprocessing: Preprocessing = Preprocessing(),
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    overrides: Callable[[Utterance], dict] | None = None,
) -> TranscriptionStats:
    """overrides(utterance) -> per-utterance AudioItem fields (a strategy's prompt, hotwords)."""
    started = time.perf_counter()
    done = {h.utterance_id for h in store.hypotheses(run_id)}
    todo = [u for u in utterances if u.id not in done]
    total, finished = len(utterances), len(utterances) - len(todo)
    failed: list[Problem] = []
    audio_s = 0.0
    by_id = {u.id: u for u in utterances}
    applied: dict[str, dict] = {}  # the strategy's per-utterance prompt/hotwords, stored with the transcript

    def items():
        # Decode audio lazily, one clip ahead of the model, so memory stays flat.
        nonlocal audio_s
        for u in todo:
            if cancel is not None and cancel.is_set():
                return
            try:
                samples = utterance_audio(u, preprocessing)
            except AudioDecodeError as exc:
                # The reason alone (the Problem names the file): "truncated: header says 4.20 s, decoded 2.10 s".
                reason = getattr(exc, "reason", None) or str(exc)
                problem = Problem(u.audio.describe(), u.row, reason, field="audio", utterance_id=u.id)
                failed.append(problem)
                store.add_hypotheses(run_id, [StoredHypothesis(u.id, u.reference, "", dict(u.slices), {"error": reason})])
                continue
            audio_s += len(samples) / preprocessing.sample_rate
            fields = overrides(u) if overrides else {}
            applied[u.id] = {k: v for k, v in fields.items() if k in ("prompt", "hotwords") and v}
            yield AudioItem(u.id, samples, u.language, **fields)

    if progress is not None:
        progress("transcribing", finished, total)
    try:
        for transcript in backend.transcribe(items()):
            u = by_id[transcript.utterance_id]
            # The prompt beside the text: the forgetting guard checks the output did not copy it.
            signals = {**transcript.signals(), **applied.pop(u.id, {}), **_reference_times(u)}
            store.add_hypotheses(run_id, [StoredHypothesis(u.id, u.reference, transcript.text, dict(u.slices), signals)])
            finished += 1
            if progress is not None:
                progress("transcribing", finished + len(failed), total)
            if cancel is not None and cancel.is_set():
                break
    except KeyboardInterrupt:
        raise CancelledError(f"run {run_id} interrupted: {finished} of {total} utterances kept") from None
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"run {run_id} cancelled: {finished} of {total} utterances kept")
    return TranscriptionStats(total, total - len(todo), finished - (total - len(todo)), tuple(failed), audio_s, time.perf_counter() - started)
