"""Loading the modules of a registry package (strategies, decoding backends).

A strategy or backend is one file that registers itself when imported; its package
imports every public module it holds (`import_plugins`), so adding one is adding a file.
A module that fails to import fails loudly, naming the module and the cause: a
strategy that silently went missing would drop out of every comparison unnoticed.
"""

import importlib
import pkgutil
from collections.abc import Iterable

from .errors import PluginLoadError, WorkbenchError

__all__ = ["import_plugins"]


def import_plugins(package: str, path: Iterable[str], kind: str) -> tuple[str, ...]:
    """Import every public module (name not starting with "_") of `package`, in name
    order; the names imported. Any failure is a `PluginLoadError` naming the module."""
    names = sorted(m.name for m in pkgutil.iter_modules(list(path)) if not m.name.startswith("_"))
    for name in names:
        module = f"{package}.{name}"
        try:
            importlib.import_module(module)
        except PluginLoadError:
            raise
        except Exception as exc:  # not just ImportError: a module that fails to register is as broken
            cause = (str(exc).strip().splitlines() or [""])[0]
            if isinstance(exc, WorkbenchError):
                raise PluginLoadError(f"{kind} module {module} failed to load: {cause}") from exc
            raise PluginLoadError(f"{kind} module {module} failed to load: {type(exc).__name__}: {cause}") from exc
    return tuple(names)
