"""A stand-in for CuPy, backed by NumPy, to test the engine's device plumbing without a GPU.

Its arrays are a separate type whose module is "cupy", as real CuPy arrays are, so
`engine.runtime.backend.array_module` takes them for device arrays; and like CuPy it refuses to mix
them with host (NumPy) arrays in one operation and to turn into NumPy arrays silently, so
any place where the engine would compute with a host array on the GPU, or hand a device
array to NumPy, fails here too. What it cannot check is CuPy's own API and speed:
tests/engine/test_gpu.py does that on a real GPU.

It also counts, in COUNTS, what costs time on a real GPU:
    to_host     device -> host transfers: .get(), float(), int(), bool(), .item(), .tolist()
                of a device array; each waits for every kernel queued before it
    to_device   host -> device copies: asarray() of a host array
    launches    kernels: each ufunc call or reduction, each array function (einsum, where,
                concatenate...), each gather or scatter by an index array, each assignment
                into a device array, each astype (unless copy=False finds the dtype), copy
                and argmax, each fused function (fuse())
Like CuPy, a reduction over every axis gives a 0-d device array, not a host scalar, so a
float() of it counts as the transfer it is.

Inside a fused function it refuses, as cupy.fuse does, what is not element-wise: reductions,
products of matrices (einsum, matmul), indexing, and array functions other than the
element-wise ones (NotFusable). engine/runtime/fused.py would then run the function unfused and
note it in FELL_BACK, which the fake_gpu fixture asserts stays empty.
"""

from __future__ import annotations

import types
from collections import Counter

import numpy as np

COUNTS: Counter = Counter()  # "to_host", "to_device", "launches"; tests clear() it


ELEMENTWISE = {"add", "subtract", "multiply", "divide", "exp", "log", "sqrt", "tanh", "maximum", "where",
               "isfinite", "greater", "equal", "not_equal", "negative"}  # fmt: skip
_fusing = [False]  # True while a fused function is being run


class NotFusable(TypeError):
    """An operation that cupy.fuse cannot compile, met inside a fused function."""


def _refuse_in_fusion(what: str) -> None:
    if _fusing[0]:
        raise NotFusable(f"cupy.fuse cannot compile {what}: only element-wise operations")


class HostDeviceMix(TypeError):
    """A host array met a device array in one operation (CuPy raises TypeError too)."""


def _host(x):
    """The NumPy view behind a device array (anything else unchanged)."""
    return x.view(np.ndarray) if isinstance(x, ndarray) else x


def _device(x):
    """A device array of x: a view for a NumPy array, a 0-d array for a NumPy scalar."""
    if type(x) is np.ndarray:
        return x.view(ndarray)
    if isinstance(x, np.generic):
        return np.asarray(x).view(ndarray)
    return x


