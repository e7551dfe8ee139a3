"""The held-out split: deterministic, speaker-disjoint, stratified; identity hashing."""

from collections import Counter

import pytest

from workbench.dataset import AudioSource, Utterance
from workbench.split import SplitOptions, heldout_identity, split_dataset, split_with_test


def corpus():
    """4 accent strata with several speakers each, 1 single-speaker stratum, 1 tiny one."""
    utts = []
    n = 0
    for accent, speakers, per_speaker in [("us", 8, 10), ("gb", 5, 12), ("sc", 4, 6), ("de", 6, 5), ("solo", 1, 20), ("tiny", 1, 1)]:
        for s in range(speakers):
            for k in range(per_speaker):
                language = "de" if accent == "de" else "en"
                utts.append(Utterance(f"{accent}-{s}-{k}", AudioSource(path=f"/a/{n}.wav"), f"text {n}", {"accent": accent, "language": language, "speaker": f"{accent}-spk{s}"}))
                n += 1
    return utts


def test_split_is_deterministic_and_seed_dependent():
    utts = corpus()
    a, b = split_dataset(utts), split_dataset(utts)
    assert [u.id for u in a.heldout] == [u.id for u in b.heldout]
    assert a.heldout_id == b.heldout_id
    c = split_dataset(utts, SplitOptions(seed=7))
    assert {u.id for u in c.heldout} != {u.id for u in a.heldout}


def test_split_partitions_the_data():
    utts = corpus()
    split = split_dataset(utts)
    ids = [u.id for u in split.train] + [u.id for u in split.heldout]
    assert sorted(ids) == sorted(u.id for u in utts)


def test_split_is_speaker_disjoint_where_slices_have_several_speakers():
    split = split_dataset(corpus())
    train_speakers = {u.slices["speaker"] for u in split.train}
    held_speakers = {u.slices["speaker"] for u in split.heldout}
    shared = train_speakers & held_speakers
    assert shared == {"solo-spk0"}  # the single-speaker slice, and only it
    assert any("solo" in note and "not speaker-disjoint" in note for note in split.notes)


def test_every_slice_with_enough_utterances_is_held_out_and_train_keeps_each():
    split = split_dataset(corpus())
    held = Counter(u.slices["accent"] for u in split.heldout)
    train = Counter(u.slices["accent"] for u in split.train)
    for accent in ("us", "gb", "sc", "de", "solo"):
        assert held[accent] >= 1, accent
        assert train[accent] >= 1, accent
    assert held["tiny"] == 0 and any("tiny" in n for n in split.notes)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3])
def test_heldout_share_tracks_the_fraction(fraction):
    utts = corpus()
    split = split_dataset(utts, SplitOptions(fraction=fraction))
    share = len(split.heldout) / len(utts)
    assert fraction * 0.5 <= share <= fraction * 2


def test_utterance_level_split_without_speakers():
    utts = [Utterance(f"u{i}", AudioSource(path=f"/a/{i}.wav"), f"t {i}", {"accent": "x" if i % 2 else "y"}) for i in range(100)]
    split = split_dataset(utts)
    assert 8 <= len(split.heldout) <= 12
    assert not split.notes


def test_adding_rows_keeps_earlier_assignments_mostly_stable():
    utts = corpus()
    before = {u.id for u in split_dataset(utts).heldout}
    extra = [Utterance(f"new-{i}", AudioSource(path=f"/n/{i}.wav"), "t", {"accent": "us", "language": "en", "speaker": f"new{i}"}) for i in range(3)]
    after = {u.id for u in split_dataset(utts + extra).heldout}
    assert len(before & after) >= 0.8 * len(before)


def test_heldout_identity_changes_with_ids_or_references_not_order():
    utts = corpus()[:10]
    base = heldout_identity(utts)
    assert heldout_identity(list(reversed(utts))) == base
    changed = [Utterance(utts[0].id, utts[0].audio, utts[0].reference + "!", utts[0].slices)] + utts[1:]
    assert heldout_identity(changed) != base
    assert heldout_identity(utts[1:]) != base
    assert base.startswith("sha256:")


def test_test_manifest_is_used_whole_and_leaks_leave_train():
    utts = corpus()
    test, train = utts[:30], utts[20:]  # 10 utterances overlap
    split = split_with_test(train, test)
    assert split.heldout == tuple(test)
    assert not ({u.id for u in split.train} & {u.id for u in test})
    assert len(split.train) == len(train) - 10
    assert split.notes and "removed from train" in split.notes[0]
    assert split.heldout_id == heldout_identity(test)


@pytest.mark.parametrize(
    "values, method",
    [(["train", "heldout", "train", "test"], "manifest-column"), (["train", "dev", "eval", "train"], "manifest-column"), (["a", "b", "a", "b"], "split")],
)
def test_a_split_column_in_the_manifest_is_honoured(values, method):
    utts = [
        Utterance(f"u{i}", AudioSource(path=f"/a/{i}.wav"), "t", {"accent": "x", "split": v})
        for i, v in enumerate(values * 5)
    ]
    split = split_dataset(utts)
    assert split.method == method
    if method == "manifest-column":
        assert {u.slices["split"] for u in split.heldout} <= {"heldout", "test", "eval"}
        assert len(split.heldout) + len(split.train) == len(utts)
    else:
        assert "ignored" in split.notes[0]
