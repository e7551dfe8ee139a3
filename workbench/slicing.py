"""Slice columns, including crossed ones: `accent*domain` slices by both at once.

A marginal slice can hide what matters: "accent=Caribbean" mixes clinical dictation with
general speech, and "domain=clinical" mixes accents, so a lexicon that serves the US
voices and not the Caribbean one looks fine on both. A crossed column names two (or
more) manifest columns joined by `*`; its value for an utterance is their values joined
by "/" ("Caribbean/clinical"). Every per-slice figure (WER, term recall, language ID,
the paired regression report, per-slice targets) reads slices through `slice_value`, so a
crossed column works wherever a manifest column does.
"""

from collections.abc import Iterable, Mapping

__all__ = ["CROSS", "slice_value", "parts", "unknown_columns"]

CROSS = "*"


def parts(column: str) -> tuple[str, ...]:
    """The manifest columns a slice column reads: itself, or the columns it crosses."""
    return tuple(p.strip() for p in column.split(CROSS)) if CROSS in column else (column,)


def slice_value(slices: Mapping[str, str], column: str) -> str:
    """The utterance's value in `column` ("" when it has none); crossed: "a/b"."""
    if CROSS not in column:
        return slices.get(column, "")
    values = [slices.get(p, "") for p in parts(column)]
    return "/".join(values) if any(values) else ""


def unknown_columns(columns: Iterable[str], available: Iterable[str]) -> list[str]:
    """The slice columns (or the parts of crossed ones) that the data does not have."""
    known = set(available)
    return [c for c in columns if any(p not in known for p in parts(c)) or not all(parts(c))]
