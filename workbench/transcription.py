"""Transcribe utterances into a run, resumably: hypotheses are stored as they are made.

Where the decoding happens is the engine's business (`workbench.engine`: this process, or
Ray workers); storing is this module's, on the driver, whatever the engine.

An interrupted run (Ctrl-C, a crash, a closed laptop, a killed Ray driver) keeps every
finished utterance; running the same command again resumes where it stopped instead of
starting over, and decodes what is missing in the batches an uninterrupted run would have
used, so its transcripts are the same to the last word probability.
A clip that cannot be decoded is recorded with its error and the rest go on.
"""

import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from .audio import Preprocessing
from .backends import Backend
from .dataset import Problem, Utterance
from .engine import Engine, LocalEngine, is_long, item_audio, plan_chunks, work_items
from .errors import CancelledError
from .runstore import RunStore, StoredHypothesis

__all__ = ["TranscriptionStats", "transcribe_into_run", "utterance_audio"]

Progress = Callable[[str, int, int], None]


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
    """The utterance's audio as a decoder gets it: a clip's samples, or a `BlockAudio` for a
    recording longer than Whisper's window (`engine.item_audio`)."""
    return item_audio(u.audio, is_long(u), preprocessing)


def transcribe_into_run(
    store: RunStore,
    run_id: str,
    utterances: Sequence[Utterance],
    backend: Backend | None = None,
    preprocessing: Preprocessing = Preprocessing(),
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    overrides: Callable[[Utterance], dict] | None = None,
    engine: Engine | None = None,
    kept: Mapping[str, StoredHypothesis] | None = None,
) -> TranscriptionStats:
    """Decode the run's utterances not yet stored and store each outcome as it arrives.

    `engine` decides where decoding happens (`workbench.engine`); without one, `backend`
    decodes in this process. overrides(utterance) -> per-utterance AudioItem fields (a
    strategy's prompt, hotwords). `kept`: rows a two-pass strategy keeps from its first
    pass, stored as they are and not decoded. Only this function writes the hypotheses,
    whatever the engine."""
    started = time.perf_counter()
    if engine is None:
        if backend is None:
            raise ValueError("transcribe_into_run needs a backend or an engine")
        engine = LocalEngine.for_backend(backend, preprocessing)
    done = {h.utterance_id for h in store.hypotheses(run_id)}
    if kept:
        # Stored first (no decoding to wait for), then the rest as it is decoded.
        store.add_hypotheses(run_id, [row for i, row in kept.items() if i not in done])
        done |= set(kept)
        utterances = [u for u in utterances if u.id not in kept]
    todo = [u for u in utterances if u.id not in done]
    total, finished = len(utterances), len(utterances) - len(todo)
    failed: list[Problem] = []
    audio_s = 0.0
    by_id = {u.id: u for u in utterances}
    items = work_items(utterances, overrides)
    # The strategy's per-utterance prompt/hotwords, stored with the transcript.
    applied = {w.utterance_id: {k: v for k, v in w.fields.items() if k in ("prompt", "hotwords") and v} for w in items}
    # Chunks are planned over ALL the run's utterances, so a resumed run decodes the same
    # chunks, and so the same batches, as an uninterrupted one: a chunk stopped half-way is
    # decoded whole again and only its missing utterances are stored (what was stored is
    # never replaced). Batch composition moves word probabilities (workbench/engine.py).
    chunks = [c for c in plan_chunks(items, int(engine.facts.decoding.get("batch_size") or 1))
              if any(w.utterance_id not in done for w in c)]

    if progress is not None:
        progress("transcribing", finished, total)
    outcomes = engine.decode(chunks, cancel)
    # Each group (a chunk from a Ray worker, an utterance here) is stored as it arrives,
    # batched only when groups come faster than four a second (GPU decoding); the writer
    # stores what is pending when the loop ends, however it ends, so Ctrl-C keeps every
    # finished utterance.
    writer = store.writer(run_id)
    try:
        with writer:
            for group in outcomes:
                rows = []
                for outcome in group:
                    if outcome.utterance_id in done:
                        continue  # decoded again only to keep its chunk's batches; the stored one stays
                    u = by_id[outcome.utterance_id]
                    if outcome.transcript is None:
                        # The reason alone (the Problem names the file): "truncated: header says 4.20 s, decoded 2.10 s".
                        failed.append(Problem(u.audio.describe(), u.row, outcome.error, field="audio", utterance_id=u.id))
                        rows.append(StoredHypothesis(u.id, u.reference, "", dict(u.slices), {"error": outcome.error}))
                        continue
                    audio_s += outcome.audio_s
                    # The prompt beside the text: the forgetting guard checks the output did not copy it.
                    signals = {**outcome.transcript.signals(), **applied.get(u.id, {}), **_reference_times(u)}
                    rows.append(StoredHypothesis(u.id, u.reference, outcome.transcript.text, dict(u.slices), signals))
                    finished += 1
                writer.extend(rows)
                if finished + len(failed) >= total:
                    writer.flush()  # the last ones: stored before progress says "done"
                if progress is not None:
                    progress("transcribing", finished + len(failed), total)
                if cancel is not None and cancel.is_set():
                    break
    except KeyboardInterrupt:
        raise CancelledError(f"run {run_id} interrupted: {finished} of {total} utterances kept") from None
    finally:
        close = getattr(outcomes, "close", None)
        if callable(close):
            close()  # a Ray engine stops starting chunks
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"run {run_id} cancelled: {finished} of {total} utterances kept")
    return TranscriptionStats(total, total - len(todo), finished - (total - len(todo)), tuple(failed), audio_s, time.perf_counter() - started)
