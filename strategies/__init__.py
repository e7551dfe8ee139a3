"""Adaptation strategies: registered once by name, composed with '+', never self-scored.

A strategy changes how utterances are decoded (`decode`: e.g. a prompt built from the
lexicon) or what is done with a transcript afterwards (`post`: e.g. lexicon correction).
`workbench.strategy_runs` runs them and `workbench.evaluation` scores every one of them
the same way, on the same held-out utterances; post-processing strategies start from
the cached transcripts of the run they build on and never re-decode.

Each strategy is one module of this package that registers itself (`registry.register`);
importing the package imports every public module, so adding a strategy is adding a
file. A module that fails to import is an error naming it and the cause
(`workbench.errors.PluginLoadError`), never a strategy that silently went missing.
"""

from workbench.strategy_api import import_plugins

from .registry import (
    STAGES,
    ConfigField,
    Pipeline,
    Step,
    StrategyInfo,
    available,
    build,
    check_overrides,
    choices,
    config_of,
    decode_spec,
    fields,
    get,
    ladder,
    make_config,
    needs_lexicon,
    overrides_from_toml,
    parse,
    register,
    unregister,
)

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

MODULES = import_plugins(__name__, __path__, "strategy")  # the modules imported, in name order
