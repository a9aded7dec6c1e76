"""What the lab shows: the view state (live or a replayed epoch, the attention layer and head,
the probe or a typed sequence) in one small object, the Frame each redraw hands to every
panel, the Scene that keeps what frames are made of (the live reports and the recorded
epochs), and the facts about the run that panels are built from (LabInfo)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.analysis.inside import InsideReport
from engine.training.reports import EpochReport, ProbeReport, StepReport

from .history import History, capacity_for
from .messages import Progress
from .numbers import rate_text
from .runs import Overlays
from .sampling import Sample, newer


@dataclass
class View:
    """What the learner has chosen to look at; the keys change it, the panels read it."""

    epoch: int | None = None  # None: live; else the recorded epoch being replayed
    layer: int = 0  # the attention layer shown (0-based)
    head: int = 0  # the attention head shown (0-based)
    all_heads: bool = False  # every head of the layer side by side
    values: bool = False  # numbers instead of shades in the heatmap
    typed: bool = False  # the attention and inspector show a typed sequence, not the probe sample
    row: bool = False  # the attention panel computes one query's row (scores, mask, weights) instead of the map
    query: int = 0  # that query position (0-based)
    heads_table: bool = False  # the attention slot shows the Heads table
    embeddings: bool = False  # the loss slot shows the embedding space
    positions: bool = False  # ... of the probe's positions (embedding + positional encoding), not the vocabulary
    lens: bool = False  # the inspector shows the logit lens, layer by layer
    knocked: tuple[int, int] | None = None  # the (layer, head) knocked out for analysis (0-based)
    samples: bool = False  # the loss slot shows what the model writes (a causal model)
    smooth_loss: bool = False  # the Loss panel smooths the training curves (a moving average, raw curve faint)
    linear_loss: bool = False  # ... on a linear loss axis, not a log one

    @property
    def live(self) -> bool:
        return self.epoch is None

    def move_layer(self, delta: int, n_layers: int) -> None:
        self.layer = (self.layer + delta) % n_layers

    def move_head(self, delta: int, n_heads: int) -> None:
        self.head = (self.head + delta) % n_heads

    def move_query(self, delta: int, seq_len: int) -> None:
        self.query = (self.query + delta) % seq_len


@dataclass(frozen=True)
class Frame:
    """Everything a panel draws at one redraw: the view and the data it selects."""

    view: View
    note: str  # "live", or "epoch 3 of 12 (replay)": each panel's subtitle ends with it
    step: StepReport | None = None  # live: the newest step (None before the first)
    epoch: EpochReport | None = None  # replay: the epoch's report
    probe: ProbeReport | None = None  # the sequence the attention and inspector look at
    inside: InsideReport | None = None  # the look inside at the replayed epoch's end (live: the newest)
    sample: Sample | None = None  # what the model wrote at the replayed epoch's end (live: the newest sample)


class Scene:
    """The view, the newest live report and probe, and the recorded epochs: what frames are made of."""

    def __init__(self, model, n_layers: int) -> None:
        self.view = View(layer=n_layers - 1)  # the last layer first: where routing tasks show their pattern
        self.history = History(capacity_for(model))
        self.live: Progress | None = None  # the newest report
        self.live_probe: ProbeReport | None = None  # the newest look at the probe or typed sequence
        self.live_inside: InsideReport | None = None  # the newest look inside (at an epoch's end, or the start)
        self.live_sample: Sample | None = None  # the newest sample (an epoch's end, or on demand)
        self._on_screen: tuple = (None, None)  # the live (step, probe) the last live frame showed

    def take(self, progress: Progress) -> None:
        self.live = progress
        if progress.probe is not None and progress.probe.knockout == self.view.knocked:  # not one from before k
            self.live_probe = progress.probe
        self.history.extend(progress.epochs)
        for report in progress.epochs:
            self.live_inside = report.inside or self.live_inside
            self.live_sample = newer(report.sample, self.live_sample)

    def frame(self, view_only: bool = False) -> Frame:
        """The view's frame: the replayed epoch, or live (also when that epoch is gone).
        view_only: only the view changed (a key), so a live frame carries the data already on
        screen, and the panels the key does not concern keep their picture."""
        report = self.history.get(self.view.epoch) if not self.view.live else None
        if report is not None:
            return Frame(self.view, self.replay_note(), epoch=report, probe=self.replayed_probe(report),
                         inside=report.inside, sample=report.sample)  # fmt: skip
        self.view.epoch = None
        if not view_only:
            self._on_screen = (self.live.step if self.live else None, self.live_probe)
        step, probe = self._on_screen
        return Frame(self.view, "live", step=step, probe=probe, inside=self.live_inside, sample=self.live_sample)

    def replayed_probe(self, report: EpochReport) -> ProbeReport:
        """The epoch's probe sample, without the knocked-out head when one is (and was kept)."""
        knocked = report.inside.knocked if report.inside is not None else None
        if self.view.knocked is None or not knocked:
            return report.probe
        return knocked[self.view.knocked]

    def replay_note(self) -> str:
        note = f"epoch {self.view.epoch} of {self.history.last_epoch} (replay)"
        report = self.history.get(self.view.epoch)
        if self.view.knocked is not None and report is not None and not (report.inside and report.inside.knocked):
            note += ", every head: the knock-out is not kept for a model this large"
        return note

    def replay(self, delta: int) -> str:
        """Step the view through the recorded epochs; what to say about where it is now."""
        if not len(self.history):
            return "no epochs recorded yet: train one with n"
        self.view.epoch = self.history.neighbour(self.view.epoch, delta)
        if self.view.live:
            return "live"
        report = self.history.get(self.view.epoch)  # a rate the - and + keys changed is said
        rate = f" ({rate_text(report.lr, report.lr_scale)})" if report.lr_scale != 1 else ""
        where = f"replaying epoch {self.view.epoch} of {self.history.last_epoch}{rate}"
        return f"{where}: ←/→ move, a training key returns to live"

    def clear(self) -> None:
        self.history.clear()
        self.live, self.live_probe, self.live_inside, self.view.epoch = None, None, None, None
        self.live_sample = None
        self._on_screen = (None, None)


