"""The escalation run's config: targets, the ladder of rungs to try, and training options.

One TOML file says what "good enough" means (`[targets]`), which rungs may be tried,
cheapest first (`ladder`), and how the training rungs train (`[training]`). It is the
file a user edits on a laptop and carries to a GPU machine, so `dump_config` writes it
with a comment on every key, and `load_config` refuses anything it would otherwise
silently ignore (a misspelt key is an error with a did-you-mean, not a default).

Every option is a frozen dataclass that validates itself, so a config built in Python
is checked exactly like one read from a file.
"""

import difflib
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path

import strategies

from .errors import BadInputError

__all__ = [
    "LADDER",
    "PRECISIONS",
    "SHIPPED_FORMS",
    "SCHEDULERS",
    "Targets",
    "AugmentOptions",
    "LoraOptions",
    "TrainingOptions",
    "EscalationConfig",
    "load_config",
    "dump_config",
    "default_config_text",
]

def _decode_alone(rung: str) -> bool:
    """A rung of decode-time strategies only, with no correction layer after them."""
    if rung in ("review", "lora", "full", "baseline"):
        return False
    return all(i.stage == "decode" for i in strategies.parse(rung))


# Cheapest first: the cheap rungs as the strategy registry orders them, human review of the
# least confident transcripts, then training. Review costs people's time, so the default
# ladder leaves it out: add "review" to `ladder` to try it before training. LM rescoring
# ("lmrescore", after the lexicon) needs a language model package (the `llm` extra), so
# the default ladder leaves it out too: add it to `ladder` to try it.
LADDER = (*strategies.ladder(), "review", "lora", "full")
# The default leaves out the decode-time strategies alone (nbest, prompt, bias): each is
# tried with the correction layer after it, which costs nothing more (it rewrites the
# stored transcripts) and is never worse on the demo corpus.
DEFAULT_LADDER = tuple(r for r in LADDER if r not in ("review", "lmrescore") and not _decode_alone(r))
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
# transformers' lr_scheduler_type values that need no extra arguments.
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt")
# The CTranslate2 forms a trained model ships in (besides the merged transformers folder):
# each is exported, decoded and compared with the model as trained (`workbench.deployment`).
SHIPPED_FORMS = ("ct2-float16", "ct2-int8")
WHISPER_MAX_TARGET_TOKENS = 448  # the decoder's positional table: longer labels cannot be generated
_PATH_FIELDS = ("lexicon", "data", "retention")  # resolved against the config file's folder


# --------------------------------------------------------------------------- checks
# Each returns the value in its canonical form (ints widened to float, lists to tuples)
# or raises ValueError("<field>: must be ..., got <repr>"); the loader prefixes the file
# and table, so every message names file, table and field.


def _number(name: str, value, low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False) -> float:
    in_range = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if in_range:
        in_range = (low is None or (value > low if low_open else value >= low)) and (
            high is None or (value < high if high_open else value <= high)
        )
    if not in_range:
        raise ValueError(f"{name}: must be {_range_words(low, high, low_open, high_open)}, got {value!r}")
    return float(value)


def _range_words(low, high, low_open: bool, high_open: bool) -> str:
    if low == 0 and low_open and high is None:
        return "a positive number"
    if low is not None and high is not None and not low_open and not high_open:
        return f"a number from {low:g} to {high:g}"
    parts = []
    if low is not None:
        parts.append(f"above {low:g}" if low_open else f"at least {low:g}")
    if high is not None:
        parts.append(f"below {high:g}" if high_open else f"at most {high:g}")
    return "a finite number" + (" " + " and ".join(parts) if parts else "")


def _integer(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum and (maximum is None or value <= maximum)
    if not ok:
        if maximum is not None:
            words = f"an integer from {minimum} to {maximum}"
        else:
            words = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer of at least {minimum}")
        raise ValueError(f"{name}: must be {words}, got {value!r}")
    return value


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: must be true or false, got {value!r}")
    return value


def _text(name: str, value, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}, got {value!r}{_did_you_mean(value, choices)}")
    return value


def _optional_text(name: str, value) -> str | None:
    return None if value is None else _text(name, value)


def _range_pair(name: str, value, low: float | None = None, high: float | None = None) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name}: must be a [low, high] pair of numbers, got {value!r}")
    pair = tuple(_number(name, v, low, high) for v in value)
    if pair[0] > pair[1]:
        raise ValueError(f"{name}: low must not exceed high, got {list(value)!r}")
    return pair  # type: ignore[return-value]


