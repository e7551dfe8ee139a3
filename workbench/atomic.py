"""Write files so that a crash never leaves a half-written one behind.

Content goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target: readers see the old file or the new one, never a mix.
"""

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic", "write_bytes_atomic", "check_writable"]


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        # Also on Ctrl-C: the target keeps its previous content, the temp file goes.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def check_writable(path: str | os.PathLike) -> None:
    """Fail BEFORE a long job when `path` cannot be written: its folder is created (as the
    write would) and a temporary file is made and removed there. One-line error naming the path."""
    from .errors import BadInputError

    target = Path(path)
    if target.is_dir():
        raise BadInputError(f"{target}: is a folder, expected a file path to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".check", dir=target.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise BadInputError(f"{target}: cannot write here ({exc.strerror or exc})") from None
