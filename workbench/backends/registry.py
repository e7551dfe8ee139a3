"""The decoding-backend registry: one name, one factory, the model files it loads.

A backend is one module of `workbench.backends` that registers itself:

    @register("my-backend", model_format="transformers", description="...")
    def make(model, options):  # model: workbench.models.ModelFiles
        return MyBackend(str(model.hf_dir), model.multilingual, options)

`workbench.backends` imports every public module it holds, so that file is all there
is to add (a backend that needs a model format `workbench.models` cannot build yet also
needs the conversion there). Registration must stay cheap: import the decoding library
inside the factory, not at the top of the module.
"""

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["BackendInfo", "register", "unregister", "get", "available", "names"]

# The model files `workbench.models.resolve_model` builds, named after the backend that
# first loaded them: a CTranslate2 folder, an openai-whisper .pt, a transformers folder.
MODEL_FORMATS = ("faster-whisper", "openai-whisper", "transformers")


@dataclass(frozen=True)
class BackendInfo:
    name: str
    factory: Callable[..., Any]  # factory(model: ModelFiles, options: DecodingOptions) -> Backend
    model_format: str  # one of MODEL_FORMATS: what `resolve_model(name, model_format)` builds
    description: str
    hotwords: bool = False  # accepts DecodingOptions.hotwords / AudioItem.hotwords (else ignored)
    nbest: bool = False  # returns several hypotheses for AudioItem.num_hypotheses > 1 (else ignored)


_REGISTRY: dict[str, BackendInfo] = {}


def register(name: str, model_format: str, description: str, hotwords: bool = False, nbest: bool = False):
    """Decorator for a backend factory; a name can be registered once."""
    if model_format not in MODEL_FORMATS:
        raise ValueError(f"backend {name!r}: model_format must be one of {', '.join(MODEL_FORMATS)}, got {model_format!r}")

    def decorate(factory):
        if name in _REGISTRY:
            raise ValueError(f"backend {name!r} is already registered")
        _REGISTRY[name] = BackendInfo(name, factory, model_format, description, hotwords, nbest)
        return factory

    return decorate


def unregister(name: str) -> None:
    """Remove a registered backend (tests register throwaway ones)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> BackendInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r} (available: {', '.join(_REGISTRY)})") from None


def available() -> tuple[BackendInfo, ...]:
    """Every registered backend, by name."""
    return tuple(sorted(_REGISTRY.values(), key=lambda b: b.name))


def names() -> tuple[str, ...]:
    return tuple(b.name for b in available())
