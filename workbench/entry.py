"""The `workbench` command's entry point: a Ctrl-C while the heavy modules are still being
imported (torch, transformers) ends quietly with the cancel exit code, like one later on.

The command's process collects garbage less often than Python's default (a young
collection every 50,000 new objects instead of 700): loading and scoring 100,000
utterances makes millions of objects that live to the end, and the default thresholds
spent seconds re-scanning them (about 7% of a 100k-utterance `workbench score`).
"""

import gc
import sys

__all__ = ["main"]


GC_THRESHOLDS = (50_000, 20, 10)  # young, middle, old: see the module docstring


def main() -> int:
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130
    try:
        return cli_main()
    except KeyboardInterrupt:  # between argument parsing and the command's own handler
        print("\ncancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
