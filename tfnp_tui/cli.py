"""The command line: flags (flags.py) -> ModelConfig and TrainConfig -> a Trainer, then the
mode they ask for: the lab, a plain training run in the terminal (--headless), the gradient
check (--gradcheck) or the heads' table (--inspect-heads).

Every mistake a user can make here (a bad flag, a missing data file, a checkpoint of
another model, a GPU that is not there) ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from engine import ModelConfig, TrainConfig
from engine.config import model_defaults
from engine.runtime.backend import DeviceError
from engine.runtime.memory import available_bytes, training_bytes
from engine.training.checkpoint import PARAMETER_FREE, Checkpoint, CheckpointError
from engine.training.checkpoint import load as load_checkpoint
from engine.training.checkpoint import restore as restore_checkpoint
from engine.training.tasks import TaskError, make_task
from engine.training.trainer import Trainer

from .files import files_problem
from .flags import MODEL_FLAGS, TRAIN_FLAGS, UsageError, build_parser, check_modes, given, name_flag
from .malloc import keep_freed_memory
from .setup import PROG, Setup

__all__ = ["build", "build_parser", "main", "run"]


def build(args: argparse.Namespace) -> Setup:
    """Flags (and --load) -> configs -> Trainer. UsageError for anything wrong."""
    model_given, train_given = given(args, MODEL_FLAGS), given(args, TRAIN_FLAGS)
    if not (args.gradcheck or args.inspect_heads):  # they write nothing
        check_files(args)  # before a long run, not after it
    compared = compared_runs(args.compare)
    ckpt = None
    try:
        if args.load:
            ckpt = load_checkpoint(args.load)
            train_kw = resumed_train_config(ckpt.train, train_given)
            new_task = train_kw.get("task", "next") != ckpt.train.get("task")
            model_kw = checked_against_checkpoint(ckpt, model_given, new_task)
        else:
            task = train_given.get("task", "next")
            model_kw, train_kw = {**model_defaults(task), **model_given}, dict(train_given)
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
            if "lr" in train_given:  # a rate typed now is the rate: the saved factor on it is dropped
                trainer.lr_scale = 1.0
    except (CheckpointError, TaskError, DeviceError) as err:
        raise UsageError(str(err)) from None
    except ValueError as err:
        raise UsageError(name_flag(err)) from None
    except MemoryError:
        raise UsageError("not enough memory for this model: try a smaller one") from None
    return Setup(trainer, args.save, args.metrics_out, ckpt, compare=compared)


def compared_runs(paths: list[str] | None) -> tuple:
    """--compare's runs, read before anything is built: a missing or non-metrics file is a UsageError."""
    if not paths:
        return ()
    from .runs import RunsError, read_runs

    try:
        return tuple(read_runs(paths))
    except RunsError as err:
        raise UsageError(f"--compare: {err}") from None


def check_files(args: argparse.Namespace) -> None:
    """The files the flags name can be written and replace nothing of the user's (files.py)."""
    problem = files_problem(args.save, args.metrics_out, args.load, args.data, args.overwrite)
    if problem:
        raise UsageError(problem)


# a saved setting that only made sense with the saved task or optimizer
FOLLOWS = {
    "task": ("samples", "val_samples", "batch_size", "epochs", "data", "optimizer", "lr", "schedule"),
    "optimizer": ("lr",),
}


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
    need = training_bytes(
        model_cfg, train_cfg.batch_size, train_cfg.optimizer, train_cfg.val_samples, train_cfg.dropout > 0
    )
    if need > have:
        raise UsageError(
            f"this model needs about {need / 2**30:,.1f} GiB to train, more than the {have / 2**30:,.1f} GiB "
            "available: try a smaller --batch-size, --seq-len, --d-model or --layers"
        )


def checked_against_checkpoint(ckpt: Checkpoint, model_given: dict, new_task: bool) -> dict:
    """The checkpoint's model config; a flag that contradicts it is an error (dtype may change).
    A new task takes what has no parameters (the causal mask, the activation) from its own
    needs and the command line, not from the run the weights come from."""
    saved = ckpt.model_cfg.to_dict()
    free = PARAMETER_FREE if new_task else ("dtype",)
    for field, value in model_given.items():
        if field not in free and saved[field] != value:
            raise UsageError(
                f"{ckpt.path} holds a model with {field} {saved[field]}, but {MODEL_FLAGS[field]} {value} was given"
            )
    if new_task:
        saved["causal"] = False  # the new task's need decides (fit_model_to_task), or the flag
    return {**saved, **model_given}


def fit_model_to_task(model_kw: dict, model_given: dict, task) -> dict:
    """A task that reads a file brings its own vocabulary; one that needs a causal model gets one."""
    if task.rules.reads_file:
        if "vocab_size" in model_given and model_given["vocab_size"] != task.vocab_size:
            raise UsageError(
                f"--vocab: the {task.name} task takes its vocabulary from the file ({task.vocab_size} characters)"
            )
        model_kw = {**model_kw, "vocab_size": task.vocab_size}
    if task.needs_causal:
        if model_given.get("causal") is False:
            raise UsageError(
                f"--no-causal: the {task.name} task needs a causal model, or it reads the answer off its input"
            )
        model_kw = {**model_kw, "causal": True}
    return model_kw


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tfnp-tui` and `python -m tfnp_tui`."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # Ctrl+C while the model is built or checked: one line, no traceback
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped reading (`| head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor at exit, when Python flushes
        return 0


def run(argv: list[str]) -> int:
    """Parse, build, and run the mode the flags ask for; the exit status."""
    if argv[:1] == ["compare"]:  # a command of its own: tfnp-tui compare A.jsonl B.jsonl ...
        from .compare import run_compare

        return run_compare(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        if args.inject == "list":
            from .check import list_bugs

            return list_bugs()
        check_modes(args)
        if args.generate is not None:  # these read the checkpoint alone: no task, no data file
            from .generate import run_generate

            return run_generate(args)
        if args.export is not None:
            from .export import run_export

            return run_export(args)
        setup = build(args)
    except SystemExit as done:  # --help and --version print and stop here
        return int(done.code or 0)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    keep_freed_memory()  # the trainer's and optimizer's temporaries are reused, not page-faulted back in
    if args.gradcheck:
        from .check import run_gradcheck

        return run_gradcheck(setup, args.inject)
    if args.inspect_heads:
        from .inspect_heads import run_inspect_heads

        return run_inspect_heads(setup, args.json)
    if args.headless:
        from .headless import run_headless

        return run_headless(setup)
    from .app import run_lab

    return run_lab(setup)
