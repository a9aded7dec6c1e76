"""The messages the training session sends to the App: plain data only, never widgets.

Each carries the `generation` of the trainer it came from; a reset starts a new
generation, so a late message from the old trainer is recognised and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from textual.message import Message

from engine.analysis.inside import InsideReport
from engine.gradcheck import GradcheckReport
from engine.training.reports import EpochReport, ProbeReport, StepReport

from .sampling import Sample


@dataclass
class Progress(Message):
    """Training moved on: the newest step, every loss since the last update, the epochs that
    finished since then, and the live probe. Sent at most UPDATE_HZ (10) times a second."""

    generation: int
    step: StepReport
    losses: list[float] = field(default_factory=list)
    epochs: list[EpochReport] = field(default_factory=list)
    probe: ProbeReport | None = None
    final: bool = False  # the worker stopped after this one: draw it whatever the throttle says


@dataclass
class Stopped(Message):
    """Training stopped by itself: kind is "finished", "diverged" or "error"."""

    generation: int
    kind: str
    reason: str  # the whole story, for the notification
    short: str = ""  # a few words that fit the status line (else the reason)


@dataclass
class Probed(Message):
    """The model's view of a sequence the user typed (computed while training is paused)."""

    generation: int
    probe: ProbeReport


@dataclass
class GradcheckDone(Message):
    """The gradient check of the current model finished."""

    report: GradcheckReport
    step: int  # the optimizer step the checked model had reached
    bug: str | None = None  # the bug planted for the check (engine/bugs.py), None for none
    generation: int = -1  # the trainer generation that was checked


@dataclass
class Saved(Message):
    """A checkpoint write finished: error is None on success."""

    path: str
    step: int
    error: str | None = None
    generation: int = -1  # the trainer generation that was saved


@dataclass
class RunState(Message):
    """A training thread started (running) or ended."""

    generation: int
    running: bool


@dataclass
class ToolFailed(Message):
    """A probe, gradient check or save met an error it could not say otherwise."""

    reason: str


@dataclass
class MetricsFailed(Message):
    """The metrics file could not be written; the session stopped writing it."""

    reason: str


@dataclass
class SequenceChosen(Message):
    """The inspector's line chose what to look at: typed tokens, or None for the probe sample."""

    tokens: np.ndarray | None
    text: str = ""


@dataclass
class Inspected(Message):
    """A look inside the model away from an epoch's end (the start, a reset): heads, dead units."""

    generation: int
    inside: InsideReport


@dataclass
class KnockedOut(Message):
    """The validation figures with the knocked-out head left out (knocked None: every head
    is back), beside the whole model's."""

    generation: int
    knocked: tuple[int, int] | None
    val_loss: float = float("nan")
    val_acc: float = float("nan")
    base_val_loss: float = float("nan")
    base_val_acc: float = float("nan")


@dataclass
class Sampled(Message):
    """What the model wrote just now, on demand (z, a new temperature, a new prompt);
    sample None: the model cannot write (it is not causal)."""

    generation: int
    sample: Sample | None
