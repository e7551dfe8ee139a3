"""The public strategy API: everything of the workbench that a strategy module may import.

Strategies (`strategies/`) are plug-ins: each one is a file that registers itself with
`strategies.registry.register` and works on text, languages and the lexicon. They see
the workbench only through this module, so the core can change its insides (runs,
scoring, the CLI, the TUI) without touching a strategy, and a strategy cannot reach
into a run, a store or a score. `tests/test_layering.py` fails when a module of
`strategies/` imports any other part of `workbench`.

What is here, and why it is enough:

- the lexicon a strategy is built with: `Lexicon`, `Term`, and the tokenisation every
  lexicon user must share (`words`, `term_words`) plus the ordinary words of a language
  (`common_words`), so a corrector and the lexicon agree on what a word is;
- `language_code`: the one mapping of language names/tags to Whisper's codes;
- `backend_takes_hotwords`: whether a decoding backend accepts hotwords (else a
  decode-time strategy passes an initial prompt), and `backend_gives_nbest`, whether it
  returns n-best lists, asked of the backend registry rather than comparing backend names;
- the errors a strategy raises: `BadInputError` (bad config value, missing lexicon);
- `import_plugins`: how the `strategies` package imports its modules, failing loudly;
- `language_model`: a language model (shipped GGUF, a .gguf file, an OpenAI-compatible
  URL) to score or rewrite text with, and `LanguageModelError` when an endpoint fails.

Keep it small: add a name here only when a strategy needs it, never a run or a store.
"""

from .backends import get as _backend
from .backends.base import language_code
from .errors import BadInputError, PluginLoadError
from .language_models import LanguageModelError, language_model
from .lexicon import Lexicon, Term, common_words, term_words, words
from .plugins import import_plugins

__all__ = [
    "BadInputError",
    "LanguageModelError",
    "Lexicon",
    "PluginLoadError",
    "Term",
    "backend_gives_nbest",
    "backend_takes_hotwords",
    "common_words",
    "import_plugins",
    "language_code",
    "language_model",
    "term_words",
    "words",
]


def backend_takes_hotwords(backend: str) -> bool:
    """Whether the named decoding backend accepts hotwords (faster-whisper does)."""
    return _backend(backend).hotwords


def backend_gives_nbest(backend: str) -> bool:
    """Whether the named decoding backend returns n-best hypotheses (faster-whisper does)."""
    return _backend(backend).nbest
