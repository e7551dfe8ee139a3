"""The escalation config: TOML round trip, path resolution, and one-line errors."""

import tomllib
from pathlib import Path

import pytest

from workbench.errors import BadInputError
from workbench.escalation_config import (
    LADDER,
    AugmentOptions,
    EscalationConfig,
    LoraOptions,
    Targets,
    TrainingOptions,
    default_config_text,
    dump_config,
    load_config,
)

CUSTOM = EscalationConfig(
    targets=Targets(max_wer=15.0, max_slice_wer=25.0, max_regression=2.0, min_slice_utterances=20,
                    max_language_id_drop=2.5, max_no_speech_insertions=3, max_prompt_echo=1),
    ladder=("baseline", "lexicon+prompt", "lora"),
    model="tiny.en",
    lexicon="/data/terms \"quoted\" \\ lexicon.csv",
    data="hf:mozilla/common_voice",
    training=TrainingOptions(
        epochs=2.5,
        max_steps=400,
        batch_size=16,
        grad_accum=1,
        learning_rate=3e-4,
        warmup_ratio=0.0,
        weight_decay=0.0,
        scheduler="linear",
        precision="bf16",
        gradient_checkpointing=False,
        validation_fraction=0.0,
        early_stopping_patience=0,
        freeze_encoder=True,
        generation_max_length=448,
        eval_steps=50,
        seed=7,
        augment=AugmentOptions(noise_prob=0.0, noise_snr_db=(5.0, 5.0), gain_prob=1.0, gain_db=(-3.0, 0.0)),
        lora=LoraOptions(r=8, alpha=16, dropout=0.0, target_modules=("q_proj", "k_proj", "v_proj", "out_proj")),
    ),
    retention="/data/retention.jsonl",
)


