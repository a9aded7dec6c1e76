"""`tfnp-tui --load FILE --export OUT.safetensors`: the checkpoint's weights under the names of
PyTorch's nn.TransformerEncoder (engine/export.py), in the safetensors format.

It needs the checkpoint alone: no task, no data file. Every refusal is one line on stderr and
exit status 2: the [export] extra not installed, a missing or corrupt checkpoint, an OUT that
cannot be written, that is the --load file or that exists already (replaced only with
--overwrite, an earlier export too), and flags that would mean nothing here.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine.export import SUFFIX, ExportError, require_safetensors, write
from engine.training.checkpoint import CheckpointError
from engine.training.checkpoint import load as load_checkpoint

from .files import same_file, writable
from .flags import UsageError, refuse_flags
from .setup import PROG


def run_export(args: argparse.Namespace) -> int:
    """Write --load's weights to --export OUT; the exit status (0 written, 2 refused)."""
    try:
        refuse_flags(args, "export")  # only --overwrite goes with it: the others would change nothing in the file
        require_safetensors()  # before anything is read: the one-line fix comes first
        out = args.export
        problem = out_problem(out, args.load, args.overwrite)
        if problem:
            raise UsageError(problem)
        ckpt = load_checkpoint(args.load)
        task = ckpt.task or {"name": ckpt.train.get("task"), "chars": None}
        state = write(out, ckpt.params, ckpt.model_cfg, task)
    except (UsageError, ExportError, CheckpointError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    n_params = sum(a.size for a in state.values())
    size = os.path.getsize(out)
    print(
        f"wrote {out}: {len(state)} tensors, {n_params:,} parameters (float32, {size / 1024:,.1f} KiB) "
        "under nn.TransformerEncoder's names, the model config in its metadata 'tfnp'"
    )
    return 0


def out_problem(out: str, load: str, overwrite: bool) -> str | None:
    """What is wrong with OUT, or None: it must end in .safetensors, be writable, not be the
    --load file, and not replace any file without --overwrite (an earlier export is the user's too)."""
    if not out.strip():
        return "--export: the file name is empty"
    if not out.lower().endswith(SUFFIX) or os.path.basename(out).lower() == SUFFIX:
        return f"--export {out}: the file name must end in {SUFFIX} (e.g. model{SUFFIX})"
    problem = writable(out)
    if problem:
        return problem
    if same_file(out, load):
        return f"--export {out} is the --load file: choose another path"
    if os.path.lexists(out) and not os.path.isfile(out):
        return f"{out}: not a plain file (the export is written beside it and renamed over it)"
    if os.path.lexists(out) and not overwrite:
        return f"{out} already exists: choose another path, or add --overwrite to replace it"
    return None
