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

and called, for arrays of module xp, as momentum_update[xp](v_prev, g, v, u, 0.9, 1e-3).
momentum_update[numpy] is kernel as built with xp = numpy: ordinary NumPy, what the CPU runs
and the CPU tests check, called with no wrapper in between. momentum_update[cupy] is the same
kernel built with xp = cupy under cupy.fuse, which traces the expressions once per argument
types and compiles them into one kernel (its arguments stay in registers between the
operations); it is made on first use, and CuPy is imported only then.

What a kernel may use, so that cupy.fuse can compile it: arithmetic and comparison
operators, ufuncs of xp (exp, sqrt, tanh, maximum...), Python numbers (they keep float32
float32, as in NumPy), 0-d arrays, None for an argument it leaves out (a Python `if` on it
is traced once per pattern), and out= into its own array arguments. No indexing, no
reductions (one reduction at the very end is all cupy.fuse allows), no .shape. A component
keeps its reductions (row sums, maxima) as ordinary calls and fuses the element-wise passes
between them. A temporary is a scratch argument: an array of the workspace on the CPU, so
that the NumPy form writes in place and allocates nothing; None on a GPU, where the kernel
keeps it in registers (`xp.add(t, 1.0, out=scratch)` makes a new array when scratch is None).

Where the kernel's form is slow in NumPy (a comparison over a whole (N, V) array, say), make(xp)
may return for numpy a form of its own that computes the same numbers to the bit; the tests
check both, the NumPy form as it is and the kernel on the CuPy stand-in (tests/engine/fake_cupy.py).

Should cupy.fuse refuse a kernel on some CuPy release, the pass still computes: it runs the
same definition unfused, one launch an operation, and notes why in FELL_BACK, which
tests/engine/test_gpu.py asserts is empty on a real GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

ALL: dict[str, Fused] = {}  # every fused pass by name, for the tests
FELL_BACK: dict[str, str] = {}  # name -> why cupy.fuse refused it (it then runs unfused)


class Fused(dict):
    """A pass as built for each array module: fused_pass[xp] is a function of arrays of xp.
    A dict, so that the CPU's look-up, fused_pass[numpy], costs no Python call."""

    def __init__(self, make: Callable) -> None:
        super().__init__({np: make(np)})
        self.make, self.__name__, self.__doc__ = make, make.__name__, make.__doc__

    def __missing__(self, xp: ModuleType) -> Callable:
        self[xp] = kernel = _on_device(self.make, xp)
        return kernel


def fused(make: Callable) -> Fused:
    """The element-wise pass that `make(xp)` builds: plain NumPy for numpy, one fused kernel
    for cupy."""
    assert make.__name__ not in ALL, f"two fused passes named {make.__name__}"
    ALL[make.__name__] = Fused(make)
    return ALL[make.__name__]


def _on_device(make: Callable, xp: ModuleType) -> Callable:
    """make(xp) compiled by xp.fuse, falling back to make(xp) unfused if fusing fails."""
    name = make.__name__
    compiled, unfused = xp.fuse(kernel_name=name)(make(xp)), make(xp)

    def kernel(*args):
        if name in FELL_BACK:
            return unfused(*args)
        try:
            return compiled(*args)
        except Exception as error:
            result = unfused(*args)  # raises as well if the arguments are at fault
            FELL_BACK[name] = f"{type(error).__name__}: {error}"
            return result

    return kernel
