"""Kernel launches and host transfers per training step on the GPU path, counted without a
GPU: the engine runs on the CuPy stand-in of the tests (tests/engine/fake_cupy.py), which
counts every kernel a real CuPy would launch (each ufunc, reduction, gather, array function
and fused function) and every copy between host and device.

    python benchmarks/count_launches.py                 # the reverse task's model and a larger copy model
    python benchmarks/count_launches.py --steps 20

A count, not a time: on a GPU a small model's step is bound by how many kernels Python
launches (about 5-10 us each), so fewer launches is the aim (issue 13).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from bench_trainer import SETUPS  # noqa: E402  the issue's two setups, as bench_trainer.py times them

from engine import ModelConfig, TrainConfig  # noqa: E402
from engine.training.trainer import Trainer  # noqa: E402
from tests.engine import fake_cupy  # noqa: E402


def count(name: str, steps: int) -> dict:
    model, train = SETUPS[name]
    cupy, cupyx = fake_cupy.make_modules()
    sys.modules["cupy"], sys.modules["cupyx"] = cupy, cupyx
    trainer = Trainer(ModelConfig(**model), TrainConfig(**train, device="gpu"))
    trainer.step()  # the first step makes the optimizer's state and the epoch's order
    steps = min(steps, trainer.steps_per_epoch - 2)  # inside one epoch
    fake_cupy.COUNTS.clear()
    for _ in range(steps):
        trainer.step(report=False)
    counts = {k: v / steps for k, v in fake_cupy.COUNTS.items()}
    fake_cupy.COUNTS.clear()
    trainer.step()
    counts["to_host with a report"] = fake_cupy.COUNTS["to_host"]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(f"{'setup':<8} {'launches/step':>14} {'to_host/step':>13} {'to_device/step':>15} {'to_host, report':>16}")
    for name in SETUPS:
        c = count(name, args.steps)
        print(f"{name:<8} {c.get('launches', 0):>14.0f} {c.get('to_host', 0):>13.0f} "
              f"{c.get('to_device', 0):>15.0f} {c['to_host with a report']:>16}")  # fmt: skip


if __name__ == "__main__":
    main()
