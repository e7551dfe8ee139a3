"""Cards: the demo corpus's dataset card against its files, and what a card may not change.

The model cards of real trained models are checked where a model is trained: the card
training writes in tests/test_training.py, the card the escalation rewrites with its
held-out figures, guard and deployment parity in tests/test_escalation.py.
"""

import csv
import os
from collections import Counter
from pathlib import Path

import pytest

from workbench.bench import demo_manifest
from workbench.model_card import base_model_id, card_metadata

DEMO = Path(demo_manifest()).parent


@pytest.fixture(scope="module")
def demo_rows():
    with open(DEMO / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_demo_corpus_has_a_valid_dataset_card_that_matches_its_files(demo_rows):
    from huggingface_hub import DatasetCard

    meta = card_metadata(DEMO / "README.md")
    # what the Hub reads: languages, license, size, task, splits, and that it is synthetic
    assert sorted(meta["language"]) == sorted({r["language"] for r in demo_rows})
    assert meta["license"] == "mit"  # the repository's license (pyproject.toml), which the README says covers the clips
    assert 'license = "MIT"' in (DEMO.parents[2] / "pyproject.toml").read_text()
    assert meta["task_categories"] == ["automatic-speech-recognition"]
    assert meta["size_categories"] == ["n<1K"] and len(demo_rows) < 1000
    assert meta["synthetic"] is True and "synthetic" in meta["tags"] and "SYNTHETIC" in meta["pretty_name"]
    info = meta["dataset_info"]
    assert [f["name"] for f in info["features"]] == list(demo_rows[0])
    counts = Counter(r["split"] for r in demo_rows)
    audio_bytes = Counter()
    for r in demo_rows:
        audio_bytes[r["split"]] += os.path.getsize(DEMO / r["audios"])
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == dict(counts)
    assert {s["name"]: s["num_bytes"] for s in info["splits"]} == dict(audio_bytes)
    assert info["download_size"] == sum(audio_bytes.values()) + sum(os.path.getsize(DEMO / n) for n in ("manifest.csv", "lexicon.csv"))
    # huggingface_hub reads it as a dataset card, body intact
    card = DatasetCard((DEMO / "README.md").read_text(encoding="utf-8"))
    assert card.data.license == "mit" and card.data.task_categories == ["automatic-speech-recognition"]
    assert card.text.lstrip().startswith("# demo: the embedded SYNTHETIC")


def test_card_metadata_is_empty_without_front_matter(tmp_path):
    plain = tmp_path / "README.md"
    plain.write_text("# a model\n\nno metadata\n")
    assert card_metadata(plain) == {}
    plain.write_text("---\nbase_model: openai/whisper-base\n---\n\n# a model\n")
    assert card_metadata(plain) == {"base_model": "openai/whisper-base"}


@pytest.mark.parametrize("model, hub_id", [("tiny.en", "openai/whisper-tiny.en"), ("base", "openai/whisper-base"),
                                           ("openai/whisper-small", "openai/whisper-small"), ("/no/such/folder", None),
                                           ("./local", None), (None, None)])
def test_the_base_model_is_named_by_its_hub_id(model, hub_id):
    assert base_model_id(model) == hub_id


def test_a_card_beside_the_weights_does_not_change_the_model_fingerprint(tmp_path, monkeypatch):
    """A run's identity holds the model's fingerprint: writing or rewriting a card must not
    make the same weights another model (runs would no longer be reused)."""
    from workbench import models

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    (folder / "config.json").write_text("{}")
    before = models.model_fingerprint(folder)
    (folder / "README.md").write_text("---\nbase_model: x\n---\n# card\n")
    (folder / "workbench-export.json").write_text('{"source": "elsewhere"}')
    assert models.model_fingerprint(folder) == before
    (folder / "config.json").write_text('{"changed": true}')
    assert models.model_fingerprint(folder) != before
