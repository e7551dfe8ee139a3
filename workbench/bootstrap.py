"""Percentile bootstrap intervals for corpus-level error rates, without re-aligning.

A corpus WER is sum(errors) / sum(reference words). Resampling utterances with
replacement and recomputing that ratio from the per-utterance counts gives the same
interval as re-running the aligner on every resample (the counts of an utterance do not
depend on which other utterances are drawn), at a tiny fraction of the cost: one
vectorized gather per resample block instead of thousands of alignments.
"""

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["BootstrapOptions", "Interval", "ratio_intervals", "ratio_replicates", "slice_rng"]


@dataclass(frozen=True)
class BootstrapOptions:
    resamples: int = 1000  # bootstrap replicates; 1000 gives stable 95% bounds
    confidence: float = 0.95  # two-sided coverage of the interval
    seed: int = 42  # same seed + same data -> the same interval, always

    def __post_init__(self) -> None:
        if self.resamples < 0:
            raise ValueError(f"resamples must be >= 0, got {self.resamples!r}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence!r}")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    confidence: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def slice_rng(options: BootstrapOptions, utterance_ids) -> np.random.Generator:
    """A generator seeded by the options' seed and the slice's members: a slice's interval
    does not change when other slices are added or reordered, and two slices holding the
    same utterances (language=de and accent=de-DE, say) get the same interval."""
    digest = 0
    for utt_id in sorted(utterance_ids):
        digest = zlib.crc32(utt_id.encode("utf-8") + b"\n", digest)
    return np.random.default_rng([options.seed, digest])


# Keep each block near 16M draws (~0.3 GB of index, offset and count arrays at peak).
_BLOCK_CELLS = 16_000_000


def ratio_replicates(
    numerators: np.ndarray,
    denominators: np.ndarray,
    options: BootstrapOptions,
    rng: np.random.Generator,
) -> np.ndarray:
    """The bootstrap replicates of sum(numerators[k]) / sum(denominators[k]): shape
    (k, resamples), NaN where a resample's denominator is zero. Every row is resampled
    with the SAME utterance indices (paired)."""
    numerators = np.atleast_2d(np.asarray(numerators, dtype=np.float64))
    denominators = np.atleast_2d(np.asarray(denominators, dtype=np.float64))
    k, n = numerators.shape
    ratios = np.full((k, options.resamples), np.nan)
    if n == 0 or options.resamples == 0:
        return ratios
    # Sums over a resample = (how often each utterance was drawn) @ (its counts): one
    # bincount and one small matrix product per block, exact for integer counts < 2**53.
    columns = np.hstack([numerators.T, denominators.T])  # (n, 2k)
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, options.resamples, block):
        stop = min(options.resamples, start + block)
        index = rng.integers(0, n, size=(stop - start, n), dtype=np.int32)
        offsets = (np.arange(stop - start, dtype=np.int64) * n)[:, None]
        drawn = np.bincount((index + offsets).ravel(), minlength=(stop - start) * n).reshape(stop - start, n)
        sums = drawn.astype(np.float64) @ columns  # (block, 2k)
        num, den = sums[:, :k].T, sums[:, k:].T
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[:, start:stop] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return ratios


def ratio_intervals(
    numerators: np.ndarray,
    denominators: np.ndarray,
    options: BootstrapOptions,
    rng: np.random.Generator,
) -> list[Interval | None]:
    """Intervals for sum(numerators[k]) / sum(denominators[k]), for each row k.

    numerators, denominators: arrays of shape (k, n), one column per utterance. Every row
    is resampled with the SAME utterance indices (paired), so WER and CER intervals come
    from the same replicates. A row whose denominators are all zero gets None.
    """
    numerators = np.atleast_2d(np.asarray(numerators, dtype=np.float64))
    k, n = numerators.shape
    if n == 0 or options.resamples == 0:
        return [None] * k
    ratios = ratio_replicates(numerators, denominators, options, rng)
    alpha = (1.0 - options.confidence) / 2.0
    out: list[Interval | None] = []
    for row in range(k):
        values = ratios[row][~np.isnan(ratios[row])]
        if values.size == 0:
            out.append(None)
            continue
        low, high = np.quantile(values, [alpha, 1.0 - alpha])
        out.append(Interval(float(low), float(high), options.confidence))
    return out
