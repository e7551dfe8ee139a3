"""The baseline: the model as it is. Every other strategy is compared against it."""

from dataclasses import dataclass

from .registry import register


@dataclass(frozen=True)
class BaselineConfig:
    pass


class Baseline:
    name = "baseline"


@register("baseline", "none", BaselineConfig, cost=0, description="the model as it is")
def make_baseline(config: BaselineConfig, lexicon=None) -> Baseline:
    return Baseline()
