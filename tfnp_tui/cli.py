"""The command line: flags -> ModelConfig and TrainConfig -> a Trainer, then either the lab
or (--headless) a plain training run in the terminal.

Every mistake a user can make here (a bad flag, a missing data file, a checkpoint of
another model, a GPU that is not there) ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, fields

from engine import ModelConfig, TrainConfig
from engine.backend import DeviceError, keep_freed_memory
from engine.checkpoint import Checkpoint, CheckpointError
from engine.checkpoint import load as load_checkpoint
from engine.checkpoint import restore as restore_checkpoint
from engine.config import ACTIVATIONS, DEVICES, DTYPES, OPTIMIZERS, SCHEDULES, TASKS
from engine.memory import available_bytes, training_bytes
from engine.tasks import TaskError, make_task
from engine.trainer import Trainer

from .metrics import MetricsLog

PROG = "tfnp-tui"
DEFAULT_SAVE = "tfnp-checkpoint.npz"

# config field -> flag, for messages that name what the user typed
MODEL_FLAGS = {
    "vocab_size": "--vocab", "seq_len": "--seq-len", "d_model": "--d-model", "n_heads": "--heads",
    "n_layers": "--layers", "d_ff": "--d-ff", "causal": "--causal", "norm_first": "--norm-first",
    "activation": "--activation", "dtype": "--dtype",
}  # fmt: skip
TRAIN_FLAGS = {
    "task": "--task", "data": "--data", "samples": "--samples", "val_samples": "--val-samples",
    "optimizer": "--optimizer", "lr": "--lr", "weight_decay": "--weight-decay",
    "batch_size": "--batch-size", "epochs": "--epochs", "seed": "--seed", "clip": "--clip",
    "schedule": "--schedule", "warmup": "--warmup", "device": "--device",
}  # fmt: skip


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message: str):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG,
        description="Train a hand-written NumPy Transformer encoder and watch it learn.",
        epilog="Defaults reproduce the original setup: task next, vocabulary 20, sequence length 4, "
        "d_model 32, d_ff 64, 1 head, 1 post-LN layer, ReLU, SGD.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="train in the terminal without the lab")
    mode.add_argument(
        "--gradcheck",
        action="store_true",
        help="check every gradient of the model (or --load) against finite differences, print the "
        "table and exit: 0 if all pass, 1 if any fails",
    )
    g = p.add_argument_group("task")
    g.add_argument("--task", choices=TASKS, help="what to learn (default next)")
    g.add_argument("--data", metavar="FILE", help="UTF-8 text file for --task text")
    g.add_argument("--samples", type=int, metavar="N", help="training sequences (default per task)")
    g.add_argument("--val-samples", type=int, metavar="N", help="held-out sequences (default per task)")
    g = p.add_argument_group("model")
    g.add_argument("--vocab", type=int, metavar="V", help="vocabulary size (default 20; text: from the file)")
    g.add_argument("--seq-len", type=int, metavar="T", help="sequence length (default 4)")
    g.add_argument("--d-model", type=int, metavar="C", help="model width (default 32)")
    g.add_argument("--heads", type=int, metavar="H", help="attention heads (default 1)")
    g.add_argument("--layers", type=int, metavar="L", help="encoder layers (default 1)")
    g.add_argument("--d-ff", type=int, metavar="F", help="feed-forward width (default 64)")
    g.add_argument(
        "--causal",
        action=argparse.BooleanOptionalAction,
        help="mask attention to later positions (default: on for text only)",
    )
    g.add_argument(
        "--norm-first",
        action=argparse.BooleanOptionalAction,
        help="pre-LN blocks and a final LayerNorm (default: post-LN)",
    )
    g.add_argument("--activation", choices=ACTIVATIONS, help="feed-forward activation (default relu)")
    g.add_argument("--dtype", choices=DTYPES, help="float32 (default) or float64")
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="default sgd")
    g.add_argument("--lr", type=float, help="learning rate (default: sgd 0.01, adam 1e-3)")
    g.add_argument("--weight-decay", type=float, metavar="WD", help="AdamW's decoupled decay (default 0.01)")
    g.add_argument("--batch-size", type=int, metavar="B", help="sequences per step (default per task)")
    g.add_argument("--epochs", type=int, metavar="N", help="epochs to train (default per task)")
    g.add_argument("--seed", type=int, help="seeds the model, the data and the shuffling (default 0)")
    g.add_argument("--clip", type=float, metavar="NORM", help="clip the global gradient norm (default 0: off)")
    g.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default constant)")
    g.add_argument("--warmup", type=int, metavar="STEPS", help="linear warm-up steps (default 0)")
    g.add_argument("--device", choices=DEVICES, help="cpu (default) or gpu (needs CuPy)")
    g = p.add_argument_group("files")
    g.add_argument("--save", metavar="FILE", help=f"checkpoint to write (lab default {DEFAULT_SAVE})")
    g.add_argument("--load", metavar="FILE", help="checkpoint to start from")
    g.add_argument("--metrics-out", metavar="FILE", help="write one JSON line per epoch")
    return p


@dataclass
class Setup:
    """Everything a run needs, built from the flags."""

    trainer: Trainer
    save: str | None
    metrics_out: str | None
    loaded: Checkpoint | None

    def metrics_log(self) -> MetricsLog | None:
        """--metrics-out's log: a run that goes on from a checkpoint appends to it."""
        if self.metrics_out is None:
            return None
        return MetricsLog(self.metrics_out, append=self.trainer.step_count > 0)


