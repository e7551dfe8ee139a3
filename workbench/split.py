"""The held-out split: deterministic, speaker-disjoint, stratified by accent and language.

Held-out data must never leak into anything trained later, and must look like the data
it stands for. So:

- the same data, fraction and seed always give the same split, and adding rows moves as
  few utterances as possible (each speaker's side is decided by a hash of seed+speaker,
  not by shuffling a list);
- speakers are disjoint when speakers are known: a speaker's utterances all go to one
  side (a slice with a single speaker is the exception: it is split by utterance, and
  the split says so);
- every accent/language stratum with enough utterances gets held-out utterances.

The held-out identity is a hash of its utterance ids and reference texts; every run
records it, so a later training run can prove it never saw those utterances.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from .dataset import Utterance

__all__ = ["SplitOptions", "Split", "split_dataset", "split_with_test", "heldout_identity"]


@dataclass(frozen=True)
class SplitOptions:
    fraction: float = 0.1  # share of each stratum's utterances held out
    seed: int = 42
    stratify_by: tuple[str, ...] = ("language", "accent")

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1:
            raise ValueError(f"held-out fraction must be in (0, 1), got {self.fraction!r}")


@dataclass(frozen=True)
class Split:
    train: tuple[Utterance, ...]
    heldout: tuple[Utterance, ...]
    heldout_id: str  # sha256 over held-out ids and references
    method: str  # "split" (carved from --data) or "test-manifest"
    notes: tuple[str, ...] = ()  # what a user should know: fallbacks, small strata, leaks removed


def heldout_identity(utterances: Sequence[Utterance]) -> str:
    """A hash that changes if any held-out utterance or reference text changes."""
    digest = hashlib.sha256()
    for line in sorted(f"{u.id}\t{u.reference}" for u in utterances):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}".encode("utf-8")).hexdigest()


SPLIT_COLUMN = "split"
HELDOUT_VALUES = ("heldout", "held-out", "test", "eval")
TRAIN_VALUES = ("train", "training", "dev", "validation")


def split_dataset(utterances: Sequence[Utterance], options: SplitOptions = SplitOptions()) -> Split:
    """The manifest's own `split` column when every row has a known value, else computed."""
    values = {u.slices.get(SPLIT_COLUMN, "").strip().lower() for u in utterances}
    if utterances and values <= set(HELDOUT_VALUES + TRAIN_VALUES) and values & set(HELDOUT_VALUES):
        heldout = tuple(u for u in utterances if u.slices[SPLIT_COLUMN].strip().lower() in HELDOUT_VALUES)
        train = tuple(u for u in utterances if u.slices[SPLIT_COLUMN].strip().lower() in TRAIN_VALUES)
        return Split(train, heldout, heldout_identity(heldout), "manifest-column", ())
    split = _computed_split(utterances, options)
    if values - {""}:
        note = f"the {SPLIT_COLUMN!r} column was ignored: values {sorted(values)} are not all train/heldout"
        split = Split(split.train, split.heldout, split.heldout_id, split.method, (note,) + split.notes)
    return split


def _computed_split(utterances: Sequence[Utterance], options: SplitOptions) -> Split:
    notes: list[str] = []
    has_speakers = any(u.slices.get("speaker") for u in utterances)

    def stratum(u: Utterance) -> tuple[str, ...]:
        return tuple(u.slices.get(c, "") for c in options.stratify_by)

    def group(u: Utterance) -> str:
        speaker = u.slices.get("speaker", "")
        return f"speaker:{speaker}" if speaker else f"utterance:{u.id}"

    # A speaker belongs to the stratum where most of their utterances are.
    by_group: dict[str, list[Utterance]] = {}
    for u in utterances:
        by_group.setdefault(group(u), []).append(u)
    home = {g: Counter(stratum(u) for u in us).most_common(1)[0][0] for g, us in by_group.items()}
    strata: dict[tuple[str, ...], list[str]] = {}
    for g in by_group:
        strata.setdefault(home[g], []).append(g)

    heldout_ids: set[str] = set()
    for key in sorted(strata):
        groups = sorted(strata[key], key=lambda g: _rank(options.seed, g))
        size = sum(len(by_group[g]) for g in groups)
        name = "/".join(v or "-" for v in key) or "all"
        target = max(1, round(options.fraction * size))
        if len(groups) >= 2:
            # In hash order, take each group that keeps the held-out part within 1.5x the
            # target; if none fits, the smallest group. Train always keeps one group.
            chosen: list[str] = []
            taken = 0
            for g in groups:
                if taken >= target or len(chosen) == len(groups) - 1:
                    break
                if taken + len(by_group[g]) <= 1.5 * target:
                    chosen.append(g)
                    taken += len(by_group[g])
            if not chosen:
                chosen = [min(groups, key=lambda g: len(by_group[g]))]
                taken = len(by_group[chosen[0]])
            for g in chosen:
                heldout_ids.update(u.id for u in by_group[g])
            if taken > 2 * options.fraction * size:
                notes.append(
                    f"slice {name}: {len(groups)} speakers only; {taken} of {size} utterances held out to stay speaker-disjoint"
                )
        elif size >= 2:
            # One speaker only: a speaker-disjoint split would put the whole slice on one
            # side, so split this slice by utterance and say so.
            members = sorted(by_group[groups[0]], key=lambda u: _rank(options.seed, u.id))
            heldout_ids.update(u.id for u in members[:target])
            if has_speakers and groups[0].startswith("speaker:"):
                notes.append(f"slice {name}: one speaker only, split by utterance (not speaker-disjoint)")
        else:
            notes.append(f"slice {name}: {size} utterance, too few to hold out; all in train")

    heldout = tuple(u for u in utterances if u.id in heldout_ids)
    train = tuple(u for u in utterances if u.id not in heldout_ids)
    return Split(train, heldout, heldout_identity(heldout), "split", tuple(notes))


def split_with_test(train: Sequence[Utterance], test: Sequence[Utterance]) -> Split:
    """A separate held-out manifest, used whole; train utterances that are also in it
    (same id or same audio file) are removed from train, so nothing can train on them."""
    test_ids = {u.id for u in test}
    test_audio = {u.audio.path for u in test if u.audio.path}
    kept = tuple(u for u in train if u.id not in test_ids and (u.audio.path is None or u.audio.path not in test_audio))
    notes = []
    if len(kept) != len(train):
        notes.append(f"{len(train) - len(kept)} train utterances are also in the test manifest: removed from train")
    return Split(kept, tuple(test), heldout_identity(test), "test-manifest", tuple(notes))
