"""Element-wise passes fused into one GPU kernel, from one definition of the math.

On a GPU each NumPy-style operation is a kernel launch from Python (several microseconds
each), and a small model's step is hundreds of them: Adam alone is about ten passes over
every parameter. A fused pass is written once, as plain array expressions of a module xp:

    @fused
    def momentum_update(xp):
        def kernel(v_prev, g, v, u, mu, lr):     # v and u are written in place (out=)
            xp.add(mu * v_prev, g, out=v)
            xp.multiply(lr, v, out=u)
        return kernel

and called with arrays: momentum_update(v_prev, g, v, u, 0.9, 1e-3). With NumPy arrays it
runs kernel as built with xp = numpy: ordinary NumPy, what the CPU runs and the CPU tests
check. With CuPy arrays it runs the same kernel built with xp = cupy under cupy.fuse, which
traces the expressions once per argument types and compiles them into one kernel (its
arguments stay in registers between the operations). CuPy is imported only then.

What a kernel may use, so that cupy.fuse can compile it: arithmetic and comparison
operators, ufuncs of xp (exp, sqrt, tanh, where, maximum...), Python numbers (they keep
float32 float32, as in NumPy), 0-d arrays, and out= into its own array arguments. No
indexing, no reductions (one reduction at the very end is all cupy.fuse allows).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def fused(make: Callable) -> Callable:
    """The element-wise pass that `make(xp)` builds, run as NumPy on host arrays and as one
    fused CuPy kernel on device arrays."""
    on_host = make(np)
    on_device = None

    def call(*args):
        nonlocal on_device
        if not any(type(a).__module__.startswith("cupy") for a in args):
            return on_host(*args)
        if on_device is None:
            import cupy

            on_device = cupy.fuse(kernel_name=make.__name__)(make(cupy))
        return on_device(*args)

    call.__name__ = call.__qualname__ = make.__name__
    call.__doc__ = make.__doc__
    call.make = make  # the definition, for the tests
    return call