def _fancy(index) -> bool:
    """Whether an index gathers by arrays (a kernel) rather than slicing (a view)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


def _check(values) -> None:
    for v in values:
        if type(v) is np.ndarray:
            raise HostDeviceMix("a NumPy (host) array in an operation on device arrays")
        if isinstance(v, (list, tuple)):
            _check(v)


class ndarray(np.ndarray):  # noqa: N801 - the name CuPy uses
    __module__ = "cupy._core.core"

    def get(self) -> np.ndarray:
        """Device -> host, as cupy.ndarray.get()."""
        COUNTS["to_host"] += 1
        return np.array(self.view(np.ndarray))

    def _scalar(self):
        """A 0-d or 1-element array's value on the host: one transfer."""
        COUNTS["to_host"] += 1
        return self.view(np.ndarray).reshape(-1)[0]

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def __index__(self) -> int:
        return int(self._scalar())

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError("the truth value of an array with more than one element is ambiguous")
        return bool(self._scalar())

    def item(self, *args):
        return self._scalar().item()

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """A kernel, as in CuPy, unless copy=False and the dtype is already dtype (then self)."""
        if copy or np.dtype(dtype) != self.dtype:
            COUNTS["launches"] += 1
        return np.ndarray.astype(self, dtype, order=order, casting=casting, subok=subok, copy=copy)

    def copy(self, order="C"):
        COUNTS["launches"] += 1
        return np.ndarray.copy(self, order=order)

    def argmax(self, *args, **kwargs):
        _refuse_in_fusion("argmax")
        COUNTS["launches"] += 1
        return _device(np.ndarray.argmax(self.view(np.ndarray), *args, **kwargs))

    def tolist(self):
        COUNTS["to_host"] += 1
        return self.view(np.ndarray).tolist()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or ufunc.signature is not None:
            _refuse_in_fusion(f"{ufunc.__name__}.{method}")
        COUNTS["launches"] += 1
        _check(inputs)
        _check(kwargs.get("out", ()))
        inputs = tuple(_host(x) for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(_host(x) for x in kwargs["out"])
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if isinstance(result, tuple):
            return tuple(_device(r) for r in result)
        return _device(result)

    def __array_function__(self, func, types_, args, kwargs):
        if func.__name__ not in ELEMENTWISE:
            _refuse_in_fusion(func.__name__)
        COUNTS["launches"] += 1
        _check(args)
        _check(list(kwargs.values()))
        result = func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
        return _wrap(result)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("implicit conversion to a NumPy array is not allowed (use .get())")

    def __getitem__(self, index):
        _refuse_in_fusion("indexing")
        _check(index if isinstance(index, tuple) else (index,))
        index = _unwrap(index)
        COUNTS["launches"] += _fancy(index)
        return _device(np.ndarray.__getitem__(self.view(np.ndarray), index))

    def __setitem__(self, index, value):
        if index is not Ellipsis:
            _refuse_in_fusion("assignment to part of an array")
        _check(index if isinstance(index, tuple) else (index,))
        _check((value,))
        COUNTS["launches"] += 1
        np.ndarray.__setitem__(self.view(np.ndarray), _unwrap(index), _unwrap(value))


def _unwrap(x):
    if isinstance(x, tuple):
        return tuple(_unwrap(v) for v in x)
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    return _host(x)


def _wrap(x):
    if isinstance(x, (np.ndarray, np.generic)):
        return _device(x)
    if isinstance(x, (tuple, list)):
        return type(x)(_wrap(v) for v in x)
    return x


def _passthrough(name: str):
    func = getattr(np, name)

    def call(*args, **kwargs):
        if name not in ELEMENTWISE:
            _refuse_in_fusion(name)
        COUNTS["launches"] += name not in ("empty", "empty_like")  # allocating runs no kernel
        _check(args)
        return _wrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    call.__name__ = name
    return call


def asarray(a, dtype=None):
    """Host -> device (or device -> device)."""
    if not isinstance(a, ndarray):
        COUNTS["to_device"] += 1
    return _device(np.array(_host(a), dtype=dtype, copy=True))


def fuse(kernel_name: str | None = None):
    """cupy.fuse: the function's operations run as one kernel, so they count as one launch."""

    def decorate(func):
        def kernel(*args):
            before = COUNTS["launches"]
            _fusing[0] = True
            try:
                result = func(*args)
            finally:
                _fusing[0] = False
            COUNTS["launches"] = before + 1
            return result

        return kernel

    return decorate


def make_modules(device_count: int = 1, broken: bool = False):
    """(cupy, cupyx) stand-in modules; `broken` makes the device query fail like a missing driver."""
    cupy = types.ModuleType("cupy")
    cupy.__version__ = "0.0-fake"
    cupy.ndarray = ndarray
    cupy.asarray = asarray
    passthrough = (
        "empty", "empty_like", "zeros", "ones", "zeros_like", "multiply", "concatenate", "stack", "exp", "log",
        "sqrt", "tanh", "maximum", "where", "triu", "arange", "einsum", "matmul", "bincount", "argsort", "isfinite",
        "add", "subtract", "divide", "greater", "equal", "not_equal", "negative",
    )  # fmt: skip
    for name in passthrough:
        setattr(cupy, name, _passthrough(name))
    cupy.inf, cupy.float32, cupy.float64 = np.inf, np.float32, np.float64
    cupy.fuse = fuse

    def device_count_query():
        if broken:
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return device_count

    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=device_count_query,
                                      getDeviceProperties=lambda i: {"name": b"Fake GPU"}),
        Device=lambda *a: types.SimpleNamespace(synchronize=lambda: None),
    )  # fmt: skip
    cupyx = types.ModuleType("cupyx")

    def scatter_add(out, index, rows):
        _check((out, index, rows))
        COUNTS["launches"] += 1
        np.add.at(_host(out), _host(index), _host(rows))

    cupyx.scatter_add = scatter_add
    return cupy, cupyx
