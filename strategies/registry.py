"""The strategy registry: one name, one frozen config dataclass, one factory, one stage.

A strategy is one module of this package that registers itself:

    @dataclass(frozen=True)
    class MyConfig:
        strength: float = 0.5  # every field has a default and a plain type

    @register("mine", "post", MyConfig, cost=3, description="what it does")
    def make_mine(config: MyConfig, lexicon=None):
        return Mine(config, lexicon)

The package imports every public module it holds, so that file is all there is to add.
A strategy's options are the fields of its config dataclass; the types say how a text
value is read, so the same options come from the command line (`--set key=value`),
from TOML (`overrides_from_toml`) and from the TUI (`fields`), and a bad one is a
one-line error naming the strategy, the key and what is wrong.

Override keys are `strategy.field` (e.g. `lexicon.fuzzy_threshold`) or a bare `field`
when one strategy of the spec has it. One set of overrides serves every spec of a
comparison: an override for a strategy that is not in a spec does not apply to it, and
`check_overrides` says when an override applies to none of the specs run.
"""

import dataclasses
import types
from itertools import combinations
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable

from workbench.strategy_api import BadInputError

__all__ = [
    "STAGES",
    "ConfigField",
    "Pipeline",
    "Step",
    "StrategyInfo",
    "available",
    "build",
    "check_overrides",
    "choices",
    "config_of",
    "decode_spec",
    "fields",
    "get",
    "ladder",
    "make_config",
    "needs_lexicon",
    "overrides_from_toml",
    "parse",
    "register",
    "unregister",
]

STAGES = ("none", "decode", "post")  # none: baseline; decode: changes decoding; post: edits transcripts

Overrides = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


@dataclass(frozen=True)
class ConfigField:
    """One option of a strategy, as the CLI, TOML and the TUI see it."""

    strategy: str
    name: str
    type: Any  # the resolved annotation, e.g. float, str | None, tuple[float, ...]
    type_name: str  # how it reads: "float", "str | None", "list of float"
    default: Any
    help: str = ""  # the field's metadata["help"], when it has one
    choices: tuple = ()  # the allowed values of a Literal field (or of a bool)

    @property
    def key(self) -> str:
        return f"{self.strategy}.{self.name}"


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    stage: str  # one of STAGES
    config_type: type  # a frozen dataclass; every field has a default
    factory: Callable[..., Any]  # factory(config, lexicon) -> strategy object
    cost: float  # rung on the escalation ladder: cheaper first
    description: str
    # Bump when the strategy's output changes for the same config (it is part of a run's
    # identity, so old runs of the strategy are not reused).
    version: int = 1
    needs_lexicon: bool = False  # its factory refuses lexicon=None (the TUI and ladder skip it without one)
    # False: not a rung of the escalation ladder (e.g. long-form decoding, which changes
    # nothing for clips of up to 30 s); still run by name in a comparison.
    on_ladder: bool = True
    # What a decode-time strategy sets on each item (AudioItem fields). Two decode-time
    # strategies combine when they set different fields (n-best with biasing); two that
    # set the same one (two prompts) cannot.
    decode_fields: tuple[str, ...] = ("prompt", "hotwords")
    # False: a rung of its own only, never folded into the decode-time combination rungs
    # (e.g. LM rescoring, which loads a language model: 'lexicon+prompt' stays as it is).
    combines: bool = True

    def fields(self) -> tuple[ConfigField, ...]:
        return _fields(self)


_REGISTRY: dict[str, StrategyInfo] = {}


