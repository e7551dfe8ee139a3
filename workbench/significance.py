"""Paired comparison of two runs over the same utterances: is B really better than A?

The change in corpus WER, sum(errors_B - errors_A) / sum(words), gets a bootstrap
interval from the SAME resampled utterances for both runs (paired), which is far tighter
than comparing two independent intervals. A slice is significantly worse when the whole
interval lies above zero.
"""

from dataclasses import dataclass
from typing import Mapping, Sequence

from .bootstrap import BootstrapOptions, Interval
from .regression import ReportOptions, paired_rows
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
    """Per-slice paired WER change of B against A, computed by the regression report's
    `paired_rows` (one paired comparison in the workbench). Both runs must score the same
    utterances: one that only one of them has is an error, never silently dropped."""
    b_by_id = {s.id: s for s in b}
    only_a = [x.id for x in a if x.id not in b_by_id]
    only_b = sorted(set(b_by_id) - {x.id for x in a})
    if only_a or only_b:
        example = (only_a or only_b)[0]
        raise ValueError(f"paired_deltas: {len(only_a)} utterances only in A and {len(only_b)} only in B (e.g. {example!r}); "
                         "pair the runs on the utterances both scored")
    items = [_Item(x.id, slices_by_id.get(x.id, {})) for x in a]
    rows = paired_rows(items, list(a), [b_by_id[x.id] for x in a], slice_columns, ReportOptions(bootstrap=options))
    out = []
    for row in rows:
        low, high = row["change_low"], row["change_high"]
        interval = Interval(low / 100.0, high / 100.0, options.confidence) if low is not None and high is not None else None
        change = row["change"]
        out.append(Delta(row["column"], row["value"], row["utterances"], None if change is None else change / 100.0, interval))
    return out


@dataclass(frozen=True)
class _Item:
    id: str
    slices: Mapping[str, str]

    @property
    def language(self) -> str | None:
        return self.slices.get("language") or None