def _did_you_mean(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)  # frozen: store the canonical form once


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Targets:
    """What "good enough" means, in WER percentage points; None means not checked."""

    max_wer: float | None = None  # held-out WER overall, e.g. 15.0
    max_slice_wer: float | None = None  # any slice's WER
    max_regression: float | None = None  # largest significant rise any slice may suffer vs the baseline
    min_slice_utterances: int = 10  # smaller slices are too noisy to gate on max_slice_wer / regression / language ID
    # The forgetting guard's own allowances, judged against the baseline on the same clips:
    # a rung over any of them is rejected whatever its WER. The defaults allow nothing worse
    # than the baseline; a large value is the way to loosen one (TOML has no "unset").
    max_language_id_drop: float = 0.0  # points of language-ID accuracy any gated slice may lose
    max_no_speech_insertions: int = 0  # words written on no-speech clips beyond the baseline's
    max_prompt_echo: int = 0  # transcripts that copy the decoding prompt, beyond the baseline's
    max_longform_failures: int = 0  # long recordings: loop words, words in silences, dropped segments, each beyond the baseline's
    # Deployment parity: how many WER points a shipped form (the merged LoRA model, each
    # CTranslate2 quantization) may lose against the model as trained, on the same clips,
    # before the rung is refused. Like max_regression, a rise counts only when significant.
    max_parity_wer_rise: float = 0.0
    # Ceilings for named slices, "column=value" -> WER points (a TOML table,
    # [targets.slice_max_wer] "accent*domain=Caribbean/clinical" = 45.0): the accent the
    # cheap rungs leave behind is what sends the ladder on to training. Gated whatever the
    # slice's size; a crossed column (`*`, workbench.slicing) is sliced for them.
    slice_max_wer: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        _set(self, "slice_max_wer", _slice_targets(self.slice_max_wer))
        for name in ("max_wer", "max_slice_wer", "max_regression"):
            value = getattr(self, name)
            if value is not None:
                # WER can exceed 100% (insertions), so the ceiling is generous, not 100.
                _set(self, name, _number(name, value, 0, 1000))
        _integer("min_slice_utterances", self.min_slice_utterances, minimum=0)
        _set(self, "max_language_id_drop", _number("max_language_id_drop", self.max_language_id_drop, 0, 100))
        _integer("max_no_speech_insertions", self.max_no_speech_insertions, minimum=0)
        _integer("max_prompt_echo", self.max_prompt_echo, minimum=0)
        _integer("max_longform_failures", self.max_longform_failures, minimum=0)
        _set(self, "max_parity_wer_rise", _number("max_parity_wer_rise", self.max_parity_wer_rise, 0, 1000))


def _slice_targets(value) -> tuple[tuple[str, float], ...]:
    """{"column=value": pct} (or pairs) as sorted pairs, each key and limit checked."""
    items = value.items() if isinstance(value, dict) else value
    try:
        pairs = [(k, v) for k, v in items]
    except (TypeError, ValueError):
        raise ValueError(f"slice_max_wer: must be a table of \"column=value\" = WER points, got {value!r}") from None
    out = {}
    for key, limit in pairs:
        column, eq, wanted = str(key).partition("=")
        if not eq or not column.strip() or not wanted.strip():
            raise ValueError(f"slice_max_wer: key {key!r} must read \"column=value\" (e.g. \"accent=Scottish\")")
        out[f"{column.strip()}={wanted.strip()}"] = _number(f"slice_max_wer {key!r}", limit, 0, 1000)
    return tuple(sorted(out.items()))


def slice_target_columns(targets: "Targets") -> tuple[str, ...]:
    """The slice columns the per-slice targets name, in order, once each."""
    return tuple(dict.fromkeys(key.partition("=")[0] for key, _ in targets.slice_max_wer))