def writable(path: str, replaced: bool = False) -> str | None:
    """Why `path` cannot be written, or None if it can (checked before a long run, not after).
    replaced: the file is written beside itself and renamed over (a checkpoint), so its
    folder must be writable too; otherwise an existing file need only be writable itself."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{path}: is a directory"
    if not os.path.isdir(folder):
        return f"{path}: the folder {folder} does not exist"
    exists = os.path.exists(path)
    if (exists and not os.access(path, os.W_OK)) or ((replaced or not exists) and not os.access(folder, os.W_OK)):
        return f"{path}: cannot be written (permission denied)"
    return None


def given(args: argparse.Namespace, flags: dict[str, str]) -> dict:
    """{config field: value} for the flags the user actually typed."""
    return {f: getattr(args, flag[2:].replace("-", "_")) for f, flag in flags.items()
            if getattr(args, flag[2:].replace("-", "_")) is not None}  # fmt: skip


def name_flag(err: Exception) -> str:
    """'lr: must be positive' -> '--lr: must be positive'."""
    text = str(err)
    field, sep, rest = text.partition(": ")
    flag = MODEL_FLAGS.get(field) or TRAIN_FLAGS.get(field)
    return f"{flag}: {rest}" if sep and flag else text


def build(args: argparse.Namespace) -> Setup:
    """Flags (and --load) -> configs -> Trainer. UsageError for anything wrong."""
    model_given, train_given = given(args, MODEL_FLAGS), given(args, TRAIN_FLAGS)
    problem = args.metrics_out and writable(args.metrics_out)  # before a long run, not after it
    if problem:
        raise UsageError(problem)
    ckpt = None
    try:
        if args.load:
            ckpt = load_checkpoint(args.load)
            model_kw = checked_against_checkpoint(ckpt, model_given)
            train_kw = resumed_train_config(ckpt.train, train_given)
        else:
            model_kw, train_kw = dict(model_given), dict(train_given)
        ModelConfig(**model_kw)  # a bad size is named before the task is built with it
        train_cfg = TrainConfig(**train_kw)
        task = make_task_for(train_cfg, model_kw, ckpt)
        model_kw = fit_model_to_task(model_kw, model_given, task)
        if ckpt is not None and task.chars is not None and ckpt.task.get("chars") not in (None, task.chars):
            raise UsageError(f"{train_cfg.data} has other characters than the text {ckpt.path} was trained on")
        model_cfg = ModelConfig(**model_kw)
        check_memory(model_cfg, train_cfg)
        trainer = Trainer(model_cfg, train_cfg, task=task)
        if ckpt is not None:  # on another task, the weights start a new run
            restore_checkpoint(trainer, ckpt, position=train_cfg.task == ckpt.train.get("task"))
    except (CheckpointError, TaskError, DeviceError) as err:
        raise UsageError(str(err)) from None
    except ValueError as err:
        raise UsageError(name_flag(err)) from None
    except MemoryError:
        raise UsageError("not enough memory for this model: try a smaller one") from None
    return Setup(trainer, args.save, args.metrics_out, ckpt)


# a saved setting that only made sense with the saved task or optimizer
FOLLOWS = {"task": ("samples", "val_samples", "batch_size", "epochs", "data"), "optimizer": ("lr",)}


def resumed_train_config(saved: dict, train_given: dict) -> dict:
    """The checkpoint's training settings with the flags typed now on top; another --task or
    --optimizer brings its own defaults instead of the saved sizes or learning rate."""
    kw = {f.name: saved[f.name] for f in fields(TrainConfig) if f.name in saved}
    for field, followers in FOLLOWS.items():
        if field in train_given and train_given[field] != saved.get(field):
            for follower in followers:
                kw.pop(follower, None)
    return {**kw, **train_given}


def make_task_for(train_cfg: TrainConfig, model_kw: dict, ckpt: Checkpoint | None):
    """The task; a text file that a checkpoint names but is not where it was is said so."""
    try:
        return make_task(train_cfg, model_kw.get("vocab_size", 20), model_kw.get("seq_len", 4))
    except TaskError as err:
        if ckpt is not None and train_cfg.data == ckpt.train.get("data"):
            raise TaskError(f"{err} (the text {ckpt.path} was trained on: give its place with --data)") from None
        raise


def check_memory(model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Refuse a model that cannot fit in this machine's memory, before allocating it."""
    have = available_bytes()
    if train_cfg.device != "cpu" or have is None:
        return
    need = training_bytes(model_cfg, train_cfg.batch_size, train_cfg.optimizer, train_cfg.val_samples)
    if need > have:
        raise UsageError(
            f"this model needs about {need / 2**30:,.1f} GiB to train, more than the {have / 2**30:,.1f} GiB "
            "available: try a smaller --batch-size, --seq-len, --d-model or --layers"
        )


