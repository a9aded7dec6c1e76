"""Why a file cannot be read, in the same words for every file the engine reads (a
checkpoint, a text file): one line that names the file."""

from __future__ import annotations

import os


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
