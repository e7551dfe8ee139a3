"""Words touched and words invented (workbench/terms.py): what a post-editing strategy
changed, and which of the words it wrote nobody said. A table of cases."""

from dataclasses import dataclass, field

import pytest

from workbench.normalizers import get_normalizer
from workbench.terms import over_corrections


@dataclass(frozen=True)
class Item:
    id: str
    reference: str
    language: str = "en"
    slices: dict = field(default_factory=dict)


@pytest.mark.parametrize("reference, before, after, broken, fixed, touched, invented, written", [
    # the term fixed: 3 words replaced by 1 (touched 3), the word written was said
    ("she takes metformin daily", "she takes met for min daily", "she takes metformin daily", 0, 1, 3, 0, 1),
    # the wrong term: written, not said -> invented; nothing right was broken
    ("she takes metformin daily", "she takes met for min daily", "she takes metoprolol daily", 0, 0, 3, 1, 1),
    # a right word rewritten: broken and invented
    ("tickets for the concert", "tickets for the concert", "diabetes for the concert", 1, 0, 1, 1, 1),
    # words added at the end that nobody said
    ("take it after meals", "take it after meals", "take it after meals every day", 0, 0, 2, 2, 2),
    # a deletion writes nothing: touched, not invented
    ("the dose was given", "the the dose was given", "the dose was given", 0, 0, 1, 0, 0),
    # unchanged
    ("all good here", "all good here", "all good here", 0, 0, 0, 0, 0),
])
def test_words_touched_and_invented(reference, before, after, broken, fixed, touched, invented, written):
    (overall,) = over_corrections([Item("u", reference)], {"u": before}, {"u": after}, get_normalizer("auto"), ())
    assert (overall.broken, overall.fixed, overall.touched, overall.invented, overall.written) == (broken, fixed, touched, invented, written)
    assert overall.broken_share == (broken / touched if touched else None)


def test_per_slice_sums():
    items = [Item("a", "red green blue", slices={"domain": "x"}), Item("b", "cat dog", slices={"domain": "y"})]
    rows = over_corrections(items, {"a": "red green blue", "b": "cat dog"}, {"a": "red green glue", "b": "cat dog bird"},
                            get_normalizer("auto"), ("domain",))
    by = {(r.column, r.value): (r.touched, r.invented) for r in rows}
    assert by == {("overall", "all"): (2, 2), ("domain", "x"): (1, 1), ("domain", "y"): (1, 1)}
