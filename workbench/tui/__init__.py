"""The interactive workbench (`workbench tui`, or `workbench` alone): a Textual app over
the same service and session functions as the command line.

Only this package imports Textual. Screens (tabs): Data, Strategies (the leaderboard and
strategy runs), Lexicon, Escalation, Report, Inspector, Review (the confidence-ordered
queue: edit, accept, play, save corrections as a run). Long jobs run in thread workers,
report progress and can be cancelled; no score is computed here, only shown.
"""

from .app import WorkbenchApp, run_tui
from .jobs import TuiOptions

__all__ = ["WorkbenchApp", "TuiOptions", "run_tui"]
