"""The run store: complete records, crash safety, rescoring from stored hypotheses."""

import sqlite3
import subprocess
import sys

import pytest

from workbench.errors import RunNotFoundError
from workbench.runstore import RunStore, StoredHypothesis
from workbench.service import rescore_run


def _hyps():
    return [
        StoredHypothesis("a", "Seven cats.", "7 cats", {"language": "en", "accent": "x"}),
        StoredHypothesis("b", "The dog ran.", "the dog ran", {"language": "en", "accent": "y"}, {"avg_logprob": -0.2}),
    ]


def test_a_run_is_stored_whole(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("score", {"normalizer": "auto@1", "slice_columns": ["accent"]}, {"packages": {"jiwer": "4"}}, "sha256:x", 2, "auto@1", "abc")
        assert store.run(run).status == "running"
        store.add_hypotheses(run, _hyps())
        store.finish_run(run, {"auto@1": {"k": 1}}, {"score_s": 0.1}, {"wer": 0.0})
        record = store.run(run)
        assert record.status == "succeeded" and record.finished_at
        assert (record.heldout_id, record.heldout_size, record.git_commit) == ("sha256:x", 2, "abc")
        assert record.environment == {"packages": {"jiwer": "4"}}
        assert [h.utterance_id for h in store.hypotheses(run)] == ["a", "b"]
        assert store.hypotheses(run)[1].extra == {"avg_logprob": -0.2}
        assert store.scores(run) == {"auto@1": {"k": 1}}
        assert store.resolve(run[:12]) == run
        assert store.resolve("latest") == run


def test_failed_scoring_never_looks_complete(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("score", {}, {})
        store.add_hypotheses(run, _hyps())
        with pytest.raises(TypeError):
            store.finish_run(run, {"auto@1": {"bad": object()}}, {}, {})  # not JSON: fails mid-transaction
        assert store.run(run).status == "running"
        assert store.scores(run) == {}
        assert len(store.hypotheses(run)) == 2  # what finished before is kept
        store.end_run(run, "failed", "TypeError: boom")
        assert store.run(run).status == "failed" and "boom" in store.run(run).error


def test_a_crashed_process_leaves_an_interrupted_run(tmp_path):
    code = (
        "import os, sys; from workbench.runstore import RunStore, StoredHypothesis;"
        f"s = RunStore({str(tmp_path)!r}); r = s.begin_run('bench', {{}}, {{}});"
        "s.add_hypotheses(r, [StoredHypothesis('a', 'x', 'x', {})]); print(r, flush=True); os._exit(9)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    run_id = out.stdout.strip()
    with RunStore(tmp_path) as store:
        record = store.run(run_id)
        assert record.status == "running"
        assert record.effective_status == "interrupted"
        assert len(store.hypotheses(run_id)) == 1


def test_unknown_run_is_a_clear_error(tmp_path):
    with RunStore(tmp_path) as store:
        with pytest.raises(RunNotFoundError, match="nope"):
            store.run("nope")


def test_status_is_constrained(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("score", {}, {})
        with pytest.raises(ValueError):
            store.end_run(run, "succeeded")
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE runs SET status = 'done' WHERE id = ?", (run,))


def test_rescore_from_stored_hypotheses(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("score", {"normalizer": "auto@1", "slice_columns": ["accent"], "bootstrap": {"resamples": 100, "confidence": 0.95, "seed": 1}}, {})
        store.add_hypotheses(run, _hyps())
        store.finish_run(run, {}, {}, {})
    raw = rescore_run(run, str(tmp_path), "raw")
    assert raw.evaluation.normalized.normalizer == "raw@1"
    assert raw.evaluation.normalized.overall.errors == 4  # Seven/7, cats./cats, The/the, ran./ran
    auto = rescore_run(run, str(tmp_path))
    assert auto.evaluation.normalized.overall.wer == 0.0
    with RunStore(tmp_path) as store:
        assert set(store.scores(run)) == {"raw@1", "auto@1"}
        assert store.scores(run)["auto@1"]["overall"]["wer"] == 0.0
        # Each rescore ADDED a version (the run's own scoring stored no card).
        assert [v for v, *_ in store.score_versions(run)] == [1, 2]
        assert set(store.scores_version(run, 1)) == {"raw@1"}
    again = rescore_run(run, str(tmp_path))
    assert again.version is None  # identical to the latest: nothing added


def test_rescore_never_overwrites_stored_scorecards(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("score", {"normalizer": "auto@1", "slice_columns": [], "bootstrap": {"resamples": 0, "confidence": 0.95, "seed": 1}}, {})
        store.add_hypotheses(run, _hyps())
        store.finish_run(run, {"auto@1": {"marker": "original"}}, {}, {})
    rescore_run(run, str(tmp_path))
    with RunStore(tmp_path) as store:
        assert store.scores_version(run, 1)["auto@1"] == {"marker": "original"}
        assert store.scores(run)["auto@1"]["overall"]["wer"] == 0.0
        assert len(store.score_versions(run)) == 2


def test_a_schema_1_store_is_migrated_without_losing_scores(tmp_path):
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    db.executescript(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,"
        " finished_at TEXT, error TEXT, pid INTEGER, host TEXT, config TEXT NOT NULL, heldout_id TEXT, heldout_size INTEGER,"
        " normalizer TEXT, environment TEXT NOT NULL, git_commit TEXT, timings TEXT, summary TEXT);"
        "CREATE TABLE scores (run_id TEXT NOT NULL, normalizer TEXT NOT NULL, scorecard TEXT NOT NULL, created_at TEXT NOT NULL,"
        " PRIMARY KEY (run_id, normalizer));"
        "INSERT INTO runs VALUES ('r1', 'bench', 'succeeded', '2026-01-01T00:00:00+00:00', NULL, NULL, 1, 'h', '{}', NULL, NULL,"
        " 'auto@1', '{}', NULL, '{}', '{}');"
        "INSERT INTO scores VALUES ('r1', 'auto@1', '{\"old\": true}', '2026-01-01T00:00:00+00:00');"
    )
    db.commit()
    db.close()
    with RunStore(tmp_path) as store:
        assert store.scores("r1") == {"auto@1": {"old": True}}
        assert store.run("r1").identity is None


# --------------------------------------------------------------------------- batched writes


def _many(n, start=0):
    return (StoredHypothesis(f"u{i:05d}", f"ref {i}", f"hyp {i}", {"accent": "x"}) for i in range(start, start + n))


def test_many_hypotheses_are_written_in_batches_and_an_interruption_keeps_the_finished_ones(tmp_path):
    def arriving():  # the third batch never completes: the producer is interrupted
        yield from _many(250)
        raise KeyboardInterrupt

    with RunStore(tmp_path) as store:
        run = store.begin_run("score", {}, {})
        with pytest.raises(KeyboardInterrupt):
            store.add_hypotheses(run, arriving(), batch_rows=100)
        kept = store.hypotheses(run)
        assert [h.utterance_id for h in kept] == [f"u{i:05d}" for i in range(200)]
        # The rest arrives later (a resumed run): positions continue after what was kept.
        assert store.add_hypotheses(run, _many(300, 200), batch_rows=100) == 300
        assert [h.utterance_id for h in store.hypotheses(run)] == [f"u{i:05d}" for i in range(500)]


def test_the_buffered_writer_stores_what_is_pending_when_the_work_stops(tmp_path):
    with RunStore(tmp_path) as store:
        run = store.begin_run("bench", {}, {})
        with pytest.raises(KeyboardInterrupt):
            with store.writer(run, batch_rows=64, min_interval_s=3600) as writer:
                for i, h in enumerate(_many(150)):
                    writer.add(h)
                    if i == 69:
                        # the first row at once, then a batch of 64: five rows pending, not yet visible
                        with RunStore(tmp_path, read_only=True) as reader:
                            assert len(reader.hypotheses(run)) == 65
                    if i == 99:
                        raise KeyboardInterrupt
        assert len(store.hypotheses(run)) == 100


def test_a_killed_writer_loses_at_most_its_pending_batch(tmp_path):
    code = (
        "import os; from workbench.runstore import RunStore, StoredHypothesis;"
        f"s = RunStore({str(tmp_path)!r}); r = s.begin_run('bench', {{}}, {{}}); print(r, flush=True);"
        "w = s.writer(r, batch_rows=50, min_interval_s=3600)\n"
        "for i in range(120): w.add(StoredHypothesis(f'u{i}', 'x', 'x', {}))\n"
        "os._exit(9)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    with RunStore(tmp_path) as store:
        assert len(store.hypotheses(out.stdout.strip())) == 101  # the first row, two batches of 50; 19 were pending
