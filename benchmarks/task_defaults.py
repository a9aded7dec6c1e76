"""Does every task learn with its defaults? Trains each task exactly as `tfnp-tui --headless
--task X` would with no other flag (engine/config.py: TASK_DEFAULTS, model_defaults) and
prints one row per task and seed: epochs, seconds, final val_loss and val_acc.

    python benchmarks/task_defaults.py --data FILE              # every task, seed 0
    python benchmarks/task_defaults.py --data FILE --seeds 0 1 2
    python benchmarks/task_defaults.py --tasks sort --seeds 0 1 2

For the text task it also prints the held-out loss of a character bigram model fitted to the
same training split (add-one smoothing): the bar the Transformer has to clear. The bigram
loss is over every next character of the validation split; the model's val_loss is over
windows whose first positions see little context, so the comparison does not favour the model.
Seconds are wall-clock on a possibly shared machine: noisy.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from engine import ModelConfig, TrainConfig  # noqa: E402
from engine.config import TASKS, model_defaults  # noqa: E402
from engine.training.task_rules import TASK_RULES  # noqa: E402
from engine.training.tasks import TEXT_TRAIN_FRACTION, make_task, read_text  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402
from tfnp_tui.malloc import keep_freed_memory  # noqa: E402

HEADER = "{:8} {:>4} {:>9} {:>6} {:>6} {:>7} {:>8} {:>8}"  # task seed optimizer lr epochs seconds val_loss val_acc


def bigram_loss(path: str) -> float:
    """Held-out cross-entropy (nats per character) of an add-one-smoothed bigram model
    counted on the text task's training split and scored on its validation split."""
    text = read_text(path)
    index = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = np.array([index[c] for c in text])  # (N,)
    split = int(len(ids) * TEXT_TRAIN_FRACTION)  # the same split as engine/training/tasks.py
    train, val = ids[:split], ids[split:]
    counts = np.ones((len(index), len(index)))  # (V, V) add-one: every pair seen once already
    np.add.at(counts, (train[:-1], train[1:]), 1)
    probs = counts / counts.sum(axis=1, keepdims=True)  # P(next | previous)
    return float(-np.log(probs[val[:-1], val[1:]]).mean())


def train_with_defaults(task: str, seed: int, data: str | None) -> dict:
    """One default run, as the command line builds it; the last epoch's figures."""
    reads_file = TASK_RULES[task].reads_file
    train_cfg = TrainConfig(task=task, seed=seed, data=data if reads_file else None)
    model_kw = model_defaults(task)
    built = make_task(train_cfg, model_kw.get("vocab_size", 20), model_kw.get("seq_len", 4))
    if reads_file:  # the text task takes its vocabulary from the file
        model_kw["vocab_size"] = built.vocab_size
    trainer = Trainer(ModelConfig(**model_kw), train_cfg, task=built)
    start = time.perf_counter()
    while not trainer.finished:
        report = trainer.run_epoch()
    return dict(epochs=report.epoch, seconds=time.perf_counter() - start, val_loss=report.val_loss,
                val_acc=report.val_acc, optimizer=train_cfg.optimizer, lr=train_cfg.lr)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", metavar="FILE", help="UTF-8 text for the text task (without it, text is skipped)")
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = p.parse_args()
    keep_freed_memory()  # as tfnp-tui does
    print(f"{datetime.date.today()}  {platform.machine()}, {os.cpu_count()} cores  "
          f"Python {platform.python_version()}  NumPy {np.__version__}")  # fmt: skip
    if args.data:
        print(f"text: {args.data} ({os.path.getsize(args.data):,} bytes), "
              f"bigram held-out loss {bigram_loss(args.data):.4f}")  # fmt: skip
    print(HEADER.format("task", "seed", "optimizer", "lr", "epochs", "seconds", "val_loss", "val_acc"))
    for task in args.tasks:
        if TASK_RULES[task].reads_file and not args.data:
            print(f"{task:8} (skipped: give --data FILE)")
            continue
        for seed in args.seeds:
            r = train_with_defaults(task, seed, args.data)
            row = (task, seed, r["optimizer"], f"{r['lr']:.0e}", r["epochs"], f"{r['seconds']:.1f}",
                   f"{r['val_loss']:.4f}", f"{r['val_acc']:.2%}")  # fmt: skip
            print(HEADER.format(*row), flush=True)


if __name__ == "__main__":
    main()
