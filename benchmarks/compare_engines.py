"""The engine of this checkout against the engine of an earlier commit, on the CPU, in one process.

    python benchmarks/compare_engines.py 78812cb                  # seed, seed-b32, mid
    python benchmarks/compare_engines.py 78812cb --configs big --rounds 8

Separate benchmark runs on a shared machine differ by 5-10% from one minute to the next, more
than most changes to the engine. Here both engines are loaded side by side (the earlier one
from `git archive`, as the package engine_<commit>) and timed in alternating rounds of a few
steps each, so that a slow spell slows both alike; each round gives a ratio, and the figure
is the median of the rounds' ratios, with their interquartile range.

Two closures for each engine, as bench_engine.py times them: fwd+bwd (model.loss_and_grads)
and a step (forward, backward and one Adam update over the flat parameter vector, the way
that engine's trainer does it). float32, with tfnp-tui's malloc setting (tfnp_tui/malloc.py).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(__file__))

from bench_engine import CONFIGS, engine_step  # noqa: E402

from tfnp_tui.malloc import keep_freed_memory  # noqa: E402

ROUND_SECONDS = 0.03  # short rounds: a slow spell of the machine falls on both engines alike


def load_engine_of(commit: str, into: str):
    """The package `engine` as it was at `commit`, imported as engine_<commit> (the engine's own
    imports are relative, so it runs under any name)."""
    name = "engine_" + "".join(c for c in commit if c.isalnum())
    archive = subprocess.run(["git", "-C", ROOT, "archive", commit, "engine"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    os.rename(os.path.join(into, "engine"), os.path.join(into, name))
    sys.path.insert(0, into)
    return importlib.import_module(name)


def closures(lib, config: str) -> dict:
    """{"fwd+bwd": ..., "step": ...} for the engine package `lib` at `config`, as bench_engine.py times them."""
    fwd_bwd, step, _, _ = engine_step(config, "cpu", lib)
    return {"fwd+bwd": fwd_bwd, "step": step}


def compare(earlier, now, rounds: int) -> tuple[float, float, list[float]]:
    """(median seconds earlier, median seconds now, sorted ratios now / earlier, one a round).
    A round runs each about ROUND_SECONDS."""
    for fn in (earlier, now):
        for _ in range(3):
            fn()
    start = time.perf_counter()
    earlier()
    steps = max(1, round(ROUND_SECONDS / (time.perf_counter() - start)))
    times: dict[int, list[float]] = {0: [], 1: []}
    for r in range(rounds):
        order = ((0, earlier), (1, now)) if r % 2 else ((1, now), (0, earlier))  # neither always first
        for i, fn in order:
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            times[i].append((time.perf_counter() - start) / steps)
    ratios = sorted(b / a for a, b in zip(times[0], times[1]))
    return statistics.median(times[0]), statistics.median(times[1]), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commit", help="the earlier commit (anything git names: a hash, a tag, HEAD~3)")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=["seed", "seed-b32", "mid"])
    parser.add_argument("--rounds", type=int, default=40, help="alternating rounds (default 40)")
    args = parser.parse_args()
    keep_freed_memory()
    import engine

    with tempfile.TemporaryDirectory() as tmp:
        try:
            earlier = load_engine_of(args.commit, tmp)
        except subprocess.CalledProcessError as err:
            why = err.stderr.decode().strip()
            print(f"compare_engines.py: error: git archive {args.commit}: {why}", file=sys.stderr)
            sys.exit(2)
        print(f"# {time.strftime('%Y-%m-%d')}  now / {args.commit}: the median of {args.rounds} rounds' ratios "
              f"(interquartile range); below 1: now is faster")  # fmt: skip
        print(f"{'config':10} {'':8} {args.commit:>12} {'now':>12}  now / earlier")
        for config in args.configs:
            ours, theirs = closures(engine, config), closures(earlier, config)
            for kind in ("fwd+bwd", "step"):
                a, b, ratios = compare(theirs[kind], ours[kind], args.rounds)
                q = len(ratios) // 4
                ratio = f"{statistics.median(ratios):.3f} ({ratios[q]:.3f}-{ratios[-1 - q]:.3f})"
                print(f"{config:10} {kind:8} {a * 1e3:9.3f} ms {b * 1e3:9.3f} ms  {ratio}", flush=True)


if __name__ == "__main__":
    main()
