"""Decoding on Ray: Ray Data actors that each hold one model, results streamed to the driver.

`workbench bench --engine ray` (`EngineOptions(name="ray")`). Ray is an optional extra
(`pip install 'whisper-workbench[ray]'`) and is imported only inside these functions, so
importing this module, like every other workbench module, never loads Ray.

How a run is decoded:

1. **Connect**: `ray.init(address=...)` for an existing cluster; without an address, the
   cluster this process already started, else a new local one over this machine's CPUs
   and GPUs (a multi-GPU node needs nothing more).
2. **Probe**: one Ray task with a worker's resources builds the decoder and reports what
   it really does (`DecoderFacts`: applied options, weights by content, CPU kernels). The
   run's identity is made from these, so it says what the workers do, not the driver.
3. **Decode**: the chunks (`workbench.engine.plan_chunks`) become a Ray Dataset, one row
   per chunk; `map_batches` runs `ChunkDecoder`, a callable class, so Ray Data keeps a pool
   of `workers` actors that each load the model once and check their facts against the
   probe's (a node with other kernels, weights or a GPU that forces another compute type
   refuses rather than mixing transcripts). Audio is read and resampled in the actors;
   only paths (or a dataset's encoded bytes) travel. Outcomes stream back through
   `iter_batches` as each chunk finishes, and the driver alone writes the run store.

Faults. A worker that dies (killed, out of memory, a lost node) is restarted by Ray, and
the chunks it held are decoded again (Ray Data's defaults for an actor pool: restarts and
task retries without limit, so a chunk that kills its worker every time, say out of
memory, keeps the run busy until Ctrl-C, which keeps what finished); outcomes already
stored are never redone. When the driver dies, its
Ray job and actors end with it and the run is left `interrupted`; the same command
resumes it with only the utterances still missing, on either engine. An error inside
decoding (not a dead process) is sent back as it is, re-raised by the driver, and fails
the run as it would in-process, keeping what finished.
"""

import logging
import os
import pickle
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from .engine import DecoderFacts, DecoderSpec, EngineOptions, Outcome, chunk_size, decode_chunk, open_decoder
from .errors import BadInputError

__all__ = ["RayEngine", "ChunkDecoder", "RAY_MISSING"]

RAY_MISSING = "--engine ray needs Ray: pip install 'whisper-workbench[ray]'"
_MISMATCH = "worker mismatch: "  # how a refusing worker's error is recognised on the driver


class WorkerMismatch(RuntimeError):
    """A worker whose decoder would not reproduce the run's transcripts."""


@dataclass(frozen=True)
class _ChunkFailure:
    """An exception raised while decoding a chunk, sent back to be raised on the driver."""

    error: BaseException
    trace: str  # the worker's traceback, for the message when the error cannot be re-raised as is


def _probe(spec: DecoderSpec) -> DecoderFacts:
    """Run as a Ray task with a worker's resources: what a worker's decoder does."""
    return open_decoder(spec)[1]


