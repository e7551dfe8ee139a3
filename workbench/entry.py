"""The `workbench` command's entry point: a Ctrl-C while the heavy modules are still being
imported (torch, transformers) ends quietly with the cancel exit code, like one later on."""

import sys

__all__ = ["main"]


def main() -> int:
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
