"""--metrics-out: a JSON-lines file that says what a run measured.

Records, one JSON object a line:
* a header at the start of each run, a resumed one too: {"record": "header", "version",
  "model", "train", "task", "step"}: the run's configs (a resumed run's may differ: another
  --lr), so the file alone says what it measured;
* one per finished epoch, with the keys of EpochReport.metrics() (epoch, step, loss, acc,
  val_loss, val_acc, lr, grad_norm, seconds, lr_scale). Only epoch records have an "epoch" key.

A fresh run replaces the file; a run that goes on from a checkpoint continues it from the
checkpoint's epoch: at its first epoch the lines of epochs past the checkpoint's (written by
a run that went further and was lost) are dropped first, by writing the kept lines beside the file and renaming them
over it, so the file is never half rewritten and every epoch appears once, in order.

The file is opened at the first epoch and each line flushed as it is written, so after a
run the file holds exactly that run's epochs: a fresh run that ends before its first epoch
leaves no file (and removes the lines of the run it would have replaced). Every failure to
open, write, flush or close is one MetricsError that names the file and says why.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import TextIO

from engine import __version__
from engine.runtime.files import write_atomic
from engine.training.reports import EpochReport


class MetricsError(Exception):
    """The metrics file cannot be written; the message names it and says why."""


def header_record(trainer) -> dict:
    """The header a run starts its records with: its configs and the project version."""
    return {
        "record": "header",
        "version": __version__,
        "model": trainer.model_cfg.to_dict(),
        "train": trainer.train_cfg.to_dict(),
        "task": trainer.task.name,
        "step": trainer.step_count,
    }


def record_of(line: str) -> dict:
    """A line's JSON object, or {} for a line that is not one."""
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def kept_lines(lines: list[str], epoch: int) -> list[str]:
    """The lines up to the first epoch record past `epoch`: what a run resumed there keeps
    (less the header of the run that wrote that record, if it started after `epoch`)."""
    for i, line in enumerate(lines):
        later = record_of(line).get("epoch", 0)
        if isinstance(later, (int, float)) and later > epoch:
            while i and record_of(lines[i - 1]).get("record") == "header":
                i -= 1
            return lines[:i]
    return lines


def is_metrics_file(path: str) -> bool:
    """Whether `path` holds metrics lines (or nothing): its first line is a header or an epoch
    record. Any other file is the user's, and a run does not replace it unasked."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        with open(path, encoding="utf-8") as f:
            first = f.readline().strip()
        record = record_of(first)
        return not first or record.get("record") == "header" or "epoch" in record
    return False


class MetricsLog:
    """Writes a run's header and epoch reports to a JSON-lines file."""

    def __init__(self, path: str, header: dict, resume_epoch: int | None = None) -> None:
        """resume_epoch: the checkpoint's epoch when the run goes on from one, else None."""
        self.path = path
        self.header = header
        self.append = resume_epoch is not None
        self.resume_epoch = resume_epoch
        self._file: TextIO | None = None
        self._written = 0  # lines written by this run

    def _fail(self, err: OSError) -> MetricsError:
        return MetricsError(f"{self.path}: cannot be written ({err.strerror or err})")

    def _cut_to(self, epoch: int) -> None:
        """Drop the epochs past `epoch`, atomically (at the run's first epoch: a run that
        ends before one leaves the file as it was)."""
        if not os.path.isfile(self.path) or os.path.islink(self.path):  # nothing there, or /dev/null
            return
        with open(self.path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        kept = kept_lines(lines, epoch)
        if len(kept) < len(lines):
            self._replace_with(kept)

    def _replace_with(self, lines: list[str]) -> None:
        """Write `lines` beside the file, then rename them over it."""
        text = "".join(line + "\n" for line in lines)
        write_atomic(self.path, lambda f: f.write(text.encode("utf-8")))

    def _writeline(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")

    def write(self, report: EpochReport) -> None:
        try:
            if self._file is None:  # the run's first epoch: its header first
                if self.append:
                    self._cut_to(self.resume_epoch)
                self._file = open(self.path, "a" if self.append else "w", encoding="utf-8")
                self._writeline(self.header)
            self._writeline(report.metrics())
            self._file.flush()
        except OSError as err:
            self._discard()
            raise self._fail(err) from None
        self._written += 1

    def restart(self, header: dict) -> None:
        """A new run (the lab's reset): the next epoch starts the file afresh, under `header`."""
        self.close()
        self.header, self.append, self._written = header, False, 0

    def _discard(self) -> None:
        """Let go of a file whose writes failed, without flushing its buffer again."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def close(self) -> None:
        """Flush and close; a fresh run that wrote nothing removes the file it replaced."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as err:  # the last flush: a full disk shows here
                raise self._fail(err) from None
        stale = os.path.isfile(self.path) and not os.path.islink(self.path)  # never /dev/null, never a link
        if not self.append and not self._written and stale:
            with contextlib.suppress(OSError):  # the lines of a run this one replaced
                os.remove(self.path)
