"""Shared helper for the gradient tests: compare with finite differences, print the table on failure."""

from __future__ import annotations

import numpy as np

from engine.gradcheck import GradcheckReport, check


def assert_gradients(f, tensors: dict, max_entries: int | None = None, seed: int = 0) -> GradcheckReport:
    """tensors: name -> (f, x, analytic) or (x, analytic) with the shared f."""
    full = {name: t if len(t) == 3 else (f, *t) for name, t in tensors.items()}
    report = GradcheckReport(check(full, max_entries=max_entries, seed=seed))
    assert report.passed, "\n" + report.table()
    return report


def random_upstream(f_forward, dy):
    """The scalar loss sum(y * dy) whose gradient w.r.t. y is dy: what a component test checks."""
    return lambda: float(np.sum(f_forward() * dy))