@dataclass(frozen=True)
class AugmentOptions:
    """Audio augmentation, applied to the TRAIN part only (never to what is scored)."""

    noise_prob: float = 0.3  # share of training clips that get background noise
    noise_snr_db: tuple[float, float] = (10.0, 30.0)  # signal-to-noise range, drawn uniformly
    gain_prob: float = 0.3  # share of training clips that get a level change
    gain_db: tuple[float, float] = (-6.0, 6.0)  # gain range, drawn uniformly

    def __post_init__(self) -> None:
        _set(self, "noise_prob", _number("noise_prob", self.noise_prob, 0, 1))
        _set(self, "noise_snr_db", _range_pair("noise_snr_db", self.noise_snr_db, -20, 100))
        _set(self, "gain_prob", _number("gain_prob", self.gain_prob, 0, 1))
        _set(self, "gain_db", _range_pair("gain_db", self.gain_db, -40, 40))


@dataclass(frozen=True)
class LoraOptions:
    r: int = 32  # rank of the low-rank update
    alpha: int = 64  # scale: the update is multiplied by alpha / r
    dropout: float = 0.05  # dropout on the LoRA branch
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")  # Whisper attention projections to adapt

    def __post_init__(self) -> None:
        _integer("r", self.r)
        _integer("alpha", self.alpha)
        _set(self, "dropout", _number("dropout", self.dropout, 0, 1, high_open=True))
        modules = self.target_modules
        if not isinstance(modules, (list, tuple)) or not modules or not all(isinstance(m, str) and m.strip() for m in modules):
            raise ValueError(f"target_modules: must be a non-empty list of module names, got {modules!r}")
        if len(set(modules)) != len(modules):
            raise ValueError(f"target_modules: lists a module twice, got {list(modules)!r}")
        _set(self, "target_modules", tuple(modules))


@dataclass(frozen=True)
class ReviewOptions:
    """The review rung: people check the least confident transcripts, most likely wrong first."""

    budget: str = "20%"  # a share of the utterances ("20%"), a count ("50") or minutes of audio ("30min")

    def __post_init__(self) -> None:
        from .review_budget import parse_budget

        try:
            parse_budget(self.budget)
        except Exception as exc:  # noqa: BLE001 - one message, whatever the parser raised
            raise ValueError(f"budget: {exc}") from None


