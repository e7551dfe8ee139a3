"""Paired comparison of two runs over the same utterances: is B really better than A?

The change in corpus WER, sum(errors_B - errors_A) / sum(words), gets a bootstrap
interval from the SAME resampled utterances for both runs (paired), which is far tighter
than comparing two independent intervals. A slice is significantly worse when the whole
interval lies above zero.
"""

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .bootstrap import BootstrapOptions, Interval, ratio_intervals, slice_rng
from .scoring import UtteranceScore

__all__ = ["Delta", "paired_deltas"]


@dataclass(frozen=True)
class Delta:
    column: str
    value: str
    utterances: int
    delta_wer: float | None  # B minus A, as a fraction (negative = B better)
    interval: Interval | None

    @property
    def significantly_worse(self) -> bool:
        return self.interval is not None and self.interval.low > 0

    @property
    def significantly_better(self) -> bool:
        return self.interval is not None and self.interval.high < 0


def paired_deltas(
    a: Sequence[UtteranceScore],
    b: Sequence[UtteranceScore],
    slices_by_id: Mapping[str, Mapping[str, str]],
    slice_columns: Sequence[str],
    options: BootstrapOptions = BootstrapOptions(),
) -> list[Delta]:
    b_by_id = {s.id: s for s in b}
    pairs = [(x, b_by_id[x.id]) for x in a if x.id in b_by_id]
    groups = [("overall", "all", pairs)]
    for column in slice_columns:
        by_value: dict[str, list] = {}
        for pair in pairs:
            by_value.setdefault(slices_by_id.get(pair[0].id, {}).get(column, ""), []).append(pair)
        groups.extend((column, value, by_value[value]) for value in sorted(by_value))
    out = []
    for column, value, group in groups:
        diff = np.array([y.errors - x.errors for x, y in group], dtype=np.float64)
        words = np.array([x.ref_words for x, _ in group], dtype=np.float64)
        total = words.sum()
        (interval,) = ratio_intervals(diff, words, options, slice_rng(options, (x.id for x, _ in group)))
        out.append(Delta(column, value, len(group), float(diff.sum() / total) if total else None, interval if total else None))
    return out
