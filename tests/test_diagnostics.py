"""Measures beyond WER for the forgetting guard: prompt echo (tables), and the guard's
figures gathered from stored hypotheses; then a real prompted tiny.en run, to check the
transcription path stores each utterance's prompt where the guard reads it."""

from pathlib import Path

import pytest

from workbench.diagnostics import echoed_words, echoes_prompt, guard_figures
from workbench.policy import GuardFigures
from workbench.runstore import StoredHypothesis

PROMPT = "Glossary: metoprolol, warfarin, amoxicillin, atorvastatin."  # 5 words: 3 make an echo

# (id, prompt, hypothesis, reference, echoes)
ECHO_CASES = [
    ("the whole prompt written over silence", PROMPT, "Glossary: metoprolol, warfarin, amoxicillin, atorvastatin.", "", True),
    ("case and punctuation do not matter", PROMPT, "glossary METOPROLOL warfarin; amoxicillin atorvastatin", "", True),
    ("most of it (3 of 5) is an echo", PROMPT, "metoprolol, warfarin, amoxicillin.", "", True),
    ("one skipped prompt word still reads in order", PROMPT, "Glossary metoprolol amoxicillin atorvastatin", "", True),
    ("one extra word between two prompt words is tolerated", PROMPT, "glossary metoprolol and warfarin", "", True),
    ("two of five is not most of it", PROMPT, "metoprolol, warfarin.", "", False),
    ("scattered words are not a copy", PROMPT, "metoprolol was taken with two doses of warfarin before the amoxicillin", "", False),
    ("the prompt's words backwards are not a copy", PROMPT, "atorvastatin amoxicillin warfarin metoprolol glossary", "", False),
    ("a term the speaker said is biasing working", PROMPT, "Start metoprolol twice daily.", "Start metoprolol twice daily.", False),
    ("a speaker reading the glossary is transcribed, not echoed", PROMPT,
     "Metoprolol, warfarin, amoxicillin, atorvastatin.", "Metoprolol, warfarin, amoxicillin, atorvastatin.", False),
    ("the glossary copied before what was said is an echo", PROMPT,
     "Glossary metoprolol warfarin amoxicillin atorvastatin. Take warfarin and amoxicillin.", "Take warfarin and amoxicillin.", True),
    ("an empty prompt echoes nothing", "", "anything at all", "", False),
    ("a one-word prompt cannot be told from the word said", "Xarelto.", "Xarelto", "", False),
    ("a two-word prompt copied whole", "Glossary: Xarelto.", "Glossary, Xarelto.", "", True),
    ("nothing written", PROMPT, "", "", False),
]


@pytest.mark.parametrize("case", ECHO_CASES, ids=[c[0] for c in ECHO_CASES])
def test_echoes_prompt(case):
    _, prompt, hypothesis, reference, expected = case
    assert echoes_prompt(prompt, hypothesis, reference) is expected


def test_echoed_words_is_the_longest_ordered_run_with_small_gaps():
    prompt = "a b c d e".split()
    assert echoed_words(prompt, "a b c d e".split()) == 5
    assert echoed_words(prompt, "x a y b c z z d".split()) == 3  # d is two words after c: the chain breaks
    assert echoed_words(prompt, "a b z z c d e".split()) == 3  # the longer part after the break
    assert echoed_words(prompt, "a b z z c d e".split(), gap=2) == 5
    assert echoed_words(prompt, "e d c b a".split()) == 1
    assert echoed_words([], "a".split()) == 0 and echoed_words(prompt, []) == 0


def row(i, ref, hyp, *, no_speech="no", language="en", detected="en", **extra):
    signals = {"detected_language": detected, **extra} if detected else dict(extra)
    return StoredHypothesis(f"u{i}", ref, hyp, {"language": language, "accent": "A" if i % 2 else "B", "no_speech": no_speech}, signals)


def test_guard_figures_from_stored_hypotheses():
    rows = [
        row(1, "Start metoprolol.", "Start metoprolol.", prompt=PROMPT),
        row(2, "Take warfarin.", "Glossary metoprolol warfarin amoxicillin atorvastatin", prompt=PROMPT, detected="de"),
        row(3, "", "Glossary, metoprolol, warfarin, amoxicillin.", no_speech="yes", detected=None, hotwords=PROMPT),
        row(4, "", "Thank you.", no_speech="yes", detected=None),
        row(5, "Lovely day.", "", error="cannot decode"),  # failed: left out of every measure
        row(6, "Lovely day.", "Lovely day.", missing=True),
    ]
    figures = guard_figures(rows, ["accent"])
    assert figures == GuardFigures(
        language_id=(("overall", 2, 50.0), ("accent=A", 1, 100.0), ("accent=B", 1, 0.0)),
        no_speech_clips=2, no_speech_words=6, prompted=3, prompt_echoes=2, echo_examples=("u2", "u3"),
    )
    # a run-wide prompt (the decoding option) counts for every utterance without its own
    plain = [row(1, "Start metoprolol.", "Start metoprolol."), row(2, "x", "metoprolol, warfarin, amoxicillin")]
    assert guard_figures(plain, [], default_prompt=PROMPT).prompted == 2
    assert guard_figures(plain, [], default_prompt=PROMPT).prompt_echoes == 1
    assert guard_figures(plain, []).prompted == 0


# ----------------------------------------------------------------------------- a real run


def test_a_prompted_run_stores_each_utterances_prompt(tmp_path):
    from workbench.bench import BenchRequest, demo_manifest, run_bench
    from workbench.runstore import RunStore
    from workbench.service import DataSelection

    lexicon = str(Path(demo_manifest()).parent / "lexicon.csv")
    workspace = str(tmp_path / "ws")
    selection = DataSelection(data=str(demo_manifest()), part="heldout")
    result = run_bench(BenchRequest(selection, model="tiny.en", workspace=workspace, limit=2, strategy="prompt", lexicon=lexicon))
    with RunStore(workspace) as store:
        stored = store.hypotheses(result.run_id)
    assert len(stored) == 2
    for h in stored:
        # faster-whisper takes the terms as hotwords (the prompt strategy's default there)
        text = h.extra.get("hotwords") or h.extra.get("prompt")
        assert text and text.startswith("Glossary: ") and "metoprolol" in text
    figures = guard_figures(stored, [])
    assert figures.prompted == 2
