"""Engine speed: one forward+backward and one full optimizer step (Adam), float32, against the
same model in PyTorch eager (torch.nn.TransformerEncoder) and against the machine's GEMM peak.

    python benchmarks/bench_engine.py                      # seed, seed-b32, mid, big on the CPU
    python benchmarks/bench_engine.py --configs mid big --seconds 3
    python benchmarks/bench_engine.py --device gpu         # the engine on CuPy against PyTorch on CUDA
    python benchmarks/bench_engine.py --malloc-default     # without tfnp-tui's malloc setting (tfnp_tui/malloc.py)

For each config it prints ms per step, tokens/s, the achieved GFLOP/s (the matmul FLOPs of
forward and backward: 3x the forward's), that as a share of the float32 GEMM peak measured
in the same run, the engine's peak memory during a step (tracemalloc), and, when PyTorch is
importable, PyTorch's time and the ratio torch_time / engine_time (above 1: the engine is faster).
Times are medians after warm-up; both libraries use the same number of threads.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import engine  # noqa: E402
from engine import ModelConfig  # noqa: E402
from engine.runtime import fused  # noqa: E402
from engine.runtime.backend import get_backend  # noqa: E402
from tfnp_tui.malloc import keep_freed_memory  # noqa: E402

# name: (vocab, seq_len, d_model, heads, layers, d_ff, batch)
CONFIGS = {
    "seed": (20, 4, 32, 1, 1, 64, 1),
    "seed-b32": (20, 4, 32, 1, 1, 64, 32),
    "mid": (64, 32, 128, 4, 2, 512, 32),
    "big": (256, 128, 256, 8, 4, 1024, 16),
    "large": (256, 256, 512, 8, 6, 2048, 32),
}
CPU_DEFAULT = ["seed", "seed-b32", "mid", "big"]
GPU_DEFAULT = ["seed-b32", "mid", "big", "large"]


@dataclass
class Result:
    fwd_bwd: float  # seconds
    step: float
    peak_bytes: int | None = None


def model_config(name: str, lib=engine) -> tuple[ModelConfig, int]:
    V, T, C, H, L, F, B = CONFIGS[name]
    return lib.ModelConfig(vocab_size=V, seq_len=T, d_model=C, n_heads=H, n_layers=L, d_ff=F), B


def train_flops(cfg: ModelConfig, B: int) -> float:
    """Matmul FLOPs of one forward and backward: backward does two products for each of the
    forward's (the gradients of both operands), so 3x the forward."""
    N, C, F, T = B * cfg.seq_len, cfg.d_model, cfg.d_ff, cfg.seq_len
    per_layer = 2 * N * C * 3 * C + 2 * 2 * B * T * T * C + 2 * N * C * C + 2 * 2 * N * C * F
    forward = cfg.n_layers * per_layer + 2 * N * C * cfg.vocab_size
    return 3.0 * forward


def median_time(fn, sync, seconds: float, min_runs: int = 5, pick=statistics.median) -> float:
    """Median (or `pick`) wall time of fn() after warm-up, repeating for about `seconds`."""
    for _ in range(3):
        fn()
    sync()
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_runs or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
        if len(times) >= 2000:
            break
    return pick(times)


def gemm_peak(xp, sync, n: int = 2048) -> float:
    """GFLOP/s of a large float32 matrix product, its fastest run over 2 s: the ceiling for
    this machine and library (a median would sink with a noisy neighbour)."""
    a = xp.asarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    b = xp.asarray(np.random.default_rng(1).standard_normal((n, n), dtype=np.float32))
    return 2 * n**3 / median_time(lambda: a @ b, sync, 2.0, pick=min) / 1e9


def batch(cfg: ModelConfig, B: int):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, cfg.vocab_size, (B, cfg.seq_len))
    return tokens, (tokens + 1) % cfg.vocab_size


def syncer(xp, device: str):
    """A function that waits for the device's queued work (nothing to wait for on the CPU)."""
    return (lambda: xp.cuda.Device().synchronize()) if device == "gpu" else (lambda: None)


def engine_step(name: str, device: str, lib=engine):
    """(forward+backward, full step, sync) closures for the engine at config `name`, and the
    model. lib: the engine package (compare_engines.py passes an earlier commit's)."""
    cfg, B = model_config(name, lib)
    xp = get_backend(device)
    sync = syncer(xp, device)
    model = lib.TransformerEncoder(cfg, seed=0, device=device)
    tokens, targets = (xp.asarray(a) for a in batch(cfg, B))
    optimizer = importlib.import_module(lib.__name__ + ".training.optim").Adam(layout=model.layout)
    flat_grad = xp.empty(model.layout.size, dtype=cfg.dtype)
    writes_into = "grad_out" in inspect.signature(model.forward_backward).parameters  # not before issue 13

    def fwd_bwd():
        return model.loss_and_grads(tokens, targets)

    def step():  # as the Trainer does it: the gradients into its flat vector, one Adam update over it
        if writes_into:
            model.forward_backward(tokens, targets, grad_out=flat_grad)
        else:
            model.layout.flatten(fwd_bwd()[1], out=flat_grad)
        u = optimizer.updates(model.flat, flat_grad, 1e-4)
        optimizer.commit()
        model.flat -= u

    return fwd_bwd, step, sync, model


