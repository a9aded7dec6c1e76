"""Fixtures shared by the engine's tests: the CuPy stand-in (fake_cupy.py) in place of CuPy."""

import sys

import pytest

from . import fake_cupy


@pytest.fixture
def fake_gpu(monkeypatch):
    """--device gpu runs on fake_cupy's modules: NumPy arrays of another type, so a test sees
    every place where a device array would leak to the host or a host array reach the device."""
    cupy, cupyx = fake_cupy.make_modules()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    return cupy
