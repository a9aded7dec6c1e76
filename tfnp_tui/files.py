"""Files the user names: can they be written, and which names are free.

The promise these serve: a run finds out at the start, not after an hour of training, that
a file cannot be written, and it never replaces a file of the user's that it did not write
or load itself.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


def writable(path: str) -> str | None:
    """Why `path` cannot be written, or None if it can.

    Asked by doing: a file is created in the folder and removed again (os.access says yes
    for root even in /proc). Checkpoints and metrics are written beside their target and
    renamed over it, so the folder is what must take a new file. An existing file that is
    not a plain file (/dev/null, a pipe) is written in place: it need only be writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path}: is a directory"
    if not os.path.isdir(folder):
        return f"{path}: the folder {folder} does not exist"
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None if os.access(path, os.W_OK) else f"{path}: cannot be written (permission denied)"
    try:
        fd, probe = tempfile.mkstemp(prefix=".tfnp-probe-", dir=folder)
    except OSError as err:
        return f"{path}: cannot be written ({err.strerror or err})"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.remove(probe)
    return None


def same_file(a: str | None, b: str | None) -> bool:
    """Whether two names lead to the same existing file."""
    if not a or not b:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def unused_path(path: str) -> str:
    """`path` if nothing is there, else the first free 'stem-2.ext', 'stem-3.ext', …"""
    stem, ext = os.path.splitext(path)
    candidate, n = path, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = f"{stem}-{n}{ext}"
    return candidate


def diverged_path(save: str) -> str:
    """Where a diverged run keeps its last good parameters: beside --save, replacing nothing."""
    stem, ext = os.path.splitext(save)
    return unused_path(f"{stem}.diverged{ext or '.npz'}")
