"""The command line end to end on the shipped example: exit codes, reports, run store."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.exit_codes import ExitCode
from workbench.runstore import RunStore
from workbench.service import example_paths

EXAMPLE, EXAMPLE_HYP = example_paths()


def test_score_the_example_writes_reports_and_a_run(tmp_path, capsys):
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    code = main(["score", "--workspace", str(tmp_path / "ws"), "--json", str(out_json), "--markdown", str(out_md), "--bootstrap", "200"])
    assert code == ExitCode.OK
    printed = capsys.readouterr().out
    assert "accent=Scottish" in printed and "language=de" in printed and "auto@1" in printed
    report = json.loads(out_json.read_text())
    assert report["status"] == "succeeded"
    assert report["data"]["utterances_scored"] == 20
    assert report["heldout_id"].startswith("sha256:")
    assert report["normalizer"]["id"] == "auto@1"
    assert report["environment"]["packages"]["jiwer"]
    normalized, raw = report["scores"]["normalized"], report["scores"]["raw"]
    assert normalized["normalizer"] == "auto@1" and raw["normalizer"] == "raw@1"
    overall = normalized["overall"]
    assert 0 < overall["wer"] < 1 and overall["wer_ci"]["low"] <= overall["wer"] <= overall["wer_ci"]["high"]
    assert {s["column"] for s in normalized["slices"]} >= {"accent", "language"}
    assert "| accent=Scottish |" in out_md.read_text()
    with RunStore(tmp_path / "ws") as store:
        (record,) = store.runs()
        assert record.id == report["run_id"] and record.status == "succeeded"
        assert len(store.hypotheses(record.id)) == 20


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--max-wer", "100"], ExitCode.OK),
        (["--max-wer", "5"], ExitCode.THRESHOLD_MISSED),
        (["--max-slice-wer", "20"], ExitCode.THRESHOLD_MISSED),
        (["--max-slice-wer", "20", "--min-slice-utterances", "50"], ExitCode.OK),
    ],
)
def test_threshold_exit_codes(tmp_path, flags, expected, capsys):
    assert main(["score", "--workspace", str(tmp_path), "--bootstrap", "0", *flags]) == expected
    if expected == ExitCode.THRESHOLD_MISSED:
        assert "TARGET MISSED" in capsys.readouterr().out


def _copy_example(tmp_path) -> Path:
    folder = tmp_path / "ex"
    shutil.copytree(Path(EXAMPLE).parent, folder)
    return folder


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: (f / "manifest.csv").write_text("audios,accent\naudio/en-us-01.flac,x\n"), "missing required text column"),
        (lambda f: (f / "manifest.csv").write_bytes("audios,transcription\naudio/en-us-01.flac,caf\xe9\n".encode("latin-1")), "not valid UTF-8"),
        (lambda f: (f / "manifest.csv").unlink(), "no such file"),
    ],
)
def test_bad_manifest_is_one_clear_line_and_exit_2(tmp_path, capsys, mutate, message):
    folder = _copy_example(tmp_path)
    mutate(folder)
    code = main(["score", "--data", str(folder / "manifest.csv"), "--hyp", str(folder / "hypotheses.jsonl"), "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err.strip()
    assert code == ExitCode.BAD_INPUT
    assert len(err.splitlines()) == 1 and message in err and "manifest.csv" in err


def test_bad_rows_are_excluded_counted_and_the_rest_scored(tmp_path, capsys):
    folder = _copy_example(tmp_path)
    manifest = folder / "manifest.csv"
    lines = manifest.read_text().splitlines()
    lines.append("audio/missing.flac,Some text.,en-US,en,x")
    lines.append("audio/en-us-01.flac,,en-US,en,x")
    manifest.write_text("\n".join(lines) + "\n")
    code = main(["score", "--data", str(manifest), "--hyp", str(folder / "hypotheses.jsonl"), "--workspace", str(tmp_path / "ws"), "--bootstrap", "0", "--json", str(tmp_path / "r.json")])
    assert code == ExitCode.OK
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["data"]["utterances_scored"] == 20 and report["data"]["excluded"] == 2
    problems = "\n".join(report["data"]["problems"])
    assert "manifest.csv:22: audios: file not found" in problems
    assert "manifest.csv:23" in problems


def test_strict_fails_on_first_problem(tmp_path, capsys):
    folder = _copy_example(tmp_path)
    manifest = folder / "manifest.csv"
    manifest.write_text(manifest.read_text() + "audio/missing.flac,Some text.,en-US,en,x\n")
    code = main(["data", "inspect", str(manifest), "--strict"])
    assert code == ExitCode.BAD_INPUT
    assert "missing.flac" in capsys.readouterr().err


def test_data_inspect_prints_slices_and_split(tmp_path, capsys):
    assert main(["data", "inspect", "--json", str(tmp_path / "i.json")]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "20 rows, 20 valid, 0 excluded" in out and "accent=Caribbean" in out and "Held-out split" in out
    data = json.loads((tmp_path / "i.json").read_text())
    assert data["split"]["heldout"] >= 6  # every accent/language slice is represented
    assert {row["value"] for row in data["summary"] if row["column"] == "language"} == {"de", "en", "es"}


def test_runs_list_show_and_rescore(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    assert main(["score", "--workspace", ws, "--bootstrap", "0"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["runs", "list", "--workspace", ws]) == ExitCode.OK
    assert "succeeded" in capsys.readouterr().out
    assert main(["runs", "show", "latest", "--workspace", ws, "--json", str(tmp_path / "s.json")]) == ExitCode.OK
    shown = json.loads((tmp_path / "s.json").read_text())
    assert main(["rescore", "latest", "--workspace", ws, "--normalizer", "raw", "--bootstrap", "0"]) == ExitCode.OK
    assert "raw@1" in capsys.readouterr().out
    with RunStore(ws) as store:
        assert set(store.scores(shown["run_id"])) == {"auto@1", "raw@1"}
    assert main(["runs", "show", "zzz", "--workspace", ws]) == ExitCode.BAD_INPUT


def test_unknown_slice_column_is_bad_input(tmp_path, capsys):
    assert main(["score", "--workspace", str(tmp_path), "--slices", "dialect"]) == ExitCode.BAD_INPUT
    assert "dialect" in capsys.readouterr().err


def test_console_script_and_headless_core_never_imports_textual():
    code = (
        "import sys, workbench.cli, workbench.service, workbench.manifest, workbench.scoring, workbench.runstore;"
        "assert 'textual' not in sys.modules, 'the core imported textual'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "normalizers"], capture_output=True, text=True, check=True)
    assert "multilingual@1" in done.stdout


def test_unwritable_outputs_and_workspaces_are_one_line_errors_before_any_work(tmp_path, capsys):
    # Root (CI) ignores permission bits, so the unwritable places are a path under a FILE
    # and a workspace that is a file: both fail the same way a read-only folder does.
    ws = tmp_path / "ws"
    with RunStore(ws) as store:
        run = store.begin_run("score", {}, {})
        store.finish_run(run, {}, {}, {})
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code = main(["score", "--workspace", str(tmp_path / "fresh"), "--json", str(blocker / "r.json")])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT and str(blocker / "r.json") in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "fresh").exists()  # refused before anything was stored
    code = main(["score", "--workspace", str(blocker)])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT and "cannot open the run store" in err and len(err.strip().splitlines()) == 1
    # Read-only commands open the store read-only: nothing is created or migrated.
    def files():  # SQLite's own WAL side files may appear; nothing else may
        return sorted(p.name for p in ws.iterdir() if not p.name.endswith(("-wal", "-shm")))

    before = files()
    assert main(["runs", "list", "--workspace", str(ws)]) == ExitCode.OK and run in capsys.readouterr().out
    assert main(["runs", "list", "--workspace", str(tmp_path / "nothing")]) == ExitCode.OK
    assert not (tmp_path / "nothing").exists()
    assert files() == before


def test_a_read_only_store_refuses_writes(tmp_path):
    from workbench.errors import WorkspaceError

    with RunStore(tmp_path) as store:
        store.begin_run("score", {}, {})
    with RunStore(tmp_path, read_only=True) as store:
        assert len(store.runs()) == 1
        with pytest.raises(WorkspaceError, match="read-only"):
            store.begin_run("score", {}, {})
