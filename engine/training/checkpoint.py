"""Checkpoints: one .npz holding the parameters under their pinned names, the optimizer's
flat state arrays under "optimizer/<kind>" (optimizer/velocity, optimizer/m, optimizer/s),
and the configs and training position as JSON under "meta.json".

Writes are atomic: the file is written beside its target under a temporary name, synced,
then renamed over it, so a crash never leaves half a checkpoint. Loads never unpickle
(allow_pickle=False): a checkpoint from a stranger can never run code. Every failure is a
CheckpointError that names the file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ModelConfig
from ..params import param_shapes
from ..runtime import files
from ..runtime.backend import to_numpy
from ..runtime.files import read_error

FORMAT = "tfnp-checkpoint"
VERSION = 1
META = "meta.json"
OPTIMIZER = "optimizer/"
# model settings that own no parameters: a new run may change them and keep the weights
PARAMETER_FREE = ("causal", "activation", "dtype")


class CheckpointError(ValueError):
    """A checkpoint cannot be written, read, or used with this model."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds, on the host."""

    path: str
    model_cfg: ModelConfig
    train: dict  # TrainConfig fields as saved
    position: dict  # Trainer.position()
    task: dict  # {"name": ..., "chars": ...}: the text task's vocabulary travels with it
    params: dict[str, np.ndarray]
    optimizer_state: dict[str, np.ndarray]


def save(path: str | os.PathLike, trainer) -> None:
    """Write the trainer's model, optimizer state and position to `path` atomically."""
    write_atomic(Path(path), contents(trainer))


def contents(trainer) -> dict[str, np.ndarray]:
    """What `save` writes, as host copies that the trainer's next steps leave alone (so
    another thread can write them while training goes on: the lab's best epoch)."""
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": trainer.model_cfg.to_dict(),
        "train": trainer.train_cfg.to_dict(),
        "position": trainer.position(),
        "task": {"name": trainer.task.name, "chars": trainer.task.chars},
    }
    arrays = trainer.model.params_numpy()  # a copy
    for key, value in trainer.optimizer.state_arrays().items():
        host = to_numpy(value)
        arrays[OPTIMIZER + key] = host.copy() if host is value else host  # the optimizer reuses its buffers
    arrays[META] = np.array(json.dumps(meta))
    return arrays


def write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez into a temporary file beside `path`, then rename it over `path`."""
    try:
        files.write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as err:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({err.strerror or err})") from None


def load(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by `save`; CheckpointError names the file and the fault."""
    path = str(path)
    try:
        file = open(path, "rb")  # closed by the with below
    except OSError as err:
        raise CheckpointError(read_error(path, err, "a checkpoint")) from None
    with file:
        try:
            archive = np.load(file, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):  # a lone .npy array
                raise CheckpointError(f"{path}: a single array, not a tfnp checkpoint (.npz)")
            with archive:
                arrays = {key: archive[key] for key in archive.files}
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, ValueError):  # numpy's own words would suggest unpickling: never
            raise CheckpointError(
                f"{path}: not a readable tfnp checkpoint (not an .npz archive of plain arrays)"
            ) from None
        except (OSError, EOFError, KeyError) as err:
            raise CheckpointError(f"{path}: not a readable tfnp checkpoint ({err})") from None
    meta = _meta(path, arrays)
    try:
        model_cfg = ModelConfig(**meta["model"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its model config is invalid ({err})") from None
    params = {}
    for name, shape in param_shapes(model_cfg).items():
        value = arrays.get(name)
        if value is None:
            raise CheckpointError(f"{path}: parameter {name} is missing")
        if value.shape != shape or value.dtype.kind != "f":
            raise CheckpointError(f"{path}: parameter {name} is {value.dtype} {value.shape}, expected {shape}")
        if not np.isfinite(value).all():
            raise CheckpointError(f"{path}: parameter {name} holds values that are not finite")
        params[name] = value
    state = {k[len(OPTIMIZER) :]: v for k, v in arrays.items() if k.startswith(OPTIMIZER)}
    for kind, value in state.items():
        if value.dtype.kind != "f" or not np.isfinite(value).all():
            raise CheckpointError(f"{path}: optimizer state {kind} is not an array of finite numbers")
    return Checkpoint(path, model_cfg, meta["train"], meta["position"], meta["task"], params, state)


def _meta(path: str, arrays: dict) -> dict:
    raw = arrays.get(META)
    if raw is None or raw.dtype.kind != "U" or raw.ndim != 0:
        raise CheckpointError(f"{path}: not a tfnp checkpoint (no {META} record)")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: its {META} record is corrupt ({err})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its {META} record is not a JSON object")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tfnp checkpoint (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')} is not {VERSION}")
    meta.setdefault("task", {})
    for key in ("model", "train", "position", "task"):
        if not isinstance(meta.get(key), dict):
            raise CheckpointError(f"{path}: its {META} record's {key!r} section is missing or not an object")
    return meta


def mismatch(saved: ModelConfig, wanted: ModelConfig, free: tuple[str, ...] = ("dtype",)) -> list[str]:
    """The fields where two model configs differ, as 'field saved -> wanted' phrases, but
    for the `free` ones (dtype always may differ: parameters are cast on load)."""
    a, b = saved.to_dict(), wanted.to_dict()
    return [f"{k} is {a[k]} in the checkpoint but {b[k]} here" for k in a if k not in free and a[k] != b[k]]


def restore(trainer, ckpt: Checkpoint, position: bool = True) -> None:
    """Load the checkpoint's parameters, optimizer state and position into `trainer`; with
    position=False the parameters only (a new run that starts from trained weights, which
    may change what owns no parameters: PARAMETER_FREE)."""
    differences = mismatch(ckpt.model_cfg, trainer.model_cfg, ("dtype",) if position else PARAMETER_FREE)
    if differences:
        raise CheckpointError(f"{ckpt.path}: another model: " + "; ".join(differences))
    same_optimizer = ckpt.train.get("optimizer") == trainer.train_cfg.optimizer
    try:  # another optimizer starts with fresh state: the saved moments mean nothing to it
        if position:
            trainer.restore(ckpt.position, ckpt.optimizer_state if same_optimizer else None)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{ckpt.path}: its training position is corrupt ({err})") from None
    model = trainer.model  # the parameters were checked by load(): shapes, dtype kind, finite
    model.flat[...] = trainer.xp.asarray(model.layout.flatten(ckpt.params), dtype=model.flat.dtype)
