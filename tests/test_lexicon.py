"""The lexicon (loading, language rules, term lookup) and lexicon correction (matching,
guards, mining, suggestions), on small tables of cases and on the mini example."""

from pathlib import Path

import pytest

from strategies.lexicon_correction import (
    CorrectionOptions,
    LexiconCorrector,
    mine_misrecognitions,
    phonetic_key,
    suggest_terms,
)
from workbench.errors import BadInputError
from workbench.lexicon import Lexicon, Term, common_words, load_lexicon, terms_in
from workbench.tabular import read_table

EXAMPLES = Path(__file__).resolve().parent.parent / "workbench" / "examples"
DEMO_LEXICON = EXAMPLES / "demo" / "lexicon.csv"

LEXICON = Lexicon(
    (
        Term("metoprolol", "en", "drug", ("meta pro law",)),
        Term("amoxicillin", "en", "drug"),
        Term("hydrochlorothiazide", "en", "drug"),
        Term("simvastatin", "en", "drug"),
        Term("angina", "en", "condition"),
        Term("warfarin", "en", "drug"),
        Term("gout", "en", "condition"),
        Term("atrial fibrillation", "en", "condition"),
        Term("amoxicilina", "es", "drug"),
        Term("Metoprolol", "de", "drug"),
        Term("Xarelto", None, "drug"),  # a brand: the same in every language
        Term("Pat Hanrahan", "en", "name"),
        Term("Alzheimer's", "en", "condition"),
    ),
    "test",
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading


def test_load_csv(tmp_path):
    path = write(
        tmp_path,
        "lex.csv",
        "term,language,category,misrecognitions\n"
        "metoprolol,en,drug,meta pro law|metaprol\n"
        "Blutdruck,de-DE,condition,\n"
        "Xarelto,,,\n",
    )
    lexicon = load_lexicon(path)
    assert lexicon.terms == (
        Term("metoprolol", "en", "drug", ("meta pro law", "metaprol")),
        Term("Blutdruck", "de", "condition", ()),
        Term("Xarelto", None, None, ()),
    )
    assert lexicon.problems == () and lexicon.rows_read == 3 and lexicon.source == str(path)


def test_load_yaml(tmp_path):
    path = write(
        tmp_path,
        "lex.yaml",
        "- term: metoprolol\n"
        "  language: en\n"
        "  category: drug\n"
        "  misrecognitions: [meta pro law, metaprol]\n"
        "- term: amoxicillin\n"
        "  misrecognitions: amixic sillon|a moxy cillin\n"
        "- just a string\n"
        "- term: no\n"
        "- language: en\n",
    )
    lexicon = load_lexicon(path)
    assert lexicon.terms == (
        Term("metoprolol", "en", "drug", ("meta pro law", "metaprol")),
        Term("amoxicillin", None, None, ("amixic sillon", "a moxy cillin")),
    )
    # line numbers of the list items, the reason, the field
    assert [(p.row, p.field) for p in lexicon.problems] == [(7, None), (8, "term"), (9, "term")]
    assert "quote it" in lexicon.problems[1].reason
    assert str(lexicon.problems[2]) == f"{path}:9: term: empty term"


@pytest.mark.parametrize(
    "row, line, field, reason",
    [
        ("metoprolol,en,drug,x,extra", 3, None, "row has 5 fields, the header has 4: extra 'extra' (a comma inside a value? put the value in double quotes)"),
        ("metoprolol,en", 3, None, "row has 2 fields, the header has 4: no value for 'category', 'misrecognitions'"),
        (",en,drug,", 3, "term", "empty term"),
        ("!!!,en,drug,", 3, "term", "no letters or digits"),
        ("aspirin,english of course,drug,", 3, "language", "not a language code"),
        # a well-formed code Whisper does not know: the term could never apply to anything
        ("aspirin,zz,drug,", 3, "language", "unknown language code 'zz'"),
        ("aspirin,xx-YY,drug,", 3, "language", "unknown language code 'xx-YY'"),
    ],
)
def test_bad_csv_rows_are_reported_with_line_numbers(tmp_path, row, line, field, reason):
    path = write(tmp_path, "lex.csv", f"term,language,category,misrecognitions\nwarfarin,en,drug,\n{row}\n")
    lexicon = load_lexicon(path)
    assert [t.text for t in lexicon.terms] == ["warfarin"]
    (problem,) = lexicon.problems
    assert (problem.row, problem.field) == (line, field) and reason in problem.reason


def test_bad_rows_never_vanish_the_valid_rows_stay(tmp_path):
    """A lexicon with every kind of bad row: each becomes a Problem with file, row and
    field; before, a term with an unknown language code was kept where it never applied."""
    path = write(
        tmp_path,
        "lex.csv",
        "term,language,category,misrecognitions\n"
        "warfarin,en,drug,war farin\n"  # 2: valid
        "metoprolol,en,drug,meta pro law, metaprol\n"  # 3: an unquoted comma -> an extra field
        ",de,drug,\n"  # 4: empty term
        "Blutdruck,qq,condition,\n"  # 5: unknown language code
        "amoxicillin,,drug,\n"  # 6: valid, any language
        "Blutdruck,de-DE,condition,\n",  # 7: valid (a regional code is its language)
    )
    lexicon = load_lexicon(path)
    assert lexicon.terms == (Term("warfarin", "en", "drug", ("war farin",)), Term("amoxicillin", None, "drug"), Term("Blutdruck", "de", "condition"))
    assert lexicon.rows_read == 6
    assert [(p.source, p.row, p.field, p.kind) for p in lexicon.problems] == [
        (str(path), 3, None, "error"),
        (str(path), 4, "term", "error"),
        (str(path), 5, "language", "error"),
    ]
    assert "extra ' metaprol'" in lexicon.problems[0].reason
    assert all("\n" not in str(p) and str(p).startswith(f"{path}:") for p in lexicon.problems)


@pytest.mark.parametrize(
    "name, text, row",
    [
        pytest.param("lex.csv", "term,language,misrecognition\nwarfarin,en,war farin\n", None, id="csv-misspelt-column"),
        pytest.param("lex.yaml", "- term: warfarin\n  language: en\n- term: aspirin\n  misrecognition: [as burin]\n", 3, id="yaml-misspelt-key"),
    ],
)
def test_an_unknown_field_is_a_warning_naming_it(tmp_path, name, text, row):
    lexicon = load_lexicon(write(tmp_path, name, text))
    assert {t.text for t in lexicon.terms} >= {"warfarin"}
    (problem,) = lexicon.problems
    assert (problem.row, problem.field, problem.kind) == (row, "misrecognition", "warning")
    assert problem.reason.startswith("unknown field 'misrecognition' is ignored (a lexicon row has: term, language, category, misrecognitions)")


@pytest.mark.parametrize(
    "name, encoding, message",
    [
        ("lex.csv", "utf-16", "file is UTF-16; save it as UTF-8"),
        ("lex.csv", "utf-16-le", "file is UTF-16 (without a byte-order mark); save it as UTF-8"),
        ("lex.yaml", "utf-16", "file is UTF-16; save it as UTF-8"),
    ],
)
def test_a_utf16_lexicon_is_named_as_such(tmp_path, name, encoding, message):
    text = "term,language\nwarfarin,en\n" if name.endswith(".csv") else "- term: warfarin\n  language: en\n"
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    with pytest.raises(BadInputError) as info:
        load_lexicon(path)
    assert str(info.value) == f"{path}: {message}"


def test_the_language_list_is_whispers():
    tokenizer = pytest.importorskip("faster_whisper.tokenizer")
    from workbench.lexicon import WHISPER_LANGUAGES

    assert WHISPER_LANGUAGES == set(tokenizer._LANGUAGE_CODES)


def test_duplicate_rows_merge_their_misrecognitions(tmp_path):
    path = write(tmp_path, "lex.csv", "term,language,misrecognitions\nwarfarin,en,war farin\nwarfarin,en,wafflin\n")
    lexicon = load_lexicon(path)
    assert lexicon.terms == (Term("warfarin", "en", None, ("war farin", "wafflin")),)
    assert lexicon.problems[0].kind == "warning" and lexicon.problems[0].row == 3


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("lex.csv", "word,language\nmetoprolol,en\n", "no 'term' column (columns: word, language)"),
        ("lex.csv", "term,language\n,en\n", "no valid term (1 rows read; first:"),
        ("lex.yaml", "term: metoprolol\n", "expected a list of terms"),
        ("lex.yaml", "- term: [unclosed\n", "not valid YAML"),
    ],
)
def test_unusable_files_are_one_line_errors(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(BadInputError) as info:
        load_lexicon(path)
    assert str(path) in str(info.value) and message in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="no such lexicon file"):
        load_lexicon(tmp_path / "nope.csv")


