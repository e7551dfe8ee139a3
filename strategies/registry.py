"""The strategy registry: one name, one frozen config type, one factory, one stage."""

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["STAGES", "StrategyInfo", "register", "get", "available", "parse"]

STAGES = ("none", "decode", "post")  # none: baseline; decode: changes decoding; post: edits transcripts


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    stage: str  # one of STAGES
    config_type: type  # a frozen dataclass
    factory: Callable[..., Any]  # factory(config, lexicon) -> strategy object
    cost: int  # rung on the escalation ladder: cheaper first
    description: str


_REGISTRY: dict[str, StrategyInfo] = {}


def register(name: str, stage: str, config_type: type, cost: int, description: str):
    """Decorator for a factory; a name can be registered once."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")

    def decorate(factory):
        if name in _REGISTRY:
            raise ValueError(f"strategy {name!r} is already registered")
        _REGISTRY[name] = StrategyInfo(name, stage, config_type, factory, cost, description)
        return factory

    return decorate


def get(name: str) -> StrategyInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r} (available: {', '.join(_REGISTRY)})") from None


def available() -> tuple[StrategyInfo, ...]:
    return tuple(sorted(_REGISTRY.values(), key=lambda s: (s.cost, s.name)))


def parse(spec: str) -> tuple[StrategyInfo, ...]:
    """'lexicon+prompt' -> (prompt, lexicon): decoding first, then post-processing.

    At most one decode-time strategy (two prompts cannot both be the prompt), and
    'baseline' only alone.
    """
    names = [n.strip() for n in spec.split("+") if n.strip()]
    if not names:
        raise ValueError(f"empty strategy spec {spec!r}")
    infos = [get(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError(f"strategy spec {spec!r} names a strategy twice")
    if any(i.stage == "none" for i in infos) and len(infos) > 1:
        raise ValueError(f"strategy spec {spec!r}: baseline cannot be combined")
    if sum(1 for i in infos if i.stage == "decode") > 1:
        raise ValueError(f"strategy spec {spec!r}: at most one decode-time strategy")
    return tuple(sorted(infos, key=lambda i: STAGES.index(i.stage)))
