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
- `evaluation`: the one evaluation path every run and strategy goes through.
"""

__version__ = "0.1.0"
