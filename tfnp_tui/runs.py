"""Runs read back from their --metrics-out files (tfnp_tui/metrics.py writes them), for
`tfnp-tui compare` and the lab's --compare: each file's epoch records in order, its
settings (from its last header record: a resumed run's file holds one header per session,
and its epochs go on across them) and a short legend label such as "adam 1e-3 · L2 H2 C64",
made distinct between the runs shown together.

Every problem with a file is one RunsError whose message names the file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from .metrics import is_metrics_file, record_of
from .numbers import factor_text

NEEDED = ("epoch", "step", "loss", "acc", "val_loss", "val_acc", "seconds")  # what compare draws and tabulates


class RunsError(Exception):
    """A metrics file that cannot be read as a run; the message names the file and says why."""


class LrChange(NamedTuple):
    """Where the lab's keys changed a run's learning rate: from `step` on (the first step at
    which it can have applied), by `ratio` (0.5: halved); `epoch`: the epochs done before it."""

    step: int
    epoch: float
    ratio: float

    @property
    def label(self) -> str:
        return f"lr {factor_text(self.ratio)}"


def lr_change(seen: tuple[int, float, float], scale: float) -> LrChange | None:
    """The change of the factor on the learning rate (lr_scale) to `scale` since `seen`, its
    (step, epochs done, lr_scale) where it was last seen: placed at the step after that one
    (the first that can have used it); None when it did not change."""
    step, epoch, before = seen
    return LrChange(step + 1, epoch, scale / before) if scale != before else None


@dataclass(frozen=True, eq=False)
class Run:
    """One run's records: its headers (one per session) and its epoch records, in order."""

    path: str
    headers: tuple[dict, ...]
    records: tuple[dict, ...]
    label: str = ""

    @property
    def header(self) -> dict:
        """The newest session's header: the settings the run has now ({} when there is none)."""
        return self.headers[-1] if self.headers else {}

    def column(self, key: str, default: float = math.nan) -> np.ndarray:
        """(epochs,) one figure of every epoch record, as floats (`default` where it is missing)."""
        return np.array([float(r.get(key, default)) for r in self.records])

    @property
    def epochs(self) -> np.ndarray:
        return self.column("epoch")

    def best(self, key: str, lowest: bool) -> tuple[float, int]:
        """The best value of `key` over the epochs (the first epoch that reached it) and that epoch."""
        values = self.column(key)
        if np.isnan(values).all():
            return math.nan, 0
        i = int(np.nanargmin(values) if lowest else np.nanargmax(values))
        return float(values[i]), int(self.records[i]["epoch"])

    @property
    def steps_per_second(self) -> float:
        """Optimizer steps over the training seconds, at the last epoch (nan when no time passed)."""
        last = self.records[-1]
        return last["step"] / last["seconds"] if last["seconds"] > 0 else math.nan

    def lr_changes(self) -> list[LrChange]:
        """Each epoch whose record shows another lr_scale than the epoch before (the first
        against 1): the change was made during that epoch."""
        changes, seen = [], (0, 0, 1.0)
        for record in self.records:
            scale = float(record.get("lr_scale", 1.0))
            change = lr_change(seen, scale)
            changes += [change] if change else []
            seen = (record["step"], record["epoch"], scale)
        return changes

    def until(self, epoch: int) -> Run:
        """The run as it stood at the end of `epoch`."""
        return replace(self, records=tuple(r for r in self.records if r["epoch"] <= epoch))


