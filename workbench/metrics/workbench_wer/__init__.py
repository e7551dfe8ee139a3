"""The `workbench_wer` evaluate module: `evaluate.load` reads workbench_wer.py from this folder."""
