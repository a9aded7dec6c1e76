"""--metrics-out: one JSON object per finished epoch, a line each, with the keys of
EpochReport.metrics() (epoch, step, loss, acc, val_loss, val_acc, lr, grad_norm, seconds).

A run replaces the file; a resumed run appends to it. The file is opened at the first
epoch and each line flushed as it is written, so after a run the file holds exactly that
run's epochs: a run that ends before its first epoch leaves no file (and removes the lines
of the run it would have replaced).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TextIO

from engine.reports import EpochReport


class MetricsError(Exception):
    """The metrics file cannot be written; the message names it and says why."""


class MetricsLog:
    """Writes epoch reports to a JSON-lines file."""

    def __init__(self, path: str, append: bool = False) -> None:
        self.path = path
        self.append = append
        self._file: TextIO | None = None
        self._written = 0  # lines written by this run

    def write(self, report: EpochReport) -> None:
        try:
            if self._file is None:
                self._file = open(self.path, "a" if self.append else "w", encoding="utf-8")
            self._file.write(json.dumps(report.metrics()) + "\n")
            self._file.flush()
        except OSError as err:
            raise MetricsError(f"{self.path}: cannot be written ({err.strerror or err})") from None
        self._written += 1

    def restart(self) -> None:
        """A new run (the lab's reset): the next epoch starts the file afresh."""
        self.close()
        self.append, self._written = False, 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        stale = os.path.isfile(self.path) and not os.path.islink(self.path)  # never /dev/null, never a link
        if not self.append and not self._written and stale:
            with contextlib.suppress(OSError):  # the lines of a run this one replaced
                os.remove(self.path)