def read_run(path: str) -> Run:
    """The run a metrics file holds. RunsError for a file that is missing, unreadable, not a
    metrics file, or holds no epoch yet."""
    if not os.path.exists(path):
        raise RunsError(f"{path}: no such file")
    if os.path.isdir(path):
        raise RunsError(f"{path}: is a directory, not a metrics file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise RunsError(f"{path}: cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise RunsError(f"{path}: not a metrics file (not UTF-8 text)") from None
    if not is_metrics_file(path):
        raise RunsError(f"{path}: not a metrics file (its first line is not a header or epoch record)")
    headers, records = parse(path, lines)
    if not records:
        raise RunsError(f"{path}: holds no epoch yet")
    run = Run(path, tuple(headers), tuple(records))
    return replace(run, label=base_label(run))


def parse(path: str, lines: list[str]) -> tuple[list[dict], list[dict]]:
    """The header and epoch records of a metrics file's lines. An epoch that does not follow
    the one before starts over from there (a run that went on from an earlier checkpoint)."""
    headers, records = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = record_of(line)
        if record.get("record") == "header":
            headers.append(record)
        elif "epoch" in record:
            missing = [key for key in NEEDED if not is_number(record.get(key))]
            if missing:
                raise RunsError(f"{path}, line {n}: an epoch record without a number for {', '.join(missing)}")
            while records and records[-1]["epoch"] >= record["epoch"]:
                records.pop()
            records.append(record)
        elif not record:
            raise RunsError(f"{path}, line {n}: not a JSON record")
    return headers, records


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_runs(paths: Sequence[str]) -> list[Run]:
    """The runs of several files, with labels that tell them apart. RunsError for the first bad file."""
    runs = [read_run(path) for path in paths]
    return [replace(run, label=label) for run, label in zip(runs, distinct_labels(runs))]


# ----------------------------------------------------------------------------------- labels
def lr_text(lr: float) -> str:
    """0.001 -> '1e-3', 0.0025 -> '2.5e-3', 0.1 -> '1e-1'."""
    mantissa, exponent = f"{lr:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def base_label(run: Run) -> str:
    """'adam 1e-3 · L2 H2 C64' from the newest header; the file's name without one."""
    train, model = run.header.get("train", {}), run.header.get("model", {})
    if not train or not model:
        return os.path.splitext(os.path.basename(run.path))[0]
    lr = lr_text(train["lr"]) if is_number(train.get("lr")) else "?"
    sizes = f"L{model.get('n_layers', '?')} H{model.get('n_heads', '?')} C{model.get('d_model', '?')}"
    return f"{train.get('optimizer', '?')} {lr} · {sizes}"


# settings that can tell two runs apart, in the order they are tried: (section, key, how it reads)
TELLERS = (
    ("model", "norm_first", lambda v: "pre-LN" if v else "post-LN"),
    ("train", "task", str),
    ("train", "dropout", lambda v: f"drop {v:g}"),
    ("train", "schedule", str),
    ("model", "activation", str),
    ("train", "batch_size", lambda v: f"B{v}"),
    ("model", "d_ff", lambda v: f"F{v}"),
    ("model", "seq_len", lambda v: f"T{v}"),
    ("train", "weight_decay", lambda v: f"wd {v:g}"),
    ("train", "warmup", lambda v: f"warmup {v}"),
    ("train", "clip", lambda v: f"clip {v:g}"),
    ("train", "samples", lambda v: f"{v} samples"),
    ("train", "seed", lambda v: f"seed {v}"),
    ("model", "dtype", str),
    ("model", "causal", lambda v: "causal" if v else "bidirectional"),
)


def distinct_labels(runs: Sequence[Run]) -> list[str]:
    """Each run's label; runs that share one get the first setting that tells them apart
    added (' · pre-LN'), else their file's name."""
    labels = [run.label or base_label(run) for run in runs]
    for label in set(labels):
        group = [i for i, other in enumerate(labels) if other == label]
        if len(group) < 2:
            continue
        for i, extra in zip(group, tellers(runs[i] for i in group)):
            labels[i] = f"{label} · {extra}"
    return labels


def short_labels(labels: Sequence[str]) -> list[str]:
    """The labels without the parts (' · ' apart) that all of them share: 'adam 1e-3 · L2 H2 C64'
    and 'sgd 1e-2 · L2 H2 C64' -> 'adam 1e-3', 'sgd 1e-2' (a label left empty keeps its first part)."""
    parts = [label.split(" · ") for label in labels]
    shared = set.intersection(*(set(p) for p in parts)) if len(parts) > 1 else set()
    return [" · ".join(x for x in p if x not in shared) or p[0] for p in parts]


def tellers(runs) -> list[str]:
    """What to add to each of runs that share a label: a setting, or the file's name (or path)."""
    runs = list(runs)
    for section, key, text in TELLERS:
        values = [run.header.get(section, {}).get(key) for run in runs]
        if len(set(map(repr, values))) == len(values) and None not in values:
            return [text(v) for v in values]
    names = [os.path.basename(run.path) for run in runs]
    return names if len(set(names)) == len(names) else [run.path for run in runs]


# ------------------------------------------------------------------------ earlier epochs
def earlier_run(metrics_out: str | None, ckpt) -> Run | None:
    """After --load with the run's own --metrics-out: the epochs it holds up to the
    checkpoint's (the lab draws them before the new ones). None when there is no such file,
    or when it is not this run's: its model differs from the checkpoint's, or its record of
    the checkpoint's epoch is missing or was not written at or before the checkpoint's step."""
    if not metrics_out or ckpt is None or not os.path.isfile(metrics_out):
        return None
    epoch, step = int(ckpt.position.get("epoch", 0)), int(ckpt.position.get("step", 0))
    try:
        run = read_run(metrics_out).until(epoch)
    except RunsError:
        return None
    if not run.records or run.records[-1]["epoch"] != epoch or run.records[-1]["step"] > step:
        return None
    saved = {k: v for k, v in ckpt.model_cfg.to_dict().items() if k != "dtype"}
    for header in run.headers:
        model = {k: v for k, v in header.get("model", {}).items() if k != "dtype"}
        if model and model != saved:
            return None
    return run


# ------------------------------------------------------------------------- in the lab
@dataclass(frozen=True)
class Overlays:
    """What the lab's Loss panel draws beside the run being trained."""

    compared: tuple[Run, ...] = ()  # --compare's runs
    earlier: Run | None = None  # this run's epochs before --load, from its own --metrics-out file
    steps_per_epoch: int = 1  # this run's (to place a step on the epoch axis)
    start_step: int = 0  # the steps this run had done when the lab opened (a checkpoint's)
    lr_scale: float = 1.0  # this run's factor on the learning rate when the lab opens

    @classmethod
    def of(cls, setup) -> Overlays:
        """From the Setup (tfnp_tui/setup.py): its compared runs and, when the run goes on
        from a checkpoint, the epochs its metrics file holds up to it."""
        t = setup.trainer
        resumed = setup.loaded is not None and t.step_count > 0
        earlier = earlier_run(setup.metrics_out, setup.loaded) if resumed else None
        return cls(tuple(setup.compare), earlier, t.steps_per_epoch, t.step_count, t.lr_scale)