@dataclass(frozen=True)
class TrainingOptions:
    """How the training rungs (lora, full) train; ignored by the cheaper rungs."""

    epochs: float = 5.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 8  # per device
    grad_accum: int = 2  # effective batch = batch_size * grad_accum
    learning_rate: float | None = None  # None: 1e-3 for LoRA, 1e-5 for full fine-tuning (see lr_for)
    warmup_ratio: float = 0.05  # share of steps spent warming the learning rate up
    weight_decay: float = 0.01
    scheduler: str = "cosine"  # one of SCHEDULERS
    precision: str = "auto"  # auto: bf16 where the GPU supports it, else fp16 on CUDA, fp32 on CPU
    gradient_checkpointing: bool = True  # less memory for ~30% more time
    validation_fraction: float = 0.1  # carved from the TRAIN part, never the held-out part; 0: none
    early_stopping_patience: int = 3  # evaluations without improvement before stopping; 0: off
    freeze_encoder: bool = False  # full fine-tuning only: train the decoder alone
    generation_max_length: int = 225  # tokens generated when validating
    eval_steps: int | None = None  # None: evaluate once per epoch
    seed: int = 0
    # Deployment parity: also decode the held-out part with the model as trained
    # (transformers) and with every shipped form (the merged LoRA model, each of
    # `shipped_forms`), and refuse the rung when a form loses more than
    # targets.max_parity_wer_rise against it (`workbench.deployment`).
    parity_check: bool = True
    shipped_forms: tuple[str, ...] = SHIPPED_FORMS  # CTranslate2 exports beside the model; a sub-list of SHIPPED_FORMS
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    lora: LoraOptions = field(default_factory=LoraOptions)

    def __post_init__(self) -> None:
        _set(self, "epochs", _number("epochs", self.epochs, 0, low_open=True))
        steps = self.max_steps
        if not isinstance(steps, int) or isinstance(steps, bool) or not (steps == -1 or steps > 0):
            raise ValueError(f"max_steps: must be -1 (train for epochs) or a positive integer, got {steps!r}")
        _integer("batch_size", self.batch_size)
        _integer("grad_accum", self.grad_accum)
        if self.learning_rate is not None:
            # Above 1 no optimizer converges: almost certainly a typo for an exponent.
            _set(self, "learning_rate", _number("learning_rate", self.learning_rate, 0, 1, low_open=True))
        _set(self, "warmup_ratio", _number("warmup_ratio", self.warmup_ratio, 0, 1, high_open=True))
        _set(self, "weight_decay", _number("weight_decay", self.weight_decay, 0))
        _text("scheduler", self.scheduler, SCHEDULERS)
        _text("precision", self.precision, PRECISIONS)
        _flag("gradient_checkpointing", self.gradient_checkpointing)
        # More than half the train part as validation would starve training: a mistake.
        _set(self, "validation_fraction", _number("validation_fraction", self.validation_fraction, 0, 0.5))
        _integer("early_stopping_patience", self.early_stopping_patience, minimum=0)
        _flag("freeze_encoder", self.freeze_encoder)
        _integer("generation_max_length", self.generation_max_length, maximum=WHISPER_MAX_TARGET_TOKENS)
        if self.eval_steps is not None:
            _integer("eval_steps", self.eval_steps)
        _integer("seed", self.seed, minimum=0)
        _flag("parity_check", self.parity_check)
        forms = self.shipped_forms
        if not isinstance(forms, (list, tuple)) or not all(isinstance(f, str) for f in forms):
            raise ValueError(f"shipped_forms: must be a list of form names ({', '.join(SHIPPED_FORMS)}), got {forms!r}")
        for form in forms:
            _text("shipped_forms", form, SHIPPED_FORMS)
        if len(set(forms)) != len(forms):
            raise ValueError(f"shipped_forms: lists a form twice, got {list(forms)!r}")
        _set(self, "shipped_forms", tuple(forms))
        if not isinstance(self.augment, AugmentOptions):
            raise ValueError(f"augment: must be AugmentOptions, got {self.augment!r}")
        if not isinstance(self.lora, LoraOptions):
            raise ValueError(f"lora: must be LoraOptions, got {self.lora!r}")

    def lr_for(self, method: str) -> float:
        """The learning rate for `method` ("lora" or "full"): the configured one, or its default.

        The defaults differ by 100x because LoRA trains a few fresh low-rank matrices
        while full fine-tuning nudges every pre-trained weight.
        """
        defaults = {"lora": 1e-3, "full": 1e-5}
        if method not in defaults:
            raise ValueError(f"method: must be lora or full, got {method!r}")
        return self.learning_rate if self.learning_rate is not None else defaults[method]


@dataclass(frozen=True)
class EscalationConfig:
    targets: Targets = field(default_factory=Targets)
    ladder: tuple[str, ...] = DEFAULT_LADDER  # a sub-sequence of LADDER, in its order, starting with "baseline"
    model: str = "base"  # a named model, a local model folder or file, or a hub id
    lexicon: str | None = None  # path; relative paths resolve against the config file's folder
    data: str | None = None  # manifest path (or hf:NAME); None: the embedded demo corpus
    training: TrainingOptions = field(default_factory=TrainingOptions)
    review: ReviewOptions = field(default_factory=ReviewOptions)
    retention: str | None = None  # optional separate retention manifest, resolved like data
    # Strategy options, as `--set` takes them: [strategies.lexicon] fuzzy_threshold = 85, or
    # "prompt.max_tokens" = 100 (checked against the registry's config dataclasses).
    strategies: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.strategies, dict):
            _set(self, "strategies", tuple(sorted(strategies.overrides_from_toml(self.strategies, "[strategies]").items())))
        if not isinstance(self.targets, Targets):
            raise ValueError(f"targets: must be Targets, got {self.targets!r}")
        if not isinstance(self.training, TrainingOptions):
            raise ValueError(f"training: must be TrainingOptions, got {self.training!r}")
        _set(self, "ladder", _check_ladder(self.ladder))
        _text("model", self.model)
        for name in _PATH_FIELDS:
            _optional_text(name, getattr(self, name))


