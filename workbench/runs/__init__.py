"""The one run lifecycle: every figure the workbench prints comes from here.

- `identity`: what a run is (a hash of everything that determines its transcripts);
- `lifecycle`: claiming a run (reuse / resume / new, in one transaction) and ending it;
- `coverage`: the one rule for what WER covers (speech with a hypothesis; the rest counted);
- `scoring`: stored hypotheses to figures, and figures to a stored scorecard version;
- `derive`: a post-processing strategy applied to a stored run, as a new scored run.

`bench`, `score`, `rescore`, strategy runs, comparisons, escalation and the TUI all write
and score runs through these functions; nothing else computes WER for a run.
"""

from .coverage import COVERAGE_RULE, Coverage, is_no_speech, partition
from .identity import RunIdentity, code_version, file_sha256, make_identity, rows_fingerprint
from .lifecycle import Claim, claim, guarded
from .scoring import RunScores, normalizer_notes, score_stored, store_scores

__all__ = [
    "COVERAGE_RULE", "Coverage", "is_no_speech", "partition",
    "RunIdentity", "code_version", "file_sha256", "make_identity", "rows_fingerprint",
    "Claim", "claim", "guarded",
    "RunScores", "normalizer_notes", "score_stored", "store_scores",
    "DerivedRun", "derive_run", "lexicon_digest", "post_process_hypotheses",
]
from .derive import DerivedRun, derive_run, lexicon_digest, post_process_hypotheses
