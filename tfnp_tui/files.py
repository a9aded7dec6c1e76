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

from .metrics import is_metrics_file


def writable(path: str) -> str | None:
    """Why `path` cannot be written, or None if it can.

    Asked by doing: a file is created in the folder and removed again (os.access says yes
    for root even in /proc). Checkpoints and metrics are written beside their target and
    renamed over it, so the folder is what must take a new file. An existing file that is
    not a plain file (/dev/null, a pipe) is a metrics file written in place: it need only be
    writable (the command line refuses it as a checkpoint)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path}: is a directory"
    if not os.path.isdir(folder):
        return f"{path}: the folder {folder} does not exist"
    with contextlib.suppress(FileNotFoundError):
        regular = stat.S_ISREG(os.stat(path).st_mode)
        if not os.access(path, os.W_OK):  # a metrics file is appended to where it is
            return f"{path}: cannot be written (permission denied)"
        if not regular:
            return None
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


def unused_path(path: str, with_best: bool = False) -> str:
    """`path` if nothing is there, else the first free 'stem-2.ext', 'stem-3.ext', …; with_best:
    its best file's name (best_path) must be free too."""
    stem, ext = os.path.splitext(path)
    candidate, n = path, 1
    while os.path.lexists(candidate) or (with_best and os.path.lexists(best_path(candidate))):
        n += 1
        candidate = f"{stem}-{n}{ext}"
    return candidate


def diverged_path(save: str) -> str:
    """Where a diverged run keeps its last good parameters: beside --save, replacing nothing."""
    stem, ext = os.path.splitext(save)
    return unused_path(f"{stem}.diverged{ext or '.npz'}")


def best_path(save: str) -> str:
    """Where a run with --save keeps its best epoch (the lowest validation loss): 'run.npz'
    -> 'run.best.npz', beside it."""
    stem, ext = os.path.splitext(save)
    return f"{stem}.best{ext or '.npz'}"


def files_problem(save: str | None, metrics: str | None, load: str | None, data: str | None,
                  overwrite: bool) -> str | None:  # fmt: skip
    """What is wrong with --save and --metrics-out, or None: each can be written; neither
    replaces a file of the user's that this run did not load (--save, and its best file
    unless the run goes on from --save itself) or that is not a metrics file (--metrics-out)
    unless `overwrite`; --metrics-out is never the file the run loads, reads or saves."""
    for flag, path in (("--save", save), ("--metrics-out", metrics)):
        if path is not None and not path.strip():
            return f"{flag}: the file name is empty"
        problem = path and writable(path)
        if problem:
            return problem
    if save and os.path.lexists(save) and not os.path.isfile(save):
        return f"{save}: not a plain file (a checkpoint is written beside it and renamed over it)"
    if save and os.path.lexists(save) and not overwrite and not same_file(save, load):
        return (f"{save} already exists and this run did not load it: --load it to go on from it, "
                "choose another --save path, or add --overwrite to replace it")  # fmt: skip
    best = save and best_path(save)
    if best and os.path.lexists(best) and not os.path.isfile(best):
        return f"{best}: not a plain file (the run's best epoch is written beside it and renamed over it)"
    if best and os.path.lexists(best) and not overwrite and not same_file(save, load):
        return (f"{best} already exists and this run did not make it: it would keep this run's best epoch there; "
                "choose another --save path, or add --overwrite to replace it")  # fmt: skip
    for flag, other in (("--load", load), ("--data", data), ("--save", save), ("best epoch's", best)):
        if metrics and other and (same_file(metrics, other) or os.path.abspath(metrics) == os.path.abspath(other)):
            return f"--metrics-out {metrics} is the {flag} file: choose another path"
    if metrics and os.path.isfile(metrics) and not overwrite and not is_metrics_file(metrics):
        return f"{metrics} exists and is not a metrics file: choose another --metrics-out path, or add --overwrite"
    return None
