"""The lab's cost: its step rate against --headless on the same config, and how soon a key
press shows on screen while training runs.

    python benchmarks/bench_lab.py                 # the original setup and the reverse task
    python benchmarks/bench_lab.py --seconds 10

Step rates: the Trainer alone (what --headless runs) for SECONDS, then the lab (Textual's
headless driver, the same App, worker and panels) for SECONDS, on the same config.
Key latency: tfnp-tui in a real terminal (tmux, 120x40) while it trains; each sample sends
`a` (all heads on/off) and times until capture-pane shows the change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tfnp_tui.app import TfnpLab  # noqa: E402
from tfnp_tui.cli import build, build_parser  # noqa: E402
from tfnp_tui.malloc import keep_freed_memory  # noqa: E402

CONFIGS = {
    "original": [],
    "reverse": ["--task", "reverse", "--seq-len", "8", "--layers", "2", "--heads", "2", "--optimizer", "adam"],
}


def setup(argv: list[str]):
    return build(build_parser().parse_args([*argv, "--epochs", "100000"]))


def headless_rate(argv: list[str], seconds: float) -> float:
    trainer = setup(argv).trainer
    for _ in range(20):  # warm-up
        trainer.step()
    start, steps = time.perf_counter(), trainer.step_count
    while time.perf_counter() - start < seconds:
        trainer.step()
    return (trainer.step_count - steps) / (time.perf_counter() - start)


def lab_rate(argv: list[str], seconds: float) -> float:
    async def run() -> float:
        app = TfnpLab(setup(argv))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("space")
            await asyncio.sleep(0.5)  # warm-up
            start, steps = time.perf_counter(), app.trainer.step_count
            await asyncio.sleep(seconds)
            rate = (app.trainer.step_count - steps) / (time.perf_counter() - start)
            await pilot.press("space")
            await app.workers.wait_for_complete()
        return rate

    return asyncio.run(run())


def key_latency(argv: list[str], samples: int) -> list[float] | None:
    """Seconds from send-keys to the change on screen, in tmux, while training runs."""
    tmux = shutil.which("tmux")
    if tmux is None:
        return None
    socket = f"tfnp-bench-{os.getpid()}"

    def call(*args: str) -> str:
        return subprocess.run([tmux, "-L", socket, *args], capture_output=True, text=True).stdout

    command = " ".join([sys.executable, "-m", "tfnp_tui", *argv, "--epochs", "100000"])
    call("new-session", "-d", "-x", "120", "-y", "40", "-s", "lab", command)
    try:
        wait_for(lambda: "Gradient norms" in call("capture-pane", "-p", "-t", "lab"), 30)
        call("send-keys", "-t", "lab", "Space")
        wait_for(lambda: "running" in call("capture-pane", "-p", "-t", "lab"), 10)
        latencies = []
        for i in range(samples):
            want = "all " if i % 2 == 0 else "head 1/"
            start = time.perf_counter()
            call("send-keys", "-t", "lab", "a")
            wait_for(lambda want=want: want in call("capture-pane", "-p", "-t", "lab"), 5)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.2)
        return latencies
    finally:
        call("kill-server")
        folder = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}")
        if os.path.exists(os.path.join(folder, socket)):
            os.remove(os.path.join(folder, socket))


def wait_for(condition, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the lab did not show what was expected")
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per rate (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each rate (default 3)")
    parser.add_argument("--samples", type=int, default=20, help="key presses timed (default 20)")
    args = parser.parse_args()
    keep_freed_memory()  # as tfnp-tui does
    print(f"# {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}  {os.cpu_count()} cores  "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"{'config':10} {'headless steps/s':>17} {'lab steps/s':>12} {'lab/headless':>13}", end="")
    print(f"   (medians of {args.rounds})")
    for name, argv in CONFIGS.items():
        headless, lab = [], []
        for _ in range(args.rounds):  # interleaved, so a noisy neighbour hits both alike
            headless.append(headless_rate(argv, args.seconds))
            lab.append(lab_rate(argv, args.seconds))
        h, l = statistics.median(headless), statistics.median(lab)
        print(f"{name:10} {h:17,.0f} {l:12,.0f} {l / h:12.0%}")
    latencies = key_latency(CONFIGS["reverse"], args.samples)
    if latencies is None:
        print("key latency: tmux is not installed, skipped")
    else:
        ms = sorted(1000 * x for x in latencies)
        print(f"key latency while training (reverse, tmux 120x40, {len(ms)} presses): "
              f"median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
