"""Normalizers: table-driven, including non-Latin scripts and digits vs number words."""

import unicodedata

import pytest

from workbench.normalizers import available_normalizers, get_normalizer, is_english


@pytest.mark.parametrize(
    "name, language, text, expected",
    [
        ("raw", None, "  Hello,   World. ", "Hello, World."),
        ("whisper-english", "en", "Seven", "7"),
        ("whisper-english", "en", "twenty one", "21"),
        ("whisper-english", "en", "twenty-one", "21"),
        ("whisper-english", "en", "one", "1"),
        ("whisper-english", "en", "I have one apple.", "i have 1 apple"),
        ("whisper-english", "en", "It's the aurora borealis.", "it is the aurora borealis"),
        ("whisper-english", "en", "Mr. Smith", "mister smith"),
        ("multilingual", "de", "Grüße aus der Straße!", "grüße aus der straße"),
        ("multilingual", "fr", "L'hôpital, c'est ça.", "l hôpital c est ça"),
        ("multilingual", "hi", "नमस्ते, दुनिया।", "नमस्ते दुनिया"),
        ("multilingual", "ar", "كَتَبَ الوَلَدُ", "كَتَبَ الوَلَدُ"),
        ("multilingual", "fa", "می\u200cخواهم «سلام»", "میخواهم سلام"),
        ("multilingual", "en", "Noise [inaudible] here <unk>", "noise here"),
        ("multilingual", "ja", "ＡＢＣ１２３", "abc123"),
        ("auto", "en", "Seven cats.", "7 cats"),
        ("auto", "en-GB", "Twenty one", "21"),
        ("auto", "de", "Sieben Katzen.", "sieben katzen"),
        ("auto", None, "Seven Cats.", "seven cats"),
    ],
)
def test_normalizer_output(name, language, text, expected):
    assert get_normalizer(name)(text, language) == expected


@pytest.mark.parametrize(
    "words, number",
    [("seven", "7"), ("twenty one", "21"), ("one", "1"), ("one hundred and five", "105"), ("zero", "0")],
)
def test_english_digits_and_number_words_score_equal(words, number):
    normalize = get_normalizer("whisper-english")
    assert normalize(words) == normalize(number)


@pytest.mark.parametrize("text", ["काल", "किताब", "नमस्ते", "தமிழ்", "কলকাতা", "كَتَبَ"])
def test_multilingual_keeps_every_combining_mark(text):
    out = get_normalizer("multilingual")(text)
    assert out == unicodedata.normalize("NFKC", text)
    assert any(unicodedata.category(ch).startswith("M") for ch in out)


def test_multilingual_keeps_words_that_differ_only_by_a_vowel_sign_apart():
    # Whisper's BasicTextNormalizer turns vowel signs into spaces; two different Hindi
    # words then share tokens and WER looks better than it is. Ours keeps them apart.
    from whisper.normalizers import BasicTextNormalizer

    ours = get_normalizer("multilingual")
    assert ours("काल") != ours("कल")
    assert "क" in BasicTextNormalizer()("काल").split()  # what we avoid: the mark is gone


def test_every_normalizer_is_named_and_versioned():
    ids = [n.id for n in available_normalizers()]
    assert {"raw@1", "whisper-english@1", "multilingual@1", "auto@1"} <= set(ids)
    assert get_normalizer("auto@1") is get_normalizer("auto")


@pytest.mark.parametrize("bad", ["nope", "auto@9"])
def test_unknown_normalizer_or_version_is_refused(bad):
    with pytest.raises(ValueError, match=bad.split("@")[0]):
        get_normalizer(bad)


@pytest.mark.parametrize("language, english", [("en", True), ("EN-us", True), ("english", True), ("de", False), (None, False), ("", False)])
def test_is_english(language, english):
    assert is_english(language) is english


def test_normalize_many_in_parallel_equals_serial(monkeypatch):
    import workbench.normalizers as module

    monkeypatch.setattr(module, "PARALLEL_MIN_TEXTS", 10)
    texts = [f"Twenty {w} patients, Mr. Smith's {i} tablets." for i, w in enumerate(["one", "two", "three"] * 40)]
    languages = ["en", "de", None] * 40
    auto = get_normalizer("auto")
    assert module.normalize_many(auto, texts, languages) == [auto(t, lang) for t, lang in zip(texts, languages)]