def test_demo_lexicon_loads_clean():
    lexicon = load_lexicon(DEMO_LEXICON)
    assert len(lexicon.terms) == 211 and lexicon.problems == ()


# ---------------------------------------------------------------- language rules and lookup


@pytest.mark.parametrize(
    "language, expected",
    [
        ("en", {"metoprolol", "amoxicillin", "Xarelto"}),
        ("en-GB", {"metoprolol", "amoxicillin", "Xarelto"}),
        ("English", {"metoprolol", "amoxicillin", "Xarelto"}),
        ("de", {"Metoprolol", "Xarelto"}),
        (None, {"Xarelto"}),  # unknown language: only the language-less terms
    ],
)
def test_for_language(language, expected):
    texts = {t.text for t in LEXICON.for_language(language).terms}
    assert expected <= texts and all(t.language in (None, "en" if "metoprolol" in expected else "de") for t in LEXICON.for_language(language).terms)


def test_with_misrecognitions_returns_a_new_lexicon():
    extended = LEXICON.with_misrecognitions({"metoprolol": ["metaprol", "meta pro law"], "warfarin": "wafflin", "unknown": ["x"]})
    assert extended is not LEXICON and LEXICON.terms[0].misrecognitions == ("meta pro law",)
    by_text = {(t.text, t.language): t for t in extended.terms}
    assert by_text[("metoprolol", "en")].misrecognitions == ("meta pro law", "metaprol")
    assert by_text[("warfarin", "en")].misrecognitions == ("wafflin",)


