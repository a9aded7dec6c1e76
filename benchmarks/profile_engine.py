"""Where a training step spends its time: cProfile over repeated forward+backward+Adam steps.

    python benchmarks/profile_engine.py mid            # top functions by own time
    python benchmarks/profile_engine.py seed --steps 2000 --top 30

For line-by-line timings, line_profiler works on the same loop:
    pip install line_profiler
    LINE_PROFILE=1 python benchmarks/profile_engine.py mid --lines engine.components.attention.backward
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import os
import pstats
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from bench_engine import CONFIGS, engine_step  # noqa: E402

from tfnp_tui.malloc import keep_freed_memory  # noqa: E402


def resolve(dotted: str):
    """engine.model.TransformerEncoder.forward -> the function (longest importable prefix, then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ValueError(f"cannot find {dotted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", choices=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=None, help="steps to profile (default: about 5 s worth)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--lines", nargs="*", default=[], help="functions for line_profiler, as module.function")
    args = parser.parse_args()
    keep_freed_memory()  # as tfnp-tui and bench_engine.py do
    _, step, _, _ = engine_step(args.config, "cpu")  # the step bench_engine.py times
    steps = args.steps or {"seed": 5000, "seed-b32": 3000, "mid": 100, "big": 8, "large": 2}[args.config]

    def run() -> None:
        for _ in range(steps):
            step()

    run()  # warm-up
    if args.lines:
        from line_profiler import LineProfiler

        profiler = LineProfiler()
        for target in args.lines:
            profiler.add_function(resolve(target))
        profiler.runcall(run)
        profiler.print_stats(output_unit=1e-3)
        return
    profiler = cProfile.Profile()
    profiler.runcall(run)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
    print(f"{args.config}: {steps} steps")
    print(out.getvalue())


if __name__ == "__main__":
    main()
