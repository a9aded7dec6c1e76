"""Workspace: the large arrays of a training pass, allocated once and reused by every pass after.

Why. A training step allocates and frees the same large arrays every time: activations and
temporaries of shape (B*T, C), (B*T, F), (B, H, T, T), (B*T, V), and the gradients. glibc's
malloc serves each large one from fresh pages (mmap, or a heap it trims once enough is free)
and gives them back to the kernel when they are freed, so the next step page-faults them in
again, zeroed by the kernel: about 6,700 minor page faults a step at the `mid` size of
benchmarks/bench_engine.py, a third of its time. A workspace keeps them instead: the training
pass asks it for each large array and writes its result there with NumPy's `out=`
(components/__init__.py):

    y = xp.matmul(x2d, w, out=ws and ws.empty((N, O), x.dtype))   # y = x @ w, in a kept buffer

The lifetime rule: a buffer is handed out only while nothing but the workspace refers to it:
no array, no view of it, no cache (Python's reference count says so; every NumPy view holds
the array it views). So nothing that anyone still holds is ever written over. A buffer comes
back once the last array using it is gone: within the pass (a temporary that has served, as
malloc would reuse it, which keeps the pass's memory small) or in a later pass (the caches of a
pass once its backward is done). A caller who keeps a result, the logits or the gradients,
only makes the next pass take another buffer.

How a request finds its buffer: the n-th request of a pass first tries the buffer that the
n-th request of the last pass had (the plan). A training step asks for the same arrays in the
same order every time, so after the first step each request is one look-up and nothing is
allocated; otherwise it takes the newest free buffer with as many entries of its dtype (a
view of it in the shape asked for, when that differs), or a new one. Buffers start on a cache
line (aligned_empty), which makes element-wise passes faster than on NumPy's own arrays.

Who uses one: TransformerEncoder's training path (forward_backward, loss_and_grads), through
its ThreadWorkspaces: one workspace a thread, on the CPU, for passes with arrays of
WORKSPACE_MIN_BYTES or more. The GPU has none: CuPy's memory pool already keeps freed device memory.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

WORKSPACE_MIN_BYTES = 16 * 2**10  # a training pass whose arrays are all smaller takes fresh ones

CACHE_LINE = 64  # bytes


class Workspace:
    """Buffers handed out again once nothing refers to them, in the order of the last pass.

    ws = Workspace()
    ws.start(); a = ws.empty((4, 8), np.float32)    # a new buffer
    b = ws.empty((4, 8), np.float32)                # another: `a` is still held
    del a, b
    ws.start(); a2 = ws.empty((4, 8), np.float32)   # the first buffer again
    """

    def __init__(self) -> None:
        self.buffers: list[np.ndarray] = [np.empty(0)]  # every buffer, each held here once
        # the reference count of a buffer that nothing else refers to, read as _fits reads it
        # (a probe held by the list alone): the number itself differs between Pythons
        self._own_refs = sys.getrefcount(self.buffers[0])
        self.buffers = []
        self.plan: list[int] = []  # plan[n]: the number of the buffer that the last pass's n-th request got
        self.taken = 0  # requests of the current pass so far

    def start(self) -> Workspace:
        """Begin a pass: its n-th request first tries the buffer of the last pass's n-th."""
        self.taken = 0
        return self

    def empty(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An array of `shape` and `dtype`, contents undefined (as np.empty), that nothing else
        refers to: a buffer with as many entries, or a view of one in this shape."""
        n = self.taken
        self.taken = n + 1
        buffers = self.buffers
        if n < len(self.plan):  # the last pass's buffer for this request, if it is free and fits
            i = self.plan[n]
            if sys.getrefcount(buffers[i]) <= self._own_refs and buffers[i].dtype == dtype:  # free: as in _fits
                if buffers[i].shape == shape:
                    return buffers[i]
                if buffers[i].size == math.prod(shape):
                    return buffers[i].reshape(shape)
        size = math.prod(shape)
        for i in reversed(range(len(buffers))):  # else a free one that fits, the newest first
            if self._fits(i, size, dtype):
                break
        else:
            i = len(buffers)
            buffers.append(aligned_empty(shape, dtype))
        if n < len(self.plan):
            self.plan[n] = i
        else:
            self.plan.append(i)
        return buffers[i] if buffers[i].shape == shape else buffers[i].reshape(shape)

    def zeros(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """empty(), filled with zeros."""
        buffer = self.empty(shape, dtype)
        buffer[...] = 0
        return buffer

    def _fits(self, i: int, size: int, dtype) -> bool:
        """Whether buffer i is free (nothing but the workspace refers to it) and holds `size` entries of dtype."""
        free = sys.getrefcount(self.buffers[i]) <= self._own_refs
        return free and self.buffers[i].size == size and self.buffers[i].dtype == dtype


class ThreadWorkspaces:
    """The workspace a model's training pass writes into: one a thread, so that two threads'
    passes never look at each other's buffers.

    workspaces = ThreadWorkspaces(cfg, xp)
    ws = workspaces.for_pass(B, T)    # a Workspace, begun afresh, or None: fresh arrays
    """

    def __init__(self, cfg, xp) -> None:
        self.on_host = xp is np
        itemsize = np.dtype(cfg.dtype).itemsize
        self.row_bytes = max(cfg.d_model, cfg.d_ff, cfg.vocab_size) * itemsize  # a position's widest row
        self.heads_bytes = cfg.n_heads * itemsize  # a position's attention weights, per key
        self.local = threading.local()

    def for_pass(self, B: int, T: int) -> Workspace | None:
        """This thread's workspace, begun afresh for a training pass over B sequences of T
        tokens; None (fresh arrays) on the GPU, where CuPy's memory pool reuses device memory
        itself, and for a pass whose arrays are all smaller than WORKSPACE_MIN_BYTES: malloc
        serves those from its free lists without a page fault, faster than the workspace's
        look-ups."""
        widest = B * T * max(self.row_bytes, T * self.heads_bytes)  # (B*T, max(C, F, V)) or (B, H, T, T)
        if not self.on_host or widest < WORKSPACE_MIN_BYTES:
            return None
        ws = getattr(self.local, "workspace", None)
        if ws is None:
            ws = self.local.workspace = Workspace()
        return ws.start()

    def release(self) -> None:
        """Let this thread's workspace go (its memory goes back once nothing refers to its
        buffers); the next training pass allocates afresh."""
        self.local.__dict__.pop("workspace", None)


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """np.empty(shape, dtype), but starting on a 64-byte boundary: a cache line.

    NumPy's own arrays start where malloc puts them, often 16 bytes into a line, and then
    every vector load of an element-wise pass straddles two lines: such a pass runs up to half
    again as slow. The memory is a bytearray (zeroed once; tracemalloc counts it), held by the
    array as its base, so the array is what NumPy's views of it refer to, as with np.empty."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    memory = bytearray(nbytes + CACHE_LINE)
    offset = -np.frombuffer(memory, np.uint8).ctypes.data % CACHE_LINE
    return np.ndarray(shape, dtype, buffer=memory, offset=offset)
