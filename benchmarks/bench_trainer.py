"""What the trainer costs on top of the model: trainer.step() against a bare step, and the
share of a headless run spent at the epochs' ends (evaluation and the probe).

    python benchmarks/bench_trainer.py                 # on the CPU
    python benchmarks/bench_trainer.py --device gpu    # on CuPy (benchmarks/gpu_check.sh runs it)

A bare step is the model's forward and backward, the flat gradient and the optimizer's update
taken, nothing else. trainer.step(report=False) adds the batch, the per-step figures kept on
the device and the refusal of a step that is not finite. Times are medians, synchronised.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from bench_engine import median_time, syncer  # noqa: E402

from engine import ModelConfig, TrainConfig  # noqa: E402
from engine.runtime import fused  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402

SETUPS = {  # the two setups: the reverse task's model, and a copy model of some size
    "reverse": (dict(seq_len=8, n_heads=2, n_layers=2), dict(task="reverse", optimizer="adam", batch_size=32)),
    "copy": (dict(vocab_size=256, seq_len=128, d_model=256, n_heads=8, n_layers=4, d_ff=1024),
             dict(task="copy", optimizer="adam", batch_size=32, samples=2048, val_samples=64)),
}  # fmt: skip


def timed(fn, sync, runs: int) -> float:
    """Median seconds of fn() over `runs`, after warm-up calls."""
    return median_time(fn, sync, 0, min_runs=runs)


def step_costs(name: str, device: str, runs: int) -> tuple[float, float]:
    model_kw, train_kw = SETUPS[name]
    trainer = Trainer(ModelConfig(**model_kw), TrainConfig(**train_kw, device=device, epochs=1000))
    model, sync = trainer.model, syncer(trainer.xp, device)
    tokens, targets = trainer.batch(0)

    def bare():
        _, grads, _ = model.forward_backward(tokens, targets)
        g = model.layout.flatten(grads)
        u = trainer.optimizer.updates(model.flat, g, 1e-4)
        trainer.optimizer.commit()
        model.flat -= u

    def step():
        if (trainer.step_count + 1) % trainer.steps_per_epoch == 0:
            trainer.step_count += 1  # stay inside an epoch: epoch ends are measured apart
        trainer.step(report=False)

    return timed(bare, sync, runs), timed(step, sync, runs)


def epoch_end_share(device: str, epochs: int) -> tuple[float, float]:
    """(wall seconds of a headless-like reverse run of `epochs`, seconds of it at epoch ends)."""
    model_kw, train_kw = SETUPS["reverse"]
    trainer = Trainer(ModelConfig(**model_kw), TrainConfig(**train_kw, device=device, epochs=epochs))
    sync = syncer(trainer.xp, device)
    real_end, at_ends = trainer._end_epoch, []

    def end_epoch(last):
        sync()
        start = time.perf_counter()
        report = real_end(last)
        sync()
        at_ends.append(time.perf_counter() - start)
        return report

    trainer._end_epoch = end_epoch
    start = time.perf_counter()
    while not trainer.finished:
        trainer.step(report=False)
    sync()
    return time.perf_counter() - start, sum(at_ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    args = parser.parse_args()
    print(f"# trainer.step(report=False) against a bare step, {args.device}, median of {args.runs}")
    for name in args.setups:
        bare, step = step_costs(name, args.device, args.runs)
        print(f"{name:<8} bare {bare * 1e3:8.2f} ms   trainer.step {step * 1e3:8.2f} ms   ratio {step / bare:5.2f}")
    wall, ends = epoch_end_share(args.device, args.epochs)
    print(
        f"# a reverse run of {args.epochs} epochs: {wall:.2f} s, at the epochs' ends {ends:.2f} s ({ends / wall:.0%})"
    )
    if args.device == "gpu":
        print(f"# fused passes that cupy.fuse refused (run unfused): {fused.FELL_BACK or 'none'}")


if __name__ == "__main__":
    main()
