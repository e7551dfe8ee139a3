"""What a run was computed with: package versions, Python, platform, git commit, and the
CPU and instruction set the decoding kernels ran on.

The CPU matters: faster-whisper's int8 (and float32) kernels dispatch on the instruction
set, and different kernels round differently, so the same model, data and code give
different transcripts on different CPUs (on the demo corpus, a few WER points per slice).
Each machine repeats its own figures exactly, so a figure is only reproducible together
with the CPU and kernels that made it; every run records them (`environment()["cpu"]`,
`["kernels"]`).

What CTranslate2 chose is read from CTranslate2 itself: a short subprocess with
`CT2_VERBOSE=1` makes the library log its system configuration (its own ISA, whether it
uses Intel MKL, and the GEMM backend) and fails fast on a model path that does not exist,
so no model is loaded. On x86, CTranslate2 uses Intel MKL only on Intel CPUs and oneDNN
elsewhere; the ISA that library picks for the GEMMs is derived from the CPU flags with its
own dispatch rules, capped by the environment variables that cap it.
"""

import functools
import os
import platform
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = [
    "package_versions",
    "environment",
    "git_commit",
    "cpu_info",
    "kernels",
    "NUMERICS_ENV",
]

PACKAGES = (
    "whisper-workbench",
    "openai-whisper",
    "jiwer",
    "numpy",
    "rapidfuzz",
    "soundfile",
    "librosa",
    "datasets",
    "torch",
    "transformers",
    "peft",
    "faster-whisper",
    "ctranslate2",
)

# Environment variables that change which kernels run (and so the figures), recorded when set.
NUMERICS_ENV = (
    "CT2_FORCE_CPU_ISA",
    "CT2_USE_MKL",
    "CT2_USE_EXPERIMENTAL_PACKED_GEMM",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_CBWR",
    "OMP_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
)

