"""Fixtures shared by the engine's tests: the CuPy stand-in (fake_cupy.py) in place of CuPy."""

import sys

import pytest

from engine.runtime import fused

from . import fake_cupy


@pytest.fixture
def every_pass_fused():
    """After the test, every fused pass it ran must have been fusable (fused.FELL_BACK empty):
    none fell back to running unfused (engine/runtime/fused.py)."""
    fused.FELL_BACK.clear()
    yield
    assert not fused.FELL_BACK, f"passes that cupy.fuse refused: {fused.FELL_BACK}"


@pytest.fixture
def fake_gpu(monkeypatch, every_pass_fused):
    """--device gpu runs on fake_cupy's modules: NumPy arrays of another type, so a test sees
    every place where a device array would leak to the host or a host array reach the device.
    Afterwards, every fused pass the test ran must have been fusable (every_pass_fused)."""
    cupy, cupyx = fake_cupy.make_modules()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    yield cupy
