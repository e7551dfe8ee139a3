"""A review budget: how much people will check, as a share, a count or minutes of audio.

Its own small module so the escalation config can validate `[review] budget` without
importing the review machinery (and so without an import cycle).
"""

import math
import re
from dataclasses import dataclass
from typing import Sequence

from .errors import BadInputError

__all__ = ["Budget", "parse_budget"]


@dataclass(frozen=True)
class Budget:
    """How much a team can review: a share of the utterances, a number of them, or minutes of audio."""

    kind: str  # "fraction" | "count" | "minutes"
    value: float  # fraction in [0, 1], a count, or minutes

    def __post_init__(self) -> None:
        if self.kind not in ("fraction", "count", "minutes"):
            raise ValueError(f"budget kind must be fraction, count or minutes, got {self.kind!r}")
        if not math.isfinite(self.value) or self.value < 0 or (self.kind == "fraction" and self.value > 1):
            raise ValueError(f"budget: {self.value!r} is out of range for a {self.kind} budget")

    def describe(self) -> str:
        if self.kind == "fraction":
            return f"{100 * self.value:g}% of the utterances"
        if self.kind == "count":
            return f"{int(self.value)} utterances"
        return f"{self.value:g} minutes of audio"

    def count(self, durations: Sequence[float | None]) -> int:
        """How many items, taken in order, fit in the budget (`durations`: each item's seconds).
        A share rounds down (never more than the budget); minutes need every duration up to
        the point where the budget runs out."""
        n = len(durations)
        if self.kind == "fraction":
            return int(math.floor(self.value * n + 1e-9))
        if self.kind == "count":
            return min(int(self.value), n)
        left, taken = 60.0 * self.value, 0
        for d in durations:
            if d is None:
                raise BadInputError("--budget in minutes needs each clip's duration, and some are unknown "
                                    "(the manifest named in the run's config could not be read); give a share or a count")
            if d > left + 1e-9:
                break
            left -= d
            taken += 1
        return taken


def parse_budget(text: str | Budget) -> Budget:
    """"20%" -> share, "50" -> count, "12min" (or "12m", "1.5h", "90s") -> minutes of audio."""
    if isinstance(text, Budget):
        return text
    raw = str(text).strip().lower().replace(" ", "")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(%|min|mins|minutes|m|h|s)?", raw)
    if not match:
        raise BadInputError(f"--budget: expected a share (20%), a count (50) or minutes of audio (12min), got {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "%":
        if number > 100:
            raise BadInputError(f"--budget: {text!r} is more than 100%")
        return Budget("fraction", number / 100)
    if unit is None:
        if number != int(number):
            raise BadInputError(f"--budget: a count of utterances is a whole number, got {text!r}")
        return Budget("count", number)
    minutes = {"h": number * 60, "s": number / 60}.get(unit, number)
    return Budget("minutes", minutes)
