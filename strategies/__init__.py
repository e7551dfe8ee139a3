"""Adaptation strategies: registered once by name, composed with '+', never self-scored.

A strategy changes how utterances are decoded (`decode`: e.g. a prompt built from the
lexicon) or what is done with a transcript afterwards (`post`: e.g. lexicon correction).
`workbench.strategy_runs` runs them and `workbench.evaluation` scores every one of them
the same way, on the same held-out utterances; post-processing strategies start from
the cached transcripts of the run they build on and never re-decode.
"""

from .registry import STAGES, StrategyInfo, available, get, parse, register

__all__ = ["STAGES", "StrategyInfo", "available", "get", "parse", "register"]

# Importing the modules registers their strategies.
from . import baseline as _baseline  # noqa: E402,F401
from . import prompt as _prompt  # noqa: E402,F401

try:  # the lexicon corrector arrives with its own module
    from . import lexicon as _lexicon  # noqa: E402,F401
except ImportError:  # pragma: no cover
    pass
