"""Adaptation strategies (lexicon correction, prompt biasing, LoRA, full fine-tuning).

Each strategy will register once under a name with a frozen config; none scores itself:
`workbench.evaluation` scores them all the same way. The strategies arrive in later
releases; this package exists so the distribution's layout is stable.
"""