@pytest.mark.parametrize(
    "text, language, expected",
    [
        ("Start metoprolol for atrial fibrillation.", "en", ["metoprolol", "atrial fibrillation"]),
        ("start metoprolol for atrial fibrillation", "en", ["metoprolol", "atrial fibrillation"]),
        ("METOPROLOL, metoprolol; Xarelto", "en", ["metoprolol", "metoprolol", "Xarelto"]),
        ("Der Patient nimmt Metoprolol.", "de", ["Metoprolol"]),
        ("Der Patient nimmt metoprolol.", None, []),
        ("nothing here", "en", []),
    ],
)
def test_terms_in(text, language, expected):
    assert terms_in(text, LEXICON, language) == expected


def test_common_words_are_shipped_for_the_demo_languages():
    for code, word in [("en", "again"), ("de", "mehr"), ("es", "para"), ("fr", "pour"), ("it", "questo"), ("pt", "então")]:
        assert word in common_words(code)
    assert "metaprol" not in common_words("en") and common_words("xx") == frozenset()


# ---------------------------------------------------------------- correction


@pytest.mark.parametrize(
    "hypothesis, language, expected, method",
    [
        # a listed misrecognition: replaced although every word of it is an ordinary word
        ("Start meta pro law daily.", "en", "Start metoprolol daily.", "misrecognition"),
        # fuzzy: one letter off
        ("Take simvastaten tonight.", "en", "Take simvastatin tonight.", "fuzzy"),
        # phonetic, a multiword span against a one-word term
        ("Continue hydro clora thigh a side each morning.", "en", "Continue hydrochlorothiazide each morning.", "fuzzy"),
        ("The patient was prescribed metaprol twice daily.", "en", "The patient was prescribed metoprolol twice daily.", "phonetic"),
        ("Please take one tablet of amixic sillon with food.", "en", "Please take one tablet of amoxicillin with food.", "phonetic"),
        # casing and punctuation around the span stay; a sentence's first word is capitalised
        ("Metaprol, then rest!", "en", "Metoprolol, then rest!", "phonetic"),
        ('He said: "metaprol?"', "en", 'He said: "metoprolol?"', "phonetic"),
        ("(metaprol) ok. Metaprol; fine", "en", "(metoprolol) ok. Metoprolol; fine", "phonetic"),
        # overlapping candidates ("moxicilina", "a moxicilina", ...): the best one wins
        ("La paciente debe tomar a moxicilina cada 8 horas.", "es", "La paciente debe tomar amoxicilina cada 8 horas.", "fuzzy"),
        # a possessive the mishearing carried stays (real faster-whisper base output,
        # realspeech-dev); a term that already ends in one is not given two
        ("Is that Pat Handrahand's mug?", "en", "Is that Pat Hanrahan's mug?", "fuzzy"),
        ("Was it Alzheimers disease?", "en", "Was it Alzheimer's disease?", "fuzzy"),
        ("Was it Altzheimer's disease?", "en", "Was it Alzheimer's disease?", "fuzzy"),
        # language-less terms apply to every language
        ("Er nimmt Xarelo seit Montag.", "de", "Er nimmt Xarelto seit Montag.", "fuzzy"),
    ],
)
def test_correction_cases(hypothesis, language, expected, method):
    correction = LexiconCorrector(LEXICON).correct(hypothesis, language)
    assert correction.text == expected
    assert correction.replacements and {r.method for r in correction.replacements} == {method}
    for r in correction.replacements:  # offsets point into the original hypothesis
        assert hypothesis[r.start : r.end] == r.original


