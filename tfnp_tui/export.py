"""`tfnp-tui --load FILE --export OUT.safetensors`: the checkpoint's weights under the names of
PyTorch's nn.TransformerEncoder (engine/export.py), in the safetensors format.

It needs the checkpoint alone: no task, no data file. Every refusal is one line on stderr and
exit status 2: the [export] extra not installed, a missing or corrupt checkpoint, an OUT that
cannot be written or that is a file of the user's (replaced only with --overwrite; an earlier
export is replaced without asking), and flags that would mean nothing here.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine.export import SUFFIX, ExportError, read_metadata, require_safetensors, write
from engine.training.checkpoint import CheckpointError
from engine.training.checkpoint import load as load_checkpoint

from .files import same_file, writable
from .flags import MODEL_FLAGS, TRAIN_FLAGS, UsageError, given
from .setup import PROG

# flags that are not config fields and mean nothing to an export
FILE_FLAGS = {"save": "--save", "metrics_out": "--metrics-out"}


def run_export(args: argparse.Namespace) -> int:
    """Write --load's weights to --export OUT; the exit status (0 written, 2 refused)."""
    try:
        check_flags(args)
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


def check_flags(args: argparse.Namespace) -> None:
    """Only --load and --overwrite go with --export: a model or training flag, --save or
    --metrics-out would change nothing in the file, so it is refused, not ignored."""
    flags = {**MODEL_FLAGS, **TRAIN_FLAGS}
    typed = [flags[f] if v is not False else "--no-" + flags[f][2:] for f, v in given(args, flags).items()]
    typed += [flag for field, flag in FILE_FLAGS.items() if getattr(args, field) is not None]
    if typed:
        raise UsageError(
            f"{typed[0]}: means nothing with --export, which writes the model of --load as it is "
            "(only --overwrite goes with it)"
        )


def out_problem(out: str, load: str, overwrite: bool) -> str | None:
    """What is wrong with OUT, or None: it must end in .safetensors, be writable, not be the
    --load file, and not replace a file of the user's (an earlier export is ours to replace)."""
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
    if os.path.lexists(out) and not overwrite and read_metadata(out) is None:
        return f"{out} already exists and is not a tfnp export: choose another path, or add --overwrite to replace it"
    return None
