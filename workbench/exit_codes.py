"""Process exit codes: part of the public API, so CI jobs can gate on them.

The numbers never change meaning once released; new codes are only ever added.
"""

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    """The command did what was asked and every requested threshold was met."""
    ERROR = 1
    """An unexpected internal error (a bug): the message and run id say where."""
    BAD_INPUT = 2
    """Unusable input: a manifest, hypotheses file, option or run id that cannot be used
    (also argparse's own code for a malformed command line)."""
    THRESHOLD_MISSED = 3
    """Scoring succeeded but a requested target (--max-wer, --max-slice-wer) was missed."""
    REGRESSION = 4
    """A slice got significantly worse than the baseline beyond the allowed regression."""
    NEEDS_GPU = 5
    """The escalation policy needs training that this machine cannot run (no GPU)."""
    CANCELLED = 130
    """Interrupted (Ctrl-C); finished work is kept and the run is marked cancelled."""