@dataclass(frozen=True)
class LabInfo:
    """The facts about a run that panels are built from (the same for every panel)."""

    label: Callable[[int], str]  # token id -> what the learner reads (a number, or a character)
    n_layers: int
    n_heads: int
    seq_len: int
    param_names: list[str]  # in model order: embedding first, head last
    eps: float  # the dtype's machine epsilon: what rounding noise is
    example: str  # the start of the probe sample, as one would type it
    parse: Callable[[str], np.ndarray]  # what the user typed -> (1, T) tokens; ValueError names a bad one
    causal: bool  # the model reads prefixes (a shorter typed sequence is nothing new to it)
    d_ff: int  # F: the units of each feed-forward layer (what a dead ReLU count is out of)
    overlays: Overlays = Overlays()  # the runs the Loss panel draws beside this one (tfnp_tui/runs.py)

    @classmethod
    def of(cls, trainer) -> LabInfo:
        cfg, task = trainer.model_cfg, trainer.task
        return cls(task.label, cfg.n_layers, cfg.n_heads, cfg.seq_len, list(trainer.model.params),
                   float(np.finfo(cfg.dtype).eps), typing_example(task), task.parse, cfg.causal, cfg.d_ff)  # fmt: skip


def typing_example(task) -> str:
    """The start of the probe sample, as a user would type it."""
    tokens = task.val_tokens[0][:8]
    if task.chars is None:
        return " ".join(map(str, tokens[:4]))
    typed = "".join(task.chars[i] if task.chars[i].isprintable() else " " for i in tokens).strip()
    return typed or "abc"