def _check_ladder(ladder) -> tuple[str, ...]:
    if not isinstance(ladder, (list, tuple)) or not ladder or not all(isinstance(r, str) for r in ladder):
        raise ValueError(f"ladder: must be a non-empty list of rung names, got {ladder!r}")
    for rung in ladder:
        if rung not in LADDER:
            raise ValueError(f"ladder: unknown rung {rung!r}{_did_you_mean(rung, LADDER)}; rungs are {', '.join(LADDER)}")
    if len(set(ladder)) != len(ladder):
        raise ValueError(f"ladder: lists a rung twice, got {list(ladder)!r}")
    if ladder[0] != "baseline":
        # Every later rung is judged against the baseline's scores, so it must come first.
        raise ValueError(f"ladder: must start with 'baseline', got {list(ladder)!r}")
    if list(ladder) != sorted(ladder, key=LADDER.index):
        expected = [r for r in LADDER if r in ladder]
        raise ValueError(f"ladder: rungs must go cheapest first, in the order {expected!r}, got {list(ladder)!r}")
    return tuple(ladder)


# --------------------------------------------------------------------------- loading


def load_config(path) -> EscalationConfig:
    """Read and validate a config file; any problem is one BadInputError naming file and field."""
    path = Path(path)
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"{path}: {_toml_error(str(exc), text)}") from None
    config = _build(EscalationConfig, data, (), path)
    # Relative paths mean "beside the config", so the file works from any working folder.
    folder = path.absolute().parent
    resolved = {name: _resolve(getattr(config, name), folder, allow_hub=name != "lexicon") for name in _PATH_FIELDS}
    return replace(config, **resolved)


def _read(path: Path) -> str:
    if path.is_dir():
        raise BadInputError(f"{path}: is a folder, not a config file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInputError(f"{path}: line {line}: not UTF-8 text (TOML files must be UTF-8)") from None


def _toml_error(message: str, text: str) -> str:
    """tomllib's message with its position moved to the front: 'line 3: Invalid value (column 9)'."""
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, flags=re.S)
    if match:
        return f"line {match[2]}: {match[1]} (column {match[3]})"
    match = re.fullmatch(r"(.*) \(at end of document\)", message, flags=re.S)
    if match:
        return f"line {text.count(chr(10)) + 1}: {match[1]} (at the end of the file)"
    return message


def _build(cls, data: dict, table: tuple[str, ...], path: Path, errors: list[str] | None = None):
    """Construct dataclass `cls` from a TOML table, refusing unknown keys by name. Every
    problem of every table is collected and reported together (one line), so a user fixes a
    config in one pass instead of one error per run."""
    top = errors is None
    errors = [] if top else errors
    hints = typing.get_type_hints(cls)
    where = f"[{'.'.join(table)}] " if table else ""
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            errors.append(f"{where}{_unknown(key, value, cls, table)}")
            continue
        sub = hints[key]
        if is_dataclass(sub):
            if not isinstance(value, dict):
                name = ".".join(table + (key,))
                errors.append(f"{where}{key}: must be a table ([{name}]), got {value!r}")
                continue
            built = _build(sub, value, table + (key,), path, errors)
            if built is not None:
                kwargs[key] = built
        elif isinstance(value, dict) and not (cls is EscalationConfig and key == "strategies") and not (cls is Targets and key == "slice_max_wer"):
            errors.append(f"{where}{key}: must be a single value, not a table")
        else:
            kwargs[key] = value
    result = None
    try:
        result = cls(**kwargs)
    except (ValueError, TypeError) as exc:
        errors.append(f"{where}{exc}")
    if top and errors:
        count = f"{len(errors)} problems: " if len(errors) > 1 else ""
        raise BadInputError(f"{path}: {count}" + "; ".join(errors))
    return result


def _unknown(key: str, value, cls, table: tuple[str, ...]) -> str:
    what = f"table [{'.'.join(table + (key,))}]" if isinstance(value, dict) else f"key {key!r}"
    close = difflib.get_close_matches(key, [f.name for f in fields(cls)], n=1, cutoff=0.6)
    if close:
        hint = f"[{'.'.join(table + (close[0],))}]" if is_dataclass(typing.get_type_hints(cls)[close[0]]) else repr(close[0])
        return f"unknown {what} (did you mean {hint}?)"
    # A right key in the wrong table (say batch_size above [training]) is the other common slip.
    homes = [name for name, owner in _tables(EscalationConfig, ()) if owner is not cls and key in {f.name for f in fields(owner)}]
    if homes:
        return f"unknown {what} (it belongs in [{homes[0]}])"
    return f"unknown {what}"


