"""whisper-workbench: benchmark, adapt and regression-test Whisper on your own held-out speech.

The core package is headless: nothing here imports a UI toolkit. The command line
(`workbench.cli`) and, later, the terminal UI are thin shells over the same modules:

- `dataset`, `manifest`, `audio`: load a labelled speech dataset into one in-memory form;
- `split`: the deterministic held-out split and the held-out identity hash;
- `normalizers`: named, versioned text normalizers;
- `scoring`, `bootstrap`: per-utterance alignment, per-slice scores with intervals;
- `hypotheses`: transcripts from any system, keyed by utterance id or audio path;
- `runstore`: every run kept in SQLite, rescorable without re-transcribing;
- `reports`: tables, JSON and Markdown;
- `evaluation`: the one evaluation path every run and strategy goes through;

- `api`: all of it from Python (notebooks): load data, run strategies, score, compare,
  export, as frozen records and pandas DataFrames.

`workbench.api` is loaded on first use (`import workbench` stays cheap: no model
libraries, no pandas).
"""

from .version import __version__

__all__ = ["__version__", "api"]


def __getattr__(name: str):
    # PEP 562: `workbench.api` without importing it (and its dependencies) up front.
    if name == "api":
        import workbench.api  # sets the attribute, so this function is not asked again

        return workbench.api
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