@pytest.mark.parametrize(
    "hypothesis, language",
    [
        ("He gets chest pain again when he climbs stairs.", "en"),  # "again" ~ "angina": ordinary word
        ("The warfare lasted years.", "en"),  # "warfare" ~ "warfarin": ordinary word
        ("The library closes early on Fridays during the summer.", "en"),  # nothing close
        ("Start metoprolol and amoxicillin today.", "en"),  # already right: left alone
        ("He has gaut in his toe.", "en"),  # "gout" is shorter than min_term_chars
        ("Der Patient nimmt simvastaten.", "de-DE"),  # an English term in a German sentence: no
        ("Take metaprol now.", None),  # unknown language: only language-less terms
        ("Take metaprol 25 mg.", "xx"),  # a language with no terms
        ("", "en"),
    ],
)
def test_no_change(hypothesis, language):
    correction = LexiconCorrector(LEXICON).correct(hypothesis, language)
    assert correction.text == hypothesis and correction.replacements == ()


def test_replacement_record():
    (r,) = LexiconCorrector(LEXICON).correct("Give metaprol, twice.", "en").replacements
    assert (r.start, r.end, r.original, r.replacement, r.term, r.method) == (5, 13, "metaprol", "metoprolol", "metoprolol", "phonetic")
    assert 0 < r.score <= 100


def test_the_guards_can_be_loosened_or_listed_around():
    assert LexiconCorrector(LEXICON, CorrectionOptions(protect_common_words=False)).correct("The warfare lasted.", "en").text == "The warfarin lasted."
    listed = LEXICON.with_misrecognitions({"warfarin": ["warfare"], "gout": ["gaut"]})
    assert LexiconCorrector(listed).correct("Warfare for gaut.", "en").text == "Warfarin for gout."


def test_common_words_can_be_given():
    corrector = LexiconCorrector(LEXICON, common_words={"en": frozenset({"Metaprol"})})
    assert corrector.correct("Take metaprol.", "en").replacements == ()
    assert corrector.correct("Take simvastaten.", "en").text == "Take simvastatin."


def test_spans_stop_at_numbers_and_sentence_ends():
    corrector = LexiconCorrector(Lexicon((Term("atrial fibrillation", "en"),), "t"))
    assert corrector.correct("A trial fibrillation.", "en").text == "Atrial fibrillation."
    assert corrector.correct("A trial. Fibrillation.", "en").replacements == ()


def test_thresholds_are_configurable_and_validated():
    strict = LexiconCorrector(LEXICON, CorrectionOptions(fuzzy_threshold=99, phonetic_threshold=99, phonetic_fuzzy_floor=99))
    assert strict.correct("Take simvastaten.", "en").replacements == ()
    with pytest.raises(ValueError, match="fuzzy_threshold must be in"):
        CorrectionOptions(fuzzy_threshold=0)
    with pytest.raises(ValueError, match="max_span_words"):
        CorrectionOptions(max_span_words=0)


