"""--metrics-out: one JSON object per finished epoch, a line each, with the keys of
EpochReport.metrics() (epoch, step, loss, acc, val_loss, val_acc, lr, grad_norm, seconds).

The file is opened at the first epoch, so a run that ends before one finishes leaves no
empty file behind; every line is flushed as it is written. A resumed run appends.
"""

from __future__ import annotations

import json
from typing import TextIO

from engine.reports import EpochReport


class MetricsLog:
    """Appends epoch reports to a JSON-lines file; OSError if it cannot be written."""

    def __init__(self, path: str, append: bool = False) -> None:
        self.path = path
        self.mode = "a" if append else "w"
        self._file: TextIO | None = None

    def write(self, report: EpochReport) -> None:
        if self._file is None:
            self._file = open(self.path, self.mode, encoding="utf-8")
        self._file.write(json.dumps(report.metrics()) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
