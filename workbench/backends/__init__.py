"""Decoding backends behind one interface: faster-whisper (default on CPU), openai-whisper
(the reference) and transformers (fine-tuned models, LoRA adapters, batching)."""

from .base import AudioItem, Backend, DecodingOptions, Transcript, compression_ratio, language_code

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "create_backend", "AudioItem", "Backend", "DecodingOptions", "Transcript", "compression_ratio", "language_code"]

BACKENDS = ("faster-whisper", "openai-whisper", "transformers")
DEFAULT_BACKEND = "faster-whisper"


def create_backend(name: str, model, options: DecodingOptions) -> Backend:
    """A ready backend for a resolved model (`workbench.models.ModelFiles`)."""
    if name == "faster-whisper":
        from .faster import FasterWhisperBackend

        return FasterWhisperBackend(str(model.ct2_dir), model.multilingual, options)
    if name == "openai-whisper":
        from .reference import OpenAIWhisperBackend

        return OpenAIWhisperBackend(str(model.openai_checkpoint), model.multilingual, options, model.alignment_heads)
    if name == "transformers":
        from .hf import TransformersBackend

        return TransformersBackend(str(model.hf_dir), model.multilingual, options)
    raise ValueError(f"unknown backend {name!r} (available: {', '.join(BACKENDS)})")