def _tables(cls, table: tuple[str, ...]):
    """(dotted name, dataclass) for every table under `cls`, depth first."""
    for name, hint in typing.get_type_hints(cls).items():
        if is_dataclass(hint):
            dotted = table + (name,)
            yield ".".join(dotted), hint
            yield from _tables(hint, dotted)


def _resolve(value: str | None, folder: Path, allow_hub: bool) -> str | None:
    if value is None or (allow_hub and value.startswith("hf:")):
        return value
    candidate = Path(value).expanduser()
    return str(candidate if candidate.is_absolute() else folder / candidate)


# --------------------------------------------------------------------------- writing

_TABLE_COMMENTS = {
    "targets": (
        "What counts as good enough, in WER percentage points on the held-out part.",
        "A target left out (or commented out) is not checked. The ladder stops at the",
        "first rung that meets every target.",
        "The forgetting guard's allowances (max_language_id_drop, max_no_speech_insertions,",
        "max_prompt_echo, max_longform_failures) are always checked; left out, they allow nothing",
        "worse than the baseline. So is deployment parity (max_parity_wer_rise): each shipped form of",
        "a trained model against the model as trained.",
    ),
    "training": (
        "Used only by the training rungs (lora, full); they need a GPU.",
    ),
    "review": (
        "The review rung (add \"review\" to ladder): its figures are SIMULATED, as if a person",
        "corrected the least confident transcripts within the budget.",
    ),
    "training.augment": (
        "Audio augmentation, applied to the training part only, never to what is scored.",
    ),
    "training.lora": (
        "LoRA adapter shape (the lora rung).",
    ),
}

_KEY_COMMENTS = {
    "model": "Whisper model: a named model (tiny.en, base), a local model folder or file, or a hub id",
    "ladder": "Rungs to try, cheapest first; a sub-sequence of " + ", ".join(LADDER) + ", starting with baseline",
    "lexicon": "Domain terms (CSV); a relative path is relative to this file's folder",
    "data": "Labelled manifest (CSV, TSV, JSONL, folder, or hf:NAME); left out: the built-in demo corpus",
    "retention": "Optional manifest of general speech, to check training did not forget it",
    "targets.max_wer": "Overall WER must be at most this",
    "targets.max_slice_wer": "Every slice's WER (accent=..., language=...) must be at most this",
    "targets.max_regression": "No slice may get significantly worse than the baseline by more than this",
    "targets.slice_max_wer": "Ceilings for named slices, whatever their size; a crossed column (accent*domain) is sliced for them",
    "targets.min_slice_utterances": "Slices smaller than this are too noisy to gate on (overall always is)",
    "targets.max_language_id_drop": "Forgetting guard: points of language-ID accuracy any slice may lose vs the baseline (default 0.0)",
    "targets.max_no_speech_insertions": "Forgetting guard: words on no-speech clips allowed beyond the baseline's (default 0)",
    "targets.max_prompt_echo": "Forgetting guard: transcripts that copy the prompt, allowed beyond the baseline's (default 0)",
    "targets.max_longform_failures": "Forgetting guard, long recordings: loop words, words in silences and dropped segments, each allowed beyond the baseline's (default 0)",
    "targets.max_parity_wer_rise": "Deployment parity: WER points a shipped form (merged, CTranslate2 float16/int8) may lose, significantly, against the model as trained (default 0.0)",
    "training.epochs": "Passes over the training part",
    "training.max_steps": "Optimizer steps; -1 trains for `epochs`, a positive number overrides it",
    "training.batch_size": "Clips per step on the device",
    "training.grad_accum": "Steps accumulated per update: effective batch = batch_size * grad_accum",
    "training.learning_rate": "Left out: 1e-3 for LoRA, 1e-5 for full fine-tuning",
    "training.warmup_ratio": "Share of steps spent warming the learning rate up",
    "training.weight_decay": "AdamW weight decay",
    "training.scheduler": "Learning-rate schedule: " + ", ".join(SCHEDULERS),
    "training.precision": "auto (bf16 where supported, else fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16",
    "training.gradient_checkpointing": "Trade ~30% more time for much less GPU memory",
    "training.validation_fraction": "Share of the TRAINING part kept for validation (0 to 0.5; 0: none)",
    "training.early_stopping_patience": "Validations without improvement before stopping (0: never stop early)",
    "training.freeze_encoder": "Full fine-tuning only: train the decoder, keep the encoder as is",
    "training.generation_max_length": "Tokens generated per clip when validating (at most 448)",
    "training.eval_steps": "Validate every this many steps; left out: once per epoch",
    "training.seed": "Same seed, same data: the same run",
    "training.parity_check": "Deployment parity: decode the model as trained and each shipped form, refuse the rung past max_parity_wer_rise",
    "training.shipped_forms": "CTranslate2 forms exported beside the model (and checked for parity): " + ", ".join(SHIPPED_FORMS),
    "training.augment.noise_prob": "Share of training clips mixed with noise (0 to 1)",
    "training.augment.noise_snr_db": "[low, high] signal-to-noise ratio in dB",
    "training.augment.gain_prob": "Share of training clips made louder or quieter (0 to 1)",
    "training.augment.gain_db": "[low, high] gain in dB",
    "training.lora.r": "Rank of the low-rank update",
    "training.lora.alpha": "Scale: the update is multiplied by alpha / r",
    "training.lora.dropout": "Dropout on the LoRA branch (0 to below 1)",
    "training.lora.target_modules": "Layers to adapt (Whisper attention: q_proj, k_proj, v_proj, out_proj)",
}

