"""Shared helpers for the gradient tests: compare with finite differences (printing the table
on failure), and compare two sets of gradients with the gradient check's error measure."""

from __future__ import annotations

import numpy as np

from engine.gradcheck import FLOOR, GradcheckReport, check


def max_norm_error(ours: dict, reference: dict) -> dict[str, float]:
    """Per tensor, max |difference| over the reference tensor's largest entry, floored at
    FLOOR times the largest entry of any tensor (as in engine/gradcheck.py)."""
    largest = max(np.abs(r).max() for r in reference.values())
    return {k: float(np.abs(ours[k] - r).max() / max(np.abs(r).max(), FLOOR * largest)) for k, r in reference.items()}


def assert_gradients(f, tensors: dict, max_entries: int | None = None, seed: int = 0) -> GradcheckReport:
    """tensors: name -> (f, x, analytic) or (x, analytic) with the shared f."""
    full = {name: t if len(t) == 3 else (f, *t) for name, t in tensors.items()}
    report = GradcheckReport(check(full, max_entries=max_entries, seed=seed))
    assert report.passed, "\n" + report.table()
    return report


def random_upstream(f_forward, dy):
    """The scalar loss sum(y * dy) whose gradient w.r.t. y is dy: what a component test checks."""
    return lambda: float(np.sum(f_forward() * dy))