def write(tmp_path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("config", [EscalationConfig(), CUSTOM], ids=["default", "custom"])
def test_dump_and_load_round_trip(tmp_path, config):
    assert load_config(write(tmp_path, dump_config(config))) == config


def test_default_text_is_commented_and_reads_back_to_the_defaults(tmp_path):
    text = default_config_text()
    assert text.startswith("#")
    assert "[targets]" in text and "[training.augment]" in text and "[training.lora]" in text
    assert "# max_wer = 15.0" in text  # unset targets are shown, commented out
    assert load_config(write(tmp_path, text)) == EscalationConfig()


def test_an_empty_file_is_the_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == EscalationConfig()


def test_the_documented_layout_reads(tmp_path):
    text = """
model = "base"
ladder = ["baseline", "lexicon", "prompt", "lexicon+prompt", "lora", "full"]
[targets]
max_wer = 15
max_slice_wer = 25.0
[training]
epochs = 5
[training.augment]
noise_snr_db = [10, 30]
[training.lora]
target_modules = ["q_proj", "v_proj"]
"""
    config = load_config(write(tmp_path, text))
    assert config.targets == Targets(max_wer=15.0, max_slice_wer=25.0)
    assert isinstance(config.targets.max_wer, float) and isinstance(config.training.epochs, float)
    assert config.training == TrainingOptions()


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = write(folder, 'lexicon = "terms/lexicon.csv"\ndata = "../data/train.csv"\nretention = "/abs/ret.csv"\n')
    monkeypatch.chdir(tmp_path)  # a relative config path still resolves against its folder
    config = load_config(Path("configs") / "run.toml")
    assert config.lexicon == str(folder / "terms" / "lexicon.csv")
    assert config.data == str(folder / ".." / "data" / "train.csv")
    assert config.retention == "/abs/ret.csv"
    assert Path(config.lexicon).is_absolute() and path.exists()


def test_hub_datasets_are_not_paths(tmp_path):
    config = load_config(write(tmp_path, 'data = "hf:mozilla/cv"\nretention = "hf:librispeech"\n'))
    assert (config.data, config.retention) == ("hf:mozilla/cv", "hf:librispeech")


@pytest.mark.parametrize(
    "text, message",
    [
        # unknown keys and tables, with suggestions
        ("modle = 'base'\n", "unknown key 'modle' (did you mean 'model'?)"),
        ("[training]\nbach_size = 8\n", "[training] unknown key 'bach_size' (did you mean 'batch_size'?)"),
        ("[trainig]\nepochs = 1\n", "unknown table [trainig] (did you mean [training]?)"),
        ("[training.lroa]\nr = 8\n", "[training] unknown table [training.lroa] (did you mean [training.lora]?)"),
        ("batch_size = 8\n", "unknown key 'batch_size' (it belongs in [training])"),
        ("[targets]\nfoo = 1\n", "[targets] unknown key 'foo'"),
        # wrong types
        ("[training]\nbatch_size = 'x'\n", "[training] batch_size: must be a positive integer, got 'x'"),
        ("[training]\nbatch_size = 8.0\n", "[training] batch_size: must be a positive integer, got 8.0"),
        ("[training]\ngradient_checkpointing = 1\n", "[training] gradient_checkpointing: must be true or false, got 1"),
        ("[targets]\nmax_wer = '15%'\n", "[targets] max_wer: must be a number from 0 to 1000, got '15%'"),
        ("[training.augment]\nnoise_snr_db = 10\n", "[training.augment] noise_snr_db: must be a [low, high] pair of numbers, got 10"),
        ("[training.lora]\ntarget_modules = 'q_proj'\n", "[training.lora] target_modules: must be a non-empty list of module names, got 'q_proj'"),
        ("training = 5\n", "training: must be a table ([training]), got 5"),
        ("model = { name = 'x' }\n", "model: must be a single value, not a table"),
        ("lexicon = 3\n", "lexicon: must be a non-empty string, got 3"),
        # out of range
        ("[training]\nbatch_size = 0\n", "[training] batch_size: must be a positive integer, got 0"),
        ("[training]\nepochs = 0\n", "[training] epochs: must be a positive number, got 0"),
        ("[training]\nmax_steps = 0\n", "[training] max_steps: must be -1 (train for epochs) or a positive integer, got 0"),
        ("[training]\nlearning_rate = 3\n", "[training] learning_rate: must be a finite number above 0 and at most 1, got 3"),
        ("[training]\nwarmup_ratio = 1.0\n", "[training] warmup_ratio: must be a finite number at least 0 and below 1, got 1.0"),
        ("[training]\nvalidation_fraction = 0.8\n", "[training] validation_fraction: must be a number from 0 to 0.5, got 0.8"),
        ("[training]\ngeneration_max_length = 500\n", "[training] generation_max_length: must be an integer from 1 to 448, got 500"),
        ("[training]\nprecision = 'fp8'\n", "[training] precision: must be one of auto, fp32, fp16, bf16, got 'fp8'"),
        ("[training]\nscheduler = 'cosin'\n", "[training] scheduler: must be one of linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, inverse_sqrt, got 'cosin' (did you mean 'cosine'?)"),
        ("[training]\nseed = -1\n", "[training] seed: must be a non-negative integer, got -1"),
        ("[targets]\nmax_wer = -5\n", "[targets] max_wer: must be a number from 0 to 1000, got -5"),
        ("[targets]\nmax_regression = inf\n", "[targets] max_regression: must be a number from 0 to 1000, got inf"),
        ("[targets]\nmax_language_id_drop = -1\n", "[targets] max_language_id_drop: must be a number from 0 to 100, got -1"),
        ("[targets]\nmax_language_id_drop = 'x'\n", "[targets] max_language_id_drop: must be a number from 0 to 100, got 'x'"),
        ("[targets]\nmax_no_speech_insertions = 1.5\n", "[targets] max_no_speech_insertions: must be a non-negative integer, got 1.5"),
        ("[targets]\nmax_prompt_echo = -2\n", "[targets] max_prompt_echo: must be a non-negative integer, got -2"),
        ("[targets]\nmax_prompt_echos = 1\n", "[targets] unknown key 'max_prompt_echos' (did you mean 'max_prompt_echo'?)"),
        ("[training.augment]\nnoise_prob = 1.5\n", "[training.augment] noise_prob: must be a number from 0 to 1, got 1.5"),
        ("[training.augment]\ngain_db = [6, -6]\n", "[training.augment] gain_db: low must not exceed high, got [6, -6]"),
        ("[training.lora]\ndropout = 1\n", "[training.lora] dropout: must be a finite number at least 0 and below 1, got 1"),
        ("[training.lora]\ntarget_modules = ['q_proj', 'q_proj']\n", "[training.lora] target_modules: lists a module twice, got ['q_proj', 'q_proj']"),
        # the ladder
        ("ladder = ['baseline', 'lora', 'lexicon']\n", "ladder: rungs must go cheapest first, in the order ['baseline', 'lexicon', 'lora'], got ['baseline', 'lora', 'lexicon']"),
        ("ladder = ['lexicon', 'lora']\n", "ladder: must start with 'baseline', got ['lexicon', 'lora']"),
        ("ladder = ['baseline', 'lexcon']\n", "ladder: unknown rung 'lexcon' (did you mean 'lexicon'?)"),
        ("ladder = ['baseline', 'lora', 'lora']\n", "ladder: lists a rung twice"),
        ("ladder = []\n", "ladder: must be a non-empty list of rung names, got []"),
        # invalid TOML, with its line
        ("model = 'base'\nladder = [\n", "line 3: Invalid value (at the end of the file)"),
        ("model = 'base'\n[training]\nepochs = = 5\n", "line 3: Invalid value (column 10)"),
        ("[training]\nepochs = 1\nepochs = 2\n", "line 3: Cannot overwrite a value (column 11)"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(BadInputError) as info:
        load_config(path)
    error = str(info.value)
    assert "\n" not in error
    assert error.startswith(f"{path}: ")
    assert message in error


def test_the_forgetting_guard_has_its_own_allowances_with_documented_defaults(tmp_path):
    """The language-ID allowance no longer borrows max_regression: each guard measure has its own."""
    defaults = Targets()
    assert (defaults.max_language_id_drop, defaults.max_no_speech_insertions, defaults.max_prompt_echo) == (0.0, 0, 0)
    config = load_config(write(tmp_path, "[targets]\nmax_regression = 5\nmax_language_id_drop = 1\n"
                                         "max_no_speech_insertions = 4\nmax_prompt_echo = 2\n"))
    assert config.targets.max_regression == 5.0 and config.targets.max_language_id_drop == 1.0
    assert isinstance(config.targets.max_language_id_drop, float)
    assert (config.targets.max_no_speech_insertions, config.targets.max_prompt_echo) == (4, 2)
    text = default_config_text()  # documented in the file a user edits, with the default
    for key, default in (("max_language_id_drop", "0.0"), ("max_no_speech_insertions", "0"), ("max_prompt_echo", "0")):
        assert f"\n{key} = {default}\n" in text
        comment = text.split(f"\n{key} = ")[0].rsplit("\n", 1)[1]
        assert comment.startswith("# Forgetting guard:") and f"(default {default})" in comment


def test_a_missing_file_is_one_line(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(BadInputError, match=r"nope\.toml: no such file$"):
        load_config(path)


def test_a_folder_or_non_utf8_file_is_refused(tmp_path):
    with pytest.raises(BadInputError, match="is a folder"):
        load_config(tmp_path)
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'model = "base"\n# caf\xe9\n')
    with pytest.raises(BadInputError, match=r"latin1\.toml: line 2: not UTF-8"):
        load_config(path)


def test_lr_for_defaults_by_method_and_honours_an_override():
    assert TrainingOptions().lr_for("lora") == 1e-3
    assert TrainingOptions().lr_for("full") == 1e-5
    assert TrainingOptions(learning_rate=2e-4).lr_for("lora") == 2e-4
    assert TrainingOptions(learning_rate=2e-4).lr_for("full") == 2e-4
    with pytest.raises(ValueError, match="method"):
        TrainingOptions().lr_for("prompt")


def test_options_built_in_python_are_validated_and_canonical():
    assert EscalationConfig(ladder=["baseline", "full"]).ladder == ("baseline", "full")
    assert AugmentOptions(noise_snr_db=[10, 30]).noise_snr_db == (10.0, 30.0)
    assert Targets(max_wer=15).max_wer == 15.0
    with pytest.raises(ValueError, match="batch_size"):
        TrainingOptions(batch_size=True)
    with pytest.raises(ValueError, match="must start with 'baseline'"):
        EscalationConfig(ladder=("lora",))
    # review and LM rescoring are opt-in, and so are the decode-time strategies alone (the
    # correction layer after them costs nothing more)
    assert EscalationConfig().ladder == tuple(r for r in LADDER if r not in ("review", "lmrescore", "nbest", "prompt", "bias"))


def test_dumped_strings_are_valid_toml_even_with_control_characters():
    config = EscalationConfig(model="odd\tname\x7f\"\\")
    assert tomllib.loads(dump_config(config))["model"] == "odd\tname\x7f\"\\"


def test_every_problem_of_a_config_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[targets]\nmax_werr = 5\n[training]\nmax_steps = -3\nbatch_sise = 2\n[nonsense]\nx = 1\n")
    with pytest.raises(BadInputError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and "problems:" in message
    # Before, only the first one was named; now all four are.
    assert "max_werr" in message and "batch_sise" in message and "nonsense" in message and "max_steps" in message


def test_strategy_options_come_from_a_strategies_table_and_round_trip(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[strategies.prompt]\nmax_tokens = 100\n")
    config = load_config(path)
    assert dict(config.strategies) == {"prompt.max_tokens": 100}
    again = tmp_path / "again.toml"
    again.write_text(dump_config(config))
    assert load_config(again) == config
    bad = tmp_path / "bad.toml"
    bad.write_text("[strategies.prompt]\nmax_tokenz = 1\n")
    with pytest.raises(BadInputError, match="max_tokenz"):
        load_config(bad)