def register(name: str, stage: str, config_type: type, cost: float, description: str, version: int = 1,
             needs_lexicon: bool = False, on_ladder: bool = True, decode_fields: tuple[str, ...] = ("prompt", "hotwords"),
             combines: bool = True):
    """Decorator for a factory; a name can be registered once. The config type is checked
    here, at import, so a strategy with an option the CLI cannot set fails loudly."""
    if stage not in STAGES:
        raise ValueError(f"strategy {name!r}: stage must be one of {STAGES}, got {stage!r}")
    if not name or "+" in name or "." in name or "=" in name or name != name.strip():
        raise ValueError(f"strategy name {name!r}: must be non-empty, without spaces around it, '+', '.' or '='")
    info = StrategyInfo(name, stage, config_type, None, cost, description, version, needs_lexicon, on_ladder,  # type: ignore[arg-type]
                        tuple(decode_fields) if stage == "decode" else (), combines)
    _fields(info)  # raises on a config type that is not a frozen dataclass of plain types

    def decorate(factory):
        if name in _REGISTRY:
            raise ValueError(f"strategy {name!r} is already registered")
        _REGISTRY[name] = dataclasses.replace(info, factory=factory)
        return factory

    return decorate


def unregister(name: str) -> None:
    """Remove a registered strategy (tests register throwaway ones)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> StrategyInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r} (available: {', '.join(_REGISTRY)})") from None


def available() -> tuple[StrategyInfo, ...]:
    return tuple(sorted(_REGISTRY.values(), key=lambda s: (s.cost, s.name)))


def needs_lexicon(spec: str) -> bool:
    """Whether any strategy of `spec` needs a lexicon to be built."""
    return any(i.needs_lexicon for i in parse(spec))


def parse(spec: str) -> tuple[StrategyInfo, ...]:
    """'lexicon+prompt' -> (prompt, lexicon): decoding first, then post-processing.

    Decode-time strategies combine only when they set different item fields (two prompts
    cannot both be the prompt; n-best and biasing can), and 'baseline' only alone.
    """
    names = [n.strip() for n in spec.split("+") if n.strip()]
    if not names:
        raise ValueError(f"empty strategy spec {spec!r}")
    infos = [get(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError(f"strategy spec {spec!r} names a strategy twice")
    if any(i.stage == "none" for i in infos) and len(infos) > 1:
        raise ValueError(f"strategy spec {spec!r}: baseline cannot be combined")
    decoders = [i for i in infos if i.stage == "decode"]
    for a, b in combinations(decoders, 2):
        shared = sorted(set(a.decode_fields) & set(b.decode_fields))
        if shared:
            raise ValueError(f"strategy spec {spec!r}: {a.name} and {b.name} both set the decoder's {' and '.join(shared)}; "
                             "combine decode-time strategies that change different things")
    # Decode-time ones in one canonical order (a run's name), post-processing as written.
    return tuple(sorted(infos, key=lambda i: (STAGES.index(i.stage), i.name if i.stage == "decode" else "")))


def decode_spec(spec: str) -> str:
    """The decode-time part of `spec` ('lexicon+bias+nbest' -> 'nbest+bias'), or 'baseline':
    what one decoded run is made with, before post-processing."""
    return "+".join(i.name for i in parse(spec) if i.stage == "decode") or "baseline"


# --------------------------------------------------------------------------- ladder / TUI list


def ladder() -> tuple[str, ...]:
    """The cheap rungs of the escalation ladder, cheapest first: 'baseline', every other
    strategy alone by cost, then each decode-time strategy with all post-processing ones
    that combine (written in cost order, e.g. 'lexicon+prompt')."""
    infos = tuple(i for i in available() if i.on_ladder)
    alone = [i.name for i in infos if i.stage == "none"] + [i.name for i in infos if i.stage != "none"]
    posts = [i for i in infos if i.stage == "post" and i.combines]
    decoders = [i for i in infos if i.stage == "decode"]
    # each decode-time strategy, and each pair that combines (n-best with biasing), with
    # every post-processing one; cheaper sets first
    sets = [[d] for d in decoders] + [[a, b] for a, b in combinations(decoders, 2)
                                       if not set(a.decode_fields) & set(b.decode_fields)]
    sets.sort(key=lambda group: sum(i.cost for i in group))
    combined = ["+".join(i.name for i in sorted(posts + group, key=lambda s: (s.cost, s.name))) for group in sets if posts]
    return tuple(alone + combined)


def choices() -> tuple[tuple[str, str], ...]:
    """(spec, description) of every rung of `ladder()`, for a list to pick from."""
    out = []
    for spec in ladder():
        infos = parse(spec)
        if len(infos) == 1:
            out.append((spec, infos[0].description))
        else:
            steps = [f"{i.name} while decoding" if i.stage == "decode" else f"then {i.name} on the transcript" for i in infos]
            out.append((spec, "both: " + ", ".join(steps) if len(infos) == 2 else ", ".join(steps)))
    return tuple(out)


# --------------------------------------------------------------------------- options


def fields(name: str) -> tuple[ConfigField, ...]:
    """The options of one strategy: name, type, default (for the TUI and error messages)."""
    return _fields(get(name))


def _fields(info: StrategyInfo) -> tuple[ConfigField, ...]:
    config_type = info.config_type
    if not (dataclasses.is_dataclass(config_type) and isinstance(config_type, type)):
        raise TypeError(f"strategy {info.name!r}: config type {config_type!r} is not a dataclass")
    if not config_type.__dataclass_params__.frozen:
        raise TypeError(f"strategy {info.name!r}: config dataclass {config_type.__name__} must be frozen")
    hints = typing.get_type_hints(config_type)
    out = []
    for f in dataclasses.fields(config_type):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"strategy {info.name!r}: option {f.name!r} of {config_type.__name__} needs a default")
        tp = hints[f.name]
        label, allowed = _describe(tp, f"strategy {info.name!r} option {f.name!r}")
        out.append(ConfigField(info.name, f.name, tp, label, default, str(f.metadata.get("help", "")), allowed))
    return tuple(out)


_SCALARS = {bool: "bool", int: "int", float: "float", str: "str"}


def _optional_inner(tp):
    """X for `X | None` / Optional[X], else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _describe(tp, what: str) -> tuple[str, tuple]:
    """How a type reads in messages, and its choices; TypeError for a type we cannot set."""
    inner = _optional_inner(tp)
    if inner is not None:
        label, allowed = _describe(inner, what)
        return f"{label} | None", allowed
    if tp in _SCALARS:
        return _SCALARS[tp], ((False, True) if tp is bool else ())
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp)), tuple(typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis and args[0] in _SCALARS and args[0] is not bool:
            return f"list of {_SCALARS[args[0]]}", ()
    raise TypeError(f"{what}: type {tp!r} cannot be set from text; use bool, int, float, str, "
                    "a Literal, tuple[X, ...] of them, or one of them | None")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(value, tp):
    """`value` (text from the CLI/TUI, or a TOML value) as type `tp`; ValueError says why."""
    inner = _optional_inner(tp)
    if inner is not None:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            return None
        return _coerce(value, inner)
    if typing.get_origin(tp) is typing.Literal:
        allowed = typing.get_args(tp)
        for option in allowed:
            if value == option or (isinstance(value, str) and value.strip() == str(option)):
                return option
        raise ValueError(f"expected one of {', '.join(repr(a) for a in allowed)}")
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
        elif isinstance(value, (list, tuple)):
            parts = list(value)
        else:
            raise ValueError(f"expected a list of {_SCALARS[item]} (comma-separated)")
        return tuple(_coerce(p, item) for p in parts)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError("expected a whole number")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError("expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError("expected text")
    raise ValueError(f"cannot set a {tp!r}")  # pragma: no cover: register() refuses such types


def _pairs(overrides: Overrides) -> list[tuple[str, Any]]:
    if overrides is None:
        return []
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    return [(str(k).strip(), v) for k, v in items]


def _show(key: str, value) -> str:
    return f"{key}={value}" if isinstance(value, str) else f"{key}={value!r}"


def _targets(key: str, value, where: str) -> tuple[str | None, str]:
    """(strategy or None for a bare key, field) of one override key, checked against the
    registry: an unknown strategy or an option no strategy has is an error."""
    name, dot, field_name = key.rpartition(".")
    if not field_name:
        raise BadInputError(f"{where} {_show(key, value)}: the key is empty; write STRATEGY.OPTION=VALUE or OPTION=VALUE")
    if dot:
        if name not in _REGISTRY:
            raise BadInputError(f"{where} {_show(key, value)}: unknown strategy {name!r} (available: {', '.join(_REGISTRY)})")
        names = [f.name for f in fields(name)]
        if field_name not in names:
            options = ", ".join(f"{f.name} ({f.type_name}, default {f.default!r})" for f in fields(name)) or "none"
            raise BadInputError(f"{where} {_show(key, value)}: strategy {name!r} has no option {field_name!r} (its options: {options})")
        return name, field_name
    if not any(field_name in {f.name for f in fields(n)} for n in _REGISTRY):
        known = sorted({f.key for n in _REGISTRY for f in fields(n)})
        raise BadInputError(f"{where} {_show(key, value)}: no strategy has an option {field_name!r} (options: {', '.join(known) or 'none'})")
    return None, field_name


def _applying(infos: Iterable[StrategyInfo], key: str, value, where: str) -> StrategyInfo | None:
    """The strategy of `infos` an override sets, or None when it sets none of them."""
    name, field_name = _targets(key, value, where)
    if name is not None:
        return next((i for i in infos if i.name == name), None)
    having = [i for i in infos if field_name in {f.name for f in i.fields()}]
    if len(having) > 1:
        raise BadInputError(f"{where} {_show(key, value)}: ambiguous, {' and '.join(i.name for i in having)} both have "
                            f"{field_name!r}; write {having[0].name}.{field_name}={value}")
    return having[0] if having else None


def _config(info: StrategyInfo, values: list[tuple[str, str, Any]], where: str):
    """The config of `info` with (key, field, value) overrides applied, later ones winning."""
    types_ = {f.name: f for f in info.fields()}
    kwargs = {}
    for key, field_name, value in values:
        f = types_[field_name]
        try:
            kwargs[field_name] = _coerce(value, f.type)
        except ValueError as exc:
            raise BadInputError(f"{where} {_show(key, value)}: strategy {info.name!r} option {field_name!r} takes "
                                f"{f.type_name}: {exc}") from None
    try:
        return info.config_type(**kwargs)
    except (ValueError, TypeError) as exc:
        shown = ", ".join(_show(k, v) for k, _, v in values)
        raise BadInputError(f"{where} {shown}: strategy {info.name!r}: {exc}".replace("\n", " ")) from None


def _configs(infos: tuple[StrategyInfo, ...], overrides: Overrides, where: str) -> tuple:
    per: dict[str, list] = {i.name: [] for i in infos}
    for key, value in _pairs(overrides):
        target = _applying(infos, key, value, where)
        if target is not None:
            per[target.name].append((key, key.rpartition(".")[2], value))
    return tuple(_config(i, per[i.name], where) for i in infos)


def make_config(name: str, overrides: Overrides = None, where: str = "--set"):
    """The config of one strategy with the overrides that apply to it (see module docstring)."""
    info = get(name)
    return _configs((info,), overrides, where)[0]


def check_overrides(specs: Iterable[str], overrides: Overrides, where: str = "--set") -> None:
    """Raise when an override is malformed, has a bad value, or applies to none of `specs`."""
    parsed = [parse(s) for s in specs]
    for key, value in _pairs(overrides):
        hits = [i for infos in parsed if (i := _applying(infos, key, value, where)) is not None]
        if not hits:
            run = ", ".join(specs) or "none"
            name, field_name = _targets(key, value, where)
            having = [name] if name else [n for n in _REGISTRY if field_name in {f.name for f in fields(n)}]
            raise BadInputError(f"{where} {_show(key, value)}: applies to none of the strategies run ({run}); "
                                f"{' and '.join(having)} {'has' if len(having) == 1 else 'have'} it")
    for infos in parsed:
        _configs(infos, overrides, where)  # every value typed and validated


def overrides_from_toml(table: Mapping[str, Any], where: str = "TOML [strategies]") -> dict[str, Any]:
    """Overrides from a TOML table: `{"lexicon": {"fuzzy_threshold": 85}}` (a sub-table per
    strategy) or flat keys (`{"lexicon.fuzzy_threshold": 85}`), checked like `--set`."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            if key not in _REGISTRY:
                raise BadInputError(f"{where} [{key}]: unknown strategy {key!r} (available: {', '.join(_REGISTRY)})")
            for field_name, inner in value.items():
                full = f"{key}.{field_name}"
                _targets(full, inner, where)
                out[full] = inner
        else:
            _targets(str(key), value, where)
            out[str(key)] = value
    return out


# --------------------------------------------------------------------------- building


@dataclass(frozen=True)
class Step:
    info: StrategyInfo
    config: Any  # the info's config dataclass, overrides applied
    strategy: Any  # what the factory made


@dataclass(frozen=True)
class Pipeline:
    """A parsed spec, built: its steps in the order they run (decode, then post)."""

    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        """The canonical spec: the strategies in the order they run."""
        return "+".join(s.info.name for s in self.steps)

    @property
    def decode(self):
        """The decode-time strategy (it has `decode_overrides`), or None. Several combine
        into one (`Decoders`)."""
        decoders = tuple(s.strategy for s in self.steps if s.info.stage == "decode")
        if len(decoders) > 1:
            return Decoders(decoders)
        return decoders[0] if decoders else None

    @property
    def post(self) -> tuple:
        """The post-processing strategies (each has `postprocess`), in order."""
        return tuple(s.strategy for s in self.steps if s.info.stage == "post")

    def config(self) -> dict:
        return _config_dict(tuple((s.info, s.config) for s in self.steps))


class Decoders:
    """Decode-time strategies that set different item fields, as one: their overrides
    merged (`parse` has checked they do not overlap). A strategy with a first pass
    (`first_pass`, e.g. targeted biasing) decides which utterances are decoded again."""

    def __init__(self, parts: tuple):
        self.parts = parts
        self.first_pass = any(getattr(p, "first_pass", False) for p in parts)

    def decode_overrides(self, language: str | None, backend: str) -> dict:
        out: dict = {}
        for part in self.parts:
            out.update(part.decode_overrides(language, backend))
        return out

    def second_pass(self, language: str | None, backend: str, text: str, extra: dict) -> dict | None:
        """The item's fields for decoding again, or None to keep the first pass as it is."""
        out: dict = {}
        for part in self.parts:
            if getattr(part, "first_pass", False):
                fields = part.second_pass(language, backend, text, extra)
                if fields is None:
                    return None
                out.update(fields)
            else:
                out.update(part.decode_overrides(language, backend))
        return out


def build(spec: str, overrides: Overrides = None, lexicon=None, where: str = "--set") -> Pipeline:
    """Parse `spec`, apply the overrides that concern its strategies, call each factory."""
    infos = parse(spec)
    configs = _configs(infos, overrides, where)
    steps = []
    for info, config in zip(infos, configs):
        try:
            strategy = info.factory(config, lexicon)
        except ValueError as exc:  # e.g. "needs a lexicon": the user's to fix
            raise BadInputError(f"strategy {info.name!r}: {exc}") from None
        steps.append(Step(info, config, strategy))
    return Pipeline(tuple(steps))


def config_of(spec: str, overrides: Overrides = None, where: str = "--set") -> dict:
    """The full config of every strategy of `spec`, JSON-able (for a run's identity):
    {"pipeline": "prompt+lexicon", "strategies": [{"name", "stage", "version", "config"}]}."""
    infos = parse(spec)
    return _config_dict(tuple(zip(infos, _configs(infos, overrides, where))))


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _config_dict(pairs) -> dict:
    return {
        "pipeline": "+".join(info.name for info, _ in pairs),
        "strategies": [
            {"name": info.name, "stage": info.stage, "version": info.version, "config": _plain(dataclasses.asdict(config))}
            for info, config in pairs
        ],
    }