def torch_step(name: str, device: str):
    """The same closures for torch.nn, or None without PyTorch (or without CUDA for gpu)."""
    try:
        import torch
        from torch_reference import TorchEncoder
    except ImportError:
        return None
    if device == "gpu" and not torch.cuda.is_available():
        return None
    cfg, B = model_config(name)
    dev = "cuda" if device == "gpu" else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    model = TorchEncoder(cfg).to(dev)
    tokens, targets = (torch.tensor(a, device=dev) for a in batch(cfg, B))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        model(tokens, targets).backward()

    def step():
        fwd_bwd()
        optimizer.step()

    return fwd_bwd, step, sync


def peak_memory(step, device: str, model) -> int:
    """Bytes allocated at most during one step: tracemalloc sees NumPy's allocations, the
    model's workspace included (let go first, so that the step allocates it again); on the
    GPU, what CuPy's memory pool holds after a step from a fresh pool."""
    if device == "gpu":
        import cupy

        pool = cupy.get_default_memory_pool()
        pool.free_all_blocks()
        step()
        cupy.cuda.Device().synchronize()
        return pool.total_bytes()
    model.release_workspace()
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure(name: str, device: str, seconds: float, rounds: int) -> tuple[Result, Result | None]:
    """Medians over `rounds` alternating measurements of the engine and PyTorch, so that a
    noisy neighbour on a shared machine slows both alike."""
    ours, theirs = engine_step(name, device), torch_step(name, device)
    times: dict[str, list[float]] = {"fwd_bwd": [], "step": [], "t_fwd_bwd": [], "t_step": []}
    for _ in range(rounds):
        times["fwd_bwd"].append(median_time(ours[0], ours[2], seconds / 2))
        times["step"].append(median_time(ours[1], ours[2], seconds / 2))
        if theirs is not None:
            times["t_fwd_bwd"].append(median_time(theirs[0], theirs[2], seconds / 2))
            times["t_step"].append(median_time(theirs[1], theirs[2], seconds / 2))
    m = {k: statistics.median(v) for k, v in times.items() if v}
    peak = peak_memory(ours[1], device, ours[3])
    engine = Result(m["fwd_bwd"], m["step"], peak)
    return engine, (Result(m["t_fwd_bwd"], m["t_step"]) if theirs is not None else None)


def gpu_name(cupy) -> str:
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    return "GPU " + (name.decode() if isinstance(name, bytes) else str(name)) + f", CuPy {cupy.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), help="default: all but large (CPU)")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per measurement (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements per config (default 3)")
    parser.add_argument(
        "--malloc-default", action="store_true", help="leave glibc's malloc as it is (see tfnp_tui/malloc.py)"
    )
    args = parser.parse_args()
    names = args.configs or (GPU_DEFAULT if args.device == "gpu" else CPU_DEFAULT)
    kept = False if args.malloc_default else keep_freed_memory()
    xp = get_backend(args.device)
    sync = syncer(xp, args.device)
    threads = os.cpu_count()
    try:
        import torch

        torch.set_num_threads(threads)
        torch_note = f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_note = "PyTorch not installed (pip install torch): engine figures only"
    peak = gemm_peak(xp, sync)
    device = gpu_name(xp) if args.device == "gpu" else f"{platform.machine()}, {threads} cores"
    print(f"# {time.strftime('%Y-%m-%d')}  {device}  NumPy {np.__version__}  {torch_note}")
    print(f"# float32 GEMM peak measured now: {peak:.0f} GFLOP/s; freed memory kept for reuse: {kept}")
    print(f"{'config':9} {'fwd+bwd ms':>10} {'step ms':>9} {'tokens/s':>10} {'GFLOP/s':>8} {'of peak':>8} "
          f"{'peak MB':>8} {'torch step ms':>14} {'torch/engine':>13}")  # fmt: skip
    for name in names:
        cfg, B = model_config(name)
        ours, theirs = measure(name, args.device, args.seconds, args.rounds)
        gflops = train_flops(cfg, B) / ours.fwd_bwd / 1e9
        memory = f"{ours.peak_bytes / 2**20:8.1f}" if ours.peak_bytes is not None else f"{'-':>8}"
        line = (f"{name:9} {1e3 * ours.fwd_bwd:10.3f} {1e3 * ours.step:9.3f} {B * cfg.seq_len / ours.step:10,.0f} "
                f"{gflops:8.1f} {gflops / peak:8.1%} {memory}")  # fmt: skip
        if theirs is not None:
            line += f" {1e3 * theirs.step:14.3f} {theirs.step / ours.step:12.2f}x"
            line += f"   (fwd+bwd {theirs.fwd_bwd / ours.fwd_bwd:.2f}x)"
        print(line, flush=True)
    if args.device == "gpu":
        print(f"# fused passes that cupy.fuse refused (run unfused): {fused.FELL_BACK or 'none'}")


if __name__ == "__main__":
    main()
