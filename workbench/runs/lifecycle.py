"""A run from claim to finish: claim (reuse / resume / new, one transaction), work, end.

Every command that writes a run goes through `claim` and `guarded`: a run is either
reused whole (identical identity, succeeded), resumed (identical identity, its process
gone), or begun; whatever happens while it works, it ends `succeeded` (with its scores),
`cancelled` (Ctrl-C or a cancel event: what finished is kept) or `failed` (with the error).
"""

from contextlib import contextmanager
from dataclasses import dataclass

from ..environment import environment, git_commit
from ..errors import CancelledError
from .identity import RunIdentity

__all__ = ["Claim", "claim", "guarded"]


@dataclass(frozen=True)
class Claim:
    run_id: str
    how: str  # "new", "resumed" or "reused"


def claim(store, kind: str, identity: RunIdentity, config: dict, heldout_id: str | None, heldout_size: int | None,
          normalizer: str | None, reuse: bool = False, resume: bool = True) -> Claim:
    """The run to write into (or to reuse), with the identity stored in its config."""
    config = {**config, "identity": identity.to_dict()}
    how, run_id = store.claim_run(kind, identity.digest, config, environment(), heldout_id, heldout_size, normalizer,
                                  git_commit(), reuse=reuse, resume=resume)
    return Claim(run_id, how)


@contextmanager
def guarded(store, run_id: str, cancelled_message: str | None = None):
    """Mark the run cancelled or failed when the body does not finish it."""
    try:
        yield
    except (KeyboardInterrupt, CancelledError) as exc:
        store.end_run(run_id, "cancelled", str(exc) or "interrupted by the user")
        kept = len(store.hypotheses(run_id))
        if kept == 0 and store.discard_if_empty(run_id):
            # Stopped before its first utterance: nothing to keep, so no empty run is left behind.
            raise CancelledError("cancelled before anything finished; no run was kept", run_id=None, kept=0) from None
        message = cancelled_message or (f"run {run_id} cancelled; {kept} finished utterances are kept — "
                                        "run the same command again to resume")
        raise CancelledError(message, run_id=run_id, kept=kept) from None
    except BaseException as exc:
        store.end_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