@pytest.mark.parametrize(
    "word, key",
    [
        ("hydrochlorothiazide", "atraklaratasata"),
        ("metoprolol", "matapralal"),
        ("metaprol", "matapral"),
        ("thigh", "ta"),
        ("braçó", "prasa"),
        ("Schilddrüse", "saltrasa"),
        ("फ़ाइल", "फ़ाइल"),  # not Latin script: its own key
    ],
)
def test_phonetic_key(word, key):
    assert phonetic_key(word.lower()) == key


# ---------------------------------------------------------------- learning from the train part

TRAIN = [
    ("Start metoprolol today.", "Start metaprol today.", "en"),
    ("Metoprolol was stopped.", "Metaprol was stopped.", "en"),
    ("Give metoprolol at night.", "Give meta pro law at night.", "en"),
    ("Take amoxicillin with food.", "Take amixic sillon with food.", "en"),
    ("Do not take it with warfarin.", "Did that take it in the fiat holiday?", "en"),  # garbage: nothing mined
    ("Simvastatin at night.", "Simvastatin at night.", "en"),  # heard right: nothing mined
    ("The train to Glasgow was late.", "The tamed glass school was late.", "en"),
    ("We flew to Glasgow on Monday.", "We flew to glass go on Monday.", "en"),
    ("Der Patient nimmt Metoprolol.", "Der Patient nimmt mehr Toprolai.", "de"),
]


def test_mine_misrecognitions():
    mined = mine_misrecognitions(TRAIN, LEXICON)
    assert mined == {
        "metoprolol": ["metaprol", "meta pro law"],  # most frequent first
        "amoxicillin": ["amixic sillon"],
        "Metoprolol": ["mehr toprolai"],
    }
    assert mine_misrecognitions(TRAIN, LEXICON, min_count=2) == {"metoprolol": ["metaprol"]}


def test_mined_misrecognitions_are_then_replaced():
    lexicon = LEXICON.with_misrecognitions(mine_misrecognitions(TRAIN, LEXICON))
    correction = LexiconCorrector(lexicon).correct("Give meta pro law and metaprol.", "en")
    assert correction.text == "Give metoprolol and metoprolol."
    assert [r.method for r in correction.replacements] == ["misrecognition", "misrecognition"]


def test_suggest_terms():
    suggestions = suggest_terms(TRAIN, LEXICON)
    assert suggestions[0] == ("Glasgow", 2)
    words = {w.lower() for w, _ in suggestions}
    assert not words & {"metoprolol", "warfarin", "the", "train", "do", "not"}  # lexicon terms and ordinary words
    assert suggest_terms(TRAIN, LEXICON, min_count=3) == []


# ---------------------------------------------------------------- the mini example's real hypotheses


def test_mini_example_real_hypotheses():
    import json

    lexicon = load_lexicon(DEMO_LEXICON)
    manifest = {row["audios"]: row for _, row in read_table(EXAMPLES / "mini" / "manifest.csv").rows}
    corrector = LexiconCorrector(lexicon)
    made = {}
    for line in (EXAMPLES / "mini" / "hypotheses.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        reference, language = manifest[row["id"]]["transcription"], manifest[row["id"]]["language"]
        correction = corrector.correct(row["hypothesis"], language)
        for r in correction.replacements:
            # every replacement puts in a term the reference really has
            assert r.term.lower() in [t.lower() for t in terms_in(reference, lexicon, language)], (r, reference)
            made[r.original] = r.replacement
        if not terms_in(reference, lexicon, language):  # general sentences are left alone
            assert correction.text == row["hypothesis"]
    assert made["metaprol"] == "metoprolol"
    assert made["amixic sillon"] == "amoxicillin"
    assert made["a moxicilina"] == "amoxicilina"
    assert made["Omeh-Prezole"] == "omeprazole"
    assert made["Ebo-Profen"] == "Ibuprofen"
    assert len(made) >= 7