# Shown, commented out, for an option that is not set, so the user sees the syntax.
_EXAMPLES = {
    "lexicon": "lexicon.csv",
    "data": "manifest.csv",
    "retention": "retention.csv",
    "targets.max_wer": 15.0,
    "targets.max_slice_wer": 25.0,
    "targets.max_regression": 2.0,
    "training.learning_rate": 1e-4,
    "training.eval_steps": 200,
}


# Top-level keys a user edits most, first; everything else keeps dataclass order.
_FIRST = ("model", "ladder", "data", "lexicon")


def dump_config(config: EscalationConfig) -> str:
    """The config as TOML that `load_config` reads back to an equal config, a comment per key."""
    lines: list[str] = []
    _dump_table(config, (), lines)
    return "\n".join(lines).rstrip("\n") + "\n"


def default_config_text() -> str:
    """A commented starting point: the defaults, ready to edit."""
    header = (
        "# whisper-workbench escalation config.\n"
        "# Each rung of the ladder is scored on the same held-out part; the run stops at the\n"
        "# first rung that meets every [targets] entry. Delete a key to get its default back.\n\n"
    )
    return header + dump_config(EscalationConfig())


def _dump_table(obj, table: tuple[str, ...], lines: list[str]) -> None:
    hints = typing.get_type_hints(type(obj))
    subtables = []
    for f in sorted(fields(obj), key=lambda f: _FIRST.index(f.name) if f.name in _FIRST else len(_FIRST)):
        dotted = ".".join(table + (f.name,))
        if is_dataclass(hints[f.name]):
            subtables.append(f.name)
            continue
        if not table and f.name == "strategies":
            continue  # written as its own [strategies] table, last
        value = getattr(obj, f.name)
        if dotted in _KEY_COMMENTS:
            lines.append(f"# {_KEY_COMMENTS[dotted]}")
        if dotted == "targets.slice_max_wer":
            # an inline table: "column=value" keys need quoting, and it stays one line
            inline = "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value) + "}"
            lines.append(f"{f.name} = {inline}" if value else f'# {f.name} = {{"accent*domain=Caribbean/clinical" = 45.0}}')
            continue
        if value is None:
            # TOML has no null: an unset option is simply absent, shown commented out.
            lines.append(f"# {f.name} = {_toml_value(_EXAMPLES.get(dotted, ''))}")
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    for name in subtables:
        dotted = table + (name,)
        lines.append("")
        lines.extend(f"# {line}" for line in _TABLE_COMMENTS.get(".".join(dotted), ()))
        lines.append(f"[{'.'.join(dotted)}]")
        _dump_table(getattr(obj, name), dotted, lines)
    if not table and isinstance(obj, EscalationConfig):
        lines += ["", "# Strategy options, as --set takes them: \"lexicon.fuzzy_threshold\" = 85", "[strategies]"]
        lines += [f"{_toml_string(key)} = {_toml_value(value)}" for key, value in obj.strategies]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest exact form; always has '.', 'e', so it reads back as a float
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":  # TOML basic strings forbid raw control characters
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
