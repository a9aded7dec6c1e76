"""Files, in the same way for every file the engine reads or writes: why one cannot be read
(one line that names it), and an atomic write (whole or not at all, never half a file)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """write(f) into a fresh temporary file beside `path` (same file system), synced, then
    renamed over `path`: a crash or Ctrl-C leaves either the old file or the new one, and never
    the temporary file. OSError comes through for the caller to word."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    created = False
    try:
        with open(tmp, "xb") as f:  # a fresh file, with the permissions the umask gives
            created = True
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def read_error(path: str | os.PathLike, err: OSError, kind: str) -> str:
    """'PATH: no such file', 'PATH: is a directory, not KIND', 'PATH: cannot be read
    (permission denied)', or 'PATH: cannot be read (what the system says)'."""
    if isinstance(err, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(err, IsADirectoryError):
        return f"{path}: is a directory, not {kind}"
    if isinstance(err, PermissionError):
        return f"{path}: cannot be read (permission denied)"
    return f"{path}: cannot be read ({err.strerror or err})"