class ChunkDecoder:
    """A Ray Data actor: one model, loaded once; each call decodes chunks (one row each)
    and returns one row per utterance: its id and its pickled `Outcome`."""

    def __init__(self, spec: DecoderSpec, expected: DecoderFacts):
        self.spec = spec
        self.backend, facts = open_decoder(spec)
        why = facts.mismatch(expected)
        if why:
            raise WorkerMismatch(_MISMATCH + why)

    def __call__(self, batch: dict) -> dict:
        ids: list[str] = []
        blobs: list[bytes] = []
        for blob in batch["chunk"]:
            chunk = pickle.loads(blob)
            try:
                outcomes = list(decode_chunk(self.backend, chunk, self.spec.preprocessing))
            except Exception as exc:  # not a dead worker: the driver raises it, as in-process
                ids.append("")
                blobs.append(_pickled_failure(exc))
                continue
            for outcome in outcomes:
                ids.append(outcome.utterance_id)
                blobs.append(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
        return {"utterance_id": np.array(ids, dtype=object), "outcome": np.array(blobs, dtype=object)}


def _pickled_failure(exc: Exception) -> bytes:
    trace = traceback.format_exc()
    try:
        return pickle.dumps(_ChunkFailure(exc, trace))
    except Exception:  # an exception that does not pickle: its words still travel
        return pickle.dumps(_ChunkFailure(RuntimeError(f"{type(exc).__name__}: {exc}"), trace))


def _ray():
    try:
        import ray
    except ImportError:
        raise BadInputError(RAY_MISSING) from None
    return ray


class RayEngine:
    """The `ray` engine: connects (or starts a local cluster) and probes on construction."""

    def __init__(self, spec: DecoderSpec, options: EngineOptions, progress=None):
        ray = _ray()
        self.options = options
        self.spec = _worker_spec(spec, options)
        self._connect(ray, options)
        self.cpus_per_worker = max(1, self.spec.decoding.threads)
        self.workers = options.workers or self._default_workers(ray)
        if options.address is None and not os.environ.get("RAY_ADDRESS"):  # RAY_ADDRESS: ray.init joins that cluster
            self._check_fits(ray)
        if progress is not None:
            progress("starting Ray workers", 0, 1)
        self.facts = self._probe(ray)
        if progress is not None:
            progress("starting Ray workers", 1, 1)
        self.chunk_clips = chunk_size(int(self.facts.decoding.get("batch_size") or 1))

    def _connect(self, ray, options: EngineOptions) -> None:
        if not ray.is_initialized():  # else: the cluster this process joined before (an earlier run's, a test's)
            try:
                # Workers' own output stays in Ray's session logs (/tmp/ray/session_latest/logs):
                # the workbench reports progress itself, and a worker's error reaches the driver as an exception.
                ray.init(address=options.address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
            except ConnectionError as exc:
                raise BadInputError(f"--address {options.address}: no Ray cluster there ({exc})") from None
        _quiet(ray)

    def _probe(self, ray) -> DecoderFacts:
        probe = ray.remote(num_cpus=self.cpus_per_worker, num_gpus=self.options.gpus_per_worker or 0, max_retries=3)(_probe)
        return ray.get(probe.remote(self.spec))

    def _default_workers(self, ray) -> int:
        resources = ray.cluster_resources()
        if self.options.gpus_per_worker:
            count = int(resources.get("GPU", 0) // self.options.gpus_per_worker)
            if count < 1:
                raise BadInputError(f"--gpus-per-worker {self.options.gpus_per_worker:g}: the Ray cluster has "
                                    f"{resources.get('GPU', 0):g} GPUs")
            return count
        return max(1, int(resources.get("CPU", 1) // self.cpus_per_worker))

    def _check_fits(self, ray) -> None:
        """On a local cluster (no autoscaler to add nodes), workers that cannot all start
        would leave the run waiting: a one-line error instead."""
        resources = ray.cluster_resources()
        for name, each, flag in (("CPU", self.cpus_per_worker, "--threads"), ("GPU", self.options.gpus_per_worker, "--gpus-per-worker")):
            if each and self.workers * each > resources.get(name, 0):
                raise BadInputError(f"--workers {self.workers} x {flag} {each:g}: needs {self.workers * each:g} {name}s, "
                                    f"the local Ray cluster has {resources.get(name, 0):g}")

    def record(self) -> dict:
        """The engine as the run's config and report record it."""
        ray = _ray()
        return {
            "name": "ray",
            "address": self.options.address,
            "workers": self.workers,
            "cpus_per_worker": self.cpus_per_worker,
            "gpus_per_worker": self.options.gpus_per_worker,
            "chunk_clips": self.chunk_clips,
            "ray": ray.__version__,
            "probed_on": self.facts.node,
        }

    def decode(self, chunks, cancel=None) -> Iterator[list[Outcome]]:
        """Outcomes of each chunk, as each finishes (not in chunk order)."""
        ray = _ray()
        rows = [{"chunk": pickle.dumps(tuple(chunk), protocol=pickle.HIGHEST_PROTOCOL)} for chunk in chunks]
        if not rows:
            return
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            ChunkDecoder,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(rows))),
            num_cpus=self.cpus_per_worker,
            num_gpus=self.options.gpus_per_worker or None,
            fn_constructor_kwargs={"spec": self.spec, "expected": self.facts},
            # Fault tolerance is Ray Data's default for actor pools: a dead actor is
            # restarted and the chunks it held are resubmitted, without limit.
        )
        batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
        try:
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                except Exception as exc:
                    error = _driver_error(exc)
                    if error is exc:
                        raise
                    raise error from exc
                outcomes = []
                for blob in batch["outcome"]:
                    value = pickle.loads(blob)
                    if isinstance(value, _ChunkFailure):
                        raise value.error
                    outcomes.append(value)
                yield outcomes
                if cancel is not None and cancel.is_set():
                    return
        finally:
            close = getattr(batches, "close", None)
            if callable(close):
                close()  # stops the streaming execution: no more chunks are started

    def close(self) -> None:
        """The cluster stays up for the process's next run (a comparison decodes several)."""


def _worker_spec(spec: DecoderSpec, options: EngineOptions) -> DecoderSpec:
    """The spec as a worker elsewhere needs it: a local model path made absolute, and the
    device decided by the resources asked for (a worker given a GPU decodes on it; one
    given none decodes on CPU even on a GPU node)."""
    model = spec.model
    if Path(model).expanduser().exists():
        model = str(Path(model).expanduser().resolve())
    decoding = spec.decoding
    if decoding.device == "auto":
        decoding = replace(decoding, device="cuda" if options.gpus_per_worker else "cpu")
    return replace(spec, model=model, decoding=decoding)


def _driver_error(exc: Exception) -> Exception:
    """A refusing worker's reason as a one-line error; anything else as Ray raised it."""
    text = str(exc)
    at = text.find(_MISMATCH)
    if at >= 0:
        reason = text[at + len(_MISMATCH):].splitlines()[0]
        return BadInputError(f"--engine ray: a worker's decoder differs from the run's: {reason}; "
                             "use nodes of one kind (the same GPU model, or CPUs with the same kernels) for one run")
    return exc


def _quiet(ray) -> None:
    """The workbench reports progress itself: no Ray Data progress bars or per-run banners."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled": we disabled them