# CPU flags (as /proc/cpuinfo names them) that kernel dispatch looks at.
_ISA_FLAGS = (
    "sse4_1", "avx", "fma", "avx2", "avx_vnni", "avx512f", "avx512dq", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_commit() -> str | None:
    """The workbench source's commit (with '+dirty' for local edits), when it is a checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[dict[str, str], frozenset[str]]:
    """The first processor's fields and flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {}, frozenset()
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = frozenset((fields.get("flags") or fields.get("Features") or "").split())
    return fields, flags


def cpu_info() -> dict:
    """The CPU model, vendor, family/model/stepping and the dispatch-relevant flags."""
    fields, flags = _cpuinfo()
    model = fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()
    info = {
        "model": model,
        "vendor": fields.get("vendor_id") or fields.get("CPU implementer"),
        "family_model_stepping": (
            "/".join(fields[k] for k in ("cpu family", "model", "stepping")) if all(k in fields for k in ("cpu family", "model", "stepping")) else None
        ),
        "machine": platform.machine(),
        "flags": sorted(f for f in _ISA_FLAGS if f in flags),
    }
    return info


# oneDNN's CPU ISAs, best first, with the flags each needs (oneDNN's cpu_isa_traits).
_ONEDNN_ISAS = (
    ("AVX512_CORE_AMX", ("avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")),
    ("AVX512_CORE_BF16", ("avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16")),
    ("AVX512_CORE_VNNI", ("avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni")),
    ("AVX512_CORE", ("avx512f", "avx512dq", "avx512bw", "avx512vl")),
    ("AVX2_VNNI", ("avx2", "avx_vnni")),
    ("AVX2", ("avx2",)),
    ("AVX", ("avx",)),
    ("SSE41", ("sse4_1",)),
)


def _onednn_isa(flags: frozenset[str]) -> str | None:
    """The ISA oneDNN dispatches to on a CPU with these flags, capped by ONEDNN_MAX_CPU_ISA."""
    names = [name for name, _ in _ONEDNN_ISAS]
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    start = names.index(cap) if cap in names else 0
    for name, needs in _ONEDNN_ISAS[start:]:
        if all(f in flags for f in needs):
            return name
    return None


def _mkl_isa(flags: frozenset[str], vendor: str | None) -> str | None:
    """The ISA Intel MKL dispatches to, roughly (its own names), capped by MKL_ENABLE_INSTRUCTIONS.
    On other vendors' CPUs MKL picks its own path and does not say which (MKL_VERBOSE names
    no instruction set there): "non-Intel path"."""
    if vendor and vendor != "GenuineIntel":
        return "non-Intel path"
    levels = (
        ("AVX512_E1", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni")),
        ("AVX512", ("avx512f", "avx512bw", "avx512vl", "avx512dq")),
        ("AVX2", ("avx2", "fma")),
        ("AVX", ("avx",)),
        ("SSE4_2", ("sse4_1",)),
    )
    names = [name for name, _ in levels]
    cap = os.environ.get("MKL_ENABLE_INSTRUCTIONS", "").upper()
    start = names.index(cap) if cap in names else 0
    for name, needs in levels[start:]:
        if all(f in flags for f in needs):
            return name
    return None


_CT2_LOG = {
    "cpu": re.compile(r"\] CPU: (\S+)"),
    "isa": re.compile(r"Selected ISA: (\S+)"),
    "mkl": re.compile(r"Use Intel MKL: (\S+)"),
    "sgemm": re.compile(r"SGEMM backend: (\S+)"),
    "gemm_s8": re.compile(r"GEMM_S8 backend: (\S+)"),
}


@functools.lru_cache(maxsize=8)
def _ctranslate2_config(env_key: tuple) -> dict | None:
    """What CTranslate2 logs about the CPU when it starts (None when it is not installed or
    says nothing). `env_key` is the NUMERICS_ENV values, so a changed variable probes again."""
    probe = (
        "import ctranslate2\n"
        "try:\n"
        "    ctranslate2.models.Whisper('/nonexistent/whisper-workbench-cpu-probe', device='cpu')\n"
        "except Exception:\n"
        "    pass\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "CT2_VERBOSE": "1"})
    except (OSError, subprocess.SubprocessError):
        return None
    found = {key: m.group(1) for key, pattern in _CT2_LOG.items() if (m := pattern.search(done.stderr))}
    if "isa" not in found:
        return None
    found["mkl"] = found.get("mkl") == "true"
    return found


def kernels() -> dict:
    """The instruction sets faster-whisper's CPU kernels run on, with the library versions.

    `summary` is one line, e.g. "int8/f32 GEMM: DNNL AVX512_CORE_BF16; CTranslate2: AVX2":
    two runs with the same CPU model and the same summary use the same kernels."""
    versions = package_versions()
    fields, flags = _cpuinfo()
    out: dict = {"ctranslate2": versions.get("ctranslate2"), "torch": versions.get("torch")}
    ct2 = _ctranslate2_config(tuple(os.environ.get(k) for k in NUMERICS_ENV)) if versions.get("ctranslate2") else None
    if ct2 is None:
        out.update(source="none", summary=None)
        return out
    gemm = ct2.get("gemm_s8")
    gemm_isa = _onednn_isa(flags) if gemm == "DNNL" else _mkl_isa(flags, ct2.get("cpu") or fields.get("vendor_id")) if gemm == "MKL" else None
    out.update(
        source="ctranslate2 log; GEMM ISA derived from CPU flags",
        ctranslate2_isa=ct2["isa"],
        cpu_vendor=ct2.get("cpu"),
        mkl=ct2["mkl"],
        sgemm_backend=ct2.get("sgemm"),
        gemm_s8_backend=gemm,
        gemm_isa=gemm_isa,
        summary=f"GEMM {gemm or 'none'} {gemm_isa or '?'}, CTranslate2 {ct2['isa']}",
    )
    return out


def environment() -> dict:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_info(),
        "kernels": kernels(),
        "numerics_env": {k: os.environ[k] for k in NUMERICS_ENV if k in os.environ},
        "packages": package_versions(),
    }
