"""A run's identity: one hash over everything that determines its transcripts.

Two runs with the same identity would produce the same hypotheses, so a finished one may
be reused and an unfinished one resumed. Any change to the data rows used, the held-out
split, the strategy and its full configuration (lexicon content, prompt text), the model's
weights (`workbench.models.model_fingerprint`), the backend and the decoding options as
actually applied, the normalizer or the workbench's own code makes a new identity, and so
a new run. The parts are stored with the
run (`config["identity"]`) so `workbench runs show` and every report can say what they were.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["RunIdentity", "make_identity", "rows_fingerprint", "file_sha256", "code_version"]


@dataclass(frozen=True)
class RunIdentity:
    digest: str  # "sha256:..." over `parts`
    parts: Mapping  # JSON-able: what the digest was computed over

    def to_dict(self) -> dict:
        return {"digest": self.digest, "parts": json.loads(json.dumps(self.parts, sort_keys=True))}


def make_identity(parts: Mapping) -> RunIdentity:
    """The identity of these parts (canonical JSON: key order and tuples vs lists do not matter)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return RunIdentity("sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest(), json.loads(canonical))


def _audio_stamp(audio) -> str:
    """How an utterance's audio is pinned: bytes by hash; a file by path, size and mtime (a
    re-encoded or truncated file changes size or mtime; hashing every file of a 100k-utterance
    corpus on each run would cost more than decoding a few of them)."""
    if audio.data is not None:
        return "bytes:" + hashlib.sha256(audio.data).hexdigest()
    try:
        st = os.stat(audio.path)
    except OSError:
        return f"file:{audio.path}:missing"
    return f"file:{audio.path}:{st.st_size}:{st.st_mtime_ns}"


def rows_fingerprint(utterances: Sequence) -> str:
    """A content hash of the manifest rows used, in order: id, reference, slices, audio."""
    digest = hashlib.sha256()
    encoded: dict[tuple, str] = {}  # few distinct slice combinations: each encoded once
    text = json.JSONEncoder(ensure_ascii=False).encode  # a string alone: what json.dumps writes for it
    for u in utterances:
        audio = _audio_stamp(u.audio) if hasattr(u, "audio") else ""
        try:
            key = tuple(u.slices.items())
            slices = encoded.get(key)
        except TypeError:  # a value that cannot be a key (a list): encoded each time
            key, slices = None, None
        if slices is None:
            slices = json.dumps(dict(u.slices), sort_keys=True, ensure_ascii=False)
            if key is not None:
                encoded[key] = slices
        # = json.dumps([id, reference, slices, audio], sort_keys=True, ensure_ascii=False)
        line = f"[{text(u.id)}, {text(u.reference)}, {slices}, {text(audio)}]"
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def code_version() -> dict:
    """The workbench version and commit: a code change may change transcripts or scores."""
    from ..version import __version__
    from ..environment import git_commit

    return {"version": __version__, "commit": git_commit()}
