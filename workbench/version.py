"""The workbench's version, in a module of its own so that code needing it (run identities)
does not import the package's `__init__`, which lazily re-exports `workbench.api`."""

__version__ = "0.1.0"
