"""Sanity checks on ../shared/realspeech-dev (real recorded speech); skipped when absent."""

from pathlib import Path

import pytest

from workbench.manifest import LoadOptions, load_dataset
from workbench.normalizers import get_normalizer
from workbench.split import split_dataset

MANIFEST = Path(__file__).resolve().parents[1].parent / "shared" / "realspeech-dev" / "manifest.csv"
pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="realspeech-dev is not beside the project")


def test_loads_every_real_utterance_with_its_slices():
    ds = load_dataset(MANIFEST, LoadOptions(min_duration_s=0.0))
    assert len(ds.utterances) == 730 and not ds.problems
    assert {u.slices["language"] for u in ds.utterances} == {"en", "de", "fa"}
    assert {"source", "license"} <= set(ds.slice_columns)


def test_default_one_second_minimum_excludes_and_counts_the_digit_clips():
    ds = load_dataset(MANIFEST)
    assert len(ds.utterances) + ds.excluded == 730
    assert ds.problem_counts()["audio too short"] == ds.excluded > 0


def test_digit_references_equal_whisper_style_digits():
    ds = load_dataset(MANIFEST, LoadOptions(min_duration_s=0.0))
    normalize = get_normalizer("auto")
    digits = [u for u in ds.utterances if u.reference.lower() in {"zero", "one", "two", "seven"}]
    assert digits
    as_digit = {"zero": "0", "one": "1", "two": "2", "seven": "7"}
    for u in digits:
        assert normalize(u.reference, u.language) == normalize(as_digit[u.reference.lower()], u.language)


def test_split_holds_out_every_language_and_accent():
    ds = load_dataset(MANIFEST, LoadOptions(min_duration_s=0.0))
    split = split_dataset(ds.utterances)
    held = {(u.slices["language"], u.slices["accent"]) for u in split.heldout}
    assert held == {(u.slices["language"], u.slices["accent"]) for u in ds.utterances}
