"""What the lab's Samples view costs the training thread: the sample written at each epoch's
end (tfnp_tui/sampling.py: Sampler.write, 200 tokens after the probe sample), timed alone,
against the epoch it follows, on the text task's default run.

    python benchmarks/bench_samples.py --data FILE
    python benchmarks/bench_samples.py --data FILE --repeats 5 --epochs 2

The run is built as `tfnp-tui --task text --data FILE` builds it (every default); it trains
--epochs epochs first (the sample's cost does not depend on the weights, but this is the
model a learner samples), then the epoch-end sample call is timed --repeats times (best and
median), beside the epoch's other end-of-epoch look (engine/analysis/inside.py: look_inside)
and the epoch's own training time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from engine.analysis.inside import look_inside  # noqa: E402
from engine.generation import Vocabulary  # noqa: E402
from tfnp_tui.cli import build, build_parser  # noqa: E402
from tfnp_tui.sampling import Sampler  # noqa: E402


def timed(call, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, metavar="FILE", help="UTF-8 text for the text task")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1, help="epochs trained before timing (each is timed too)")
    args = p.parse_args()
    trainer = build(build_parser().parse_args(["--task", "text", "--data", args.data])).trainer
    cfg = trainer.model_cfg
    print(f"{datetime.date.today()} {platform.machine()} {os.cpu_count()} cores, numpy; text task on {args.data}: "
          f"V {cfg.vocab_size}, T {cfg.seq_len}, d {cfg.d_model}, L {cfg.n_layers}, H {cfg.n_heads}, "
          f"{cfg.dtype}, {trainer.steps_per_epoch} steps an epoch")  # fmt: skip
    epoch = min(timed(trainer.run_epoch, args.epochs))
    sampler = Sampler(Vocabulary.of_task(trainer.task))
    sample = timed(lambda: sampler.write(trainer, None), args.repeats)
    inside = timed(lambda: look_inside(trainer.model, trainer.task, trainer.probe()), args.repeats)
    print(f"epoch (training alone): {epoch * 1e3:.0f} ms")
    for name, times in ((f"sample, {sampler.tokens} tokens", sample), ("look inside", inside)):
        best = min(times)
        print(f"{name:20} best {best * 1e3:6.1f} ms  median {statistics.median(times) * 1e3:6.1f} ms  "
              f"= {best / epoch:.1%} of the epoch")  # fmt: skip
    print(f"a token: {min(sample) / sampler.tokens * 1e3:.2f} ms (one forward pass of the last {cfg.seq_len} tokens)")


if __name__ == "__main__":
    main()