def checked_against_checkpoint(ckpt: Checkpoint, model_given: dict) -> dict:
    """The checkpoint's model config; a flag that contradicts it is an error (dtype may change)."""
    saved = ckpt.model_cfg.to_dict()
    for field, value in model_given.items():
        if field != "dtype" and saved[field] != value:
            raise UsageError(
                f"{ckpt.path} holds a model with {field} {saved[field]}, but {MODEL_FLAGS[field]} {value} was given"
            )
    return {**saved, **model_given}


def fit_model_to_task(model_kw: dict, model_given: dict, task) -> dict:
    """The text task brings its own vocabulary and needs a causal model."""
    if task.name != "text":
        return model_kw
    if "vocab_size" in model_given and model_given["vocab_size"] != task.vocab_size:
        raise UsageError(f"--vocab: the text task takes its vocabulary from the file ({task.vocab_size} characters)")
    if model_given.get("causal") is False:
        raise UsageError(
            "--no-causal: the text task needs a causal model, or it reads the next character off its input"
        )
    return {**model_kw, "vocab_size": task.vocab_size, "causal": True}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tfnp-tui` and `python -m tfnp_tui`."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        setup = build(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    keep_freed_memory()  # a training step's large temporaries are reused, not page-faulted back in
    if args.gradcheck:
        from .check import run_gradcheck

        return run_gradcheck(setup)
    if args.headless:
        from .headless import run_headless

        return run_headless(setup)
    from .app import run_lab

    return run_lab(setup)
