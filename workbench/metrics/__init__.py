"""The workbench's metrics as Hugging Face `evaluate` modules, shipped inside the package.

`workbench_wer` computes the normalized WER and CER exactly as every workbench score
does (the same normalizer ids, the same corpus-level aggregation, the same coverage
rule), so a number logged by a Hugging Face Trainer, or computed in a notebook, is the
number `workbench` reports for the same hypotheses. It loads offline from its folder:

    import evaluate
    from workbench.metrics import WORKBENCH_WER
    wer = evaluate.load(str(WORKBENCH_WER))              # normalizer auto@1
    wer.compute(predictions=hyps, references=refs, language="en")
"""

from pathlib import Path

__all__ = ["WORKBENCH_WER", "load_workbench_wer"]

# The folder `evaluate.load` takes: it holds workbench_wer.py (the module) and its card.
WORKBENCH_WER = Path(__file__).resolve().parent / "workbench_wer"


def load_workbench_wer(normalizer: str = "auto", **kwargs):
    """`evaluate.load` of the shipped module, from its local path (no network);
    `normalizer` is its config name (a normalizer name or id, e.g. "auto" or "raw@1")."""
    import evaluate

    return evaluate.load(str(WORKBENCH_WER), normalizer, **kwargs)
