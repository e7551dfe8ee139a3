"""One base class for every error the workbench raises on purpose.

Each carries the exit code the command line returns for it, and a one-line message that
names the file, row or field at fault and what is wrong with it.
"""

from .exit_codes import ExitCode

__all__ = ["WorkbenchError", "BadInputError", "ModelError", "PluginLoadError", "WorkspaceError", "RunNotFoundError", "CancelledError"]


class WorkbenchError(Exception):
    """Base class: a failure the user can act on, reported without a traceback."""

    exit_code: ExitCode = ExitCode.ERROR


class BadInputError(WorkbenchError):
    """A manifest, hypotheses file, option or audio file that cannot be used."""

    exit_code = ExitCode.BAD_INPUT


class ModelError(BadInputError):
    """A model that cannot be found, verified, converted or loaded; the message says which and why.

    Defined here rather than in `workbench.models` so that `workbench.conversion` (which
    raises it while parsing model files) does not import `workbench.models` (which calls
    the conversions): the two would otherwise import each other.
    """


class PluginLoadError(WorkbenchError):
    """A strategy or backend module that failed to import or to register: never skipped
    silently, since a missing strategy would quietly drop out of every comparison."""


class WorkspaceError(WorkbenchError):
    """The workspace (run store) or an output path cannot be written: read-only, full, missing."""

    exit_code = ExitCode.BAD_INPUT


class RunNotFoundError(WorkbenchError):
    """A run id that is not in the run store."""

    exit_code = ExitCode.BAD_INPUT


class NotStoredError(RunNotFoundError):
    """Asked for stored results only (`BenchRequest.stored_only`), and no identical
    finished run is stored: nothing is decoded."""


class CancelledError(WorkbenchError):
    """The user cancelled a long job; what finished before is kept."""

    exit_code = ExitCode.CANCELLED

    def __init__(self, message: str = "cancelled", run_id: str | None = None, kept: int | None = None):
        super().__init__(message)
        self.run_id = run_id  # the run that keeps the finished work, when there is one
        self.kept = kept  # how many utterances it keeps
