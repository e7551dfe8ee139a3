"""Where a backend decodes: `auto` settings resolved for the machine (or Ray worker) it runs on.

`workbench bench` asks for `device="auto"`, `compute_type="auto"` and `batch_size=0`
(auto) unless told otherwise. On a machine with a GPU that becomes CUDA, float16 and
batches of `GPU_BATCH_SIZE` clips (faster-whisper encodes and generates a batch at once;
transformers batches `generate`); without one it becomes exactly what a CPU run always
used (cpu, int8, batches of 8, which faster-whisper caps at 2 on CPU), so CPU runs keep
their identity and figures. The resolved values are what the backend records in its
applied options, so every run stores the batch size it really decoded with.

`create_backend` resolves through `for_this_machine` on every path, so a backend never
sees "auto". The GPU check asks the library the backend decodes with: CTranslate2 for
faster-whisper, torch for the others (a machine can have one built with CUDA and not
the other).
"""

from dataclasses import replace

from .base import DecodingOptions

__all__ = ["AUTO", "GPU_BATCH_SIZE", "CPU_BATCH_SIZE", "resolve_auto", "gpu_present", "for_this_machine"]

AUTO = "auto"
# Clips per batch on a GPU: enough to keep a data-centre GPU's matrix units busy with
# Whisper's 30 s windows, small enough for large-v3 in float16 on a 16 GB card.
GPU_BATCH_SIZE = 16
CPU_BATCH_SIZE = 8  # DecodingOptions' default (faster-whisper caps it at 2 on CPU)


def resolve_auto(options: DecodingOptions, gpu: bool) -> DecodingOptions:
    """`options` with every auto setting decided, for a machine with (`gpu`) or without a
    GPU. Explicit settings are kept as given."""
    device = options.device if options.device != AUTO else ("cuda" if gpu else "cpu")
    on_gpu = device.startswith("cuda")
    compute_type = options.compute_type if options.compute_type != AUTO else ("float16" if on_gpu else "int8")
    batch_size = options.batch_size or (GPU_BATCH_SIZE if on_gpu else CPU_BATCH_SIZE)
    return replace(options, device=device, compute_type=compute_type, batch_size=batch_size)


def gpu_present(backend: str) -> bool:
    """Whether the library `backend` decodes with sees a CUDA device here."""
    from .registry import get

    if get(backend).model_format == "faster-whisper":
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    import torch

    return bool(torch.cuda.is_available())


def for_this_machine(options: DecodingOptions, backend: str) -> DecodingOptions:
    """`resolve_auto` with this machine's answer (the GPU is only looked for when the device is auto)."""
    return resolve_auto(options, gpu_present(backend) if options.device == AUTO else False)
