"""Decoding backends behind one interface: faster-whisper (default on CPU), openai-whisper
(the reference) and transformers (fine-tuned models, LoRA adapters, batching).

Each backend is one module of this package that registers itself (`registry.register`);
importing the package imports every public module, so adding a backend is adding a file.
A module that fails to import is an error naming it (`workbench.errors.PluginLoadError`).
"""

from ..plugins import import_plugins
from .base import AudioItem, Backend, DecodingOptions, Transcript, compression_ratio, language_code
from .registry import MODEL_FORMATS, BackendInfo, available, get, names, register, unregister

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "MODEL_FORMATS",
    "AudioItem",
    "Backend",
    "BackendInfo",
    "DecodingOptions",
    "Transcript",
    "available",
    "compression_ratio",
    "create_backend",
    "get",
    "language_code",
    "model_files",
    "names",
    "register",
    "unregister",
]

DEFAULT_BACKEND = "faster-whisper"


def create_backend(name: str, model, options: DecodingOptions) -> Backend:
    """A ready backend for a resolved model (`workbench.models.ModelFiles`); "auto" device,
    compute type and batch size decided for this machine first (`device.for_this_machine`)."""
    from .device import for_this_machine

    return get(name).factory(model, for_this_machine(options, name))


def model_files(name: str, model: str, progress=None):
    """The files backend `name` loads for model `model` (built once, cached):
    `workbench.models.resolve_model` with the backend's model format."""
    from ..models import resolve_model

    return resolve_model(model, get(name).model_format, progress)


MODULES = import_plugins(__name__, __path__, "backend")
BACKENDS = names()  # the backends registered at import, by name
