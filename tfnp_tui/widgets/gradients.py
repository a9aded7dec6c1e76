"""The Gradient norms panel: one row per parameter tensor, in model order (embedding first,
head last), so gradient flow reads top to bottom: the gradient norm as a log-scale bar and
a number, the update/weight ratio, and a sparkline of its history over epochs. Rows that
vanish (< 1e-8) or explode (> 1e3, or not finite) are marked by symbol and colour."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult

from engine.model import zero_by_design
from engine.training.reports import EpochReport

from ..messages import Progress
from ..view import Frame
from .glyphs import log_bar, sparkline
from .panel import Panel, PanelScroll, TextBlock

VANISH, EXPLODE = 1e-8, 1e3
BAR_LOW, BAR_HIGH = 1e-8, 1e3  # the bar spans these norms, log scale


def verdict(name: str, norm: float, rounding: bool = False) -> tuple[str, str]:
    """(marker, style) for a gradient norm: exploding, vanishing, zero by design, or fine.
    `rounding`: the norm is no larger than the rounding noise of the largest one."""
    if not math.isfinite(norm) or norm > EXPLODE:
        return "▲ exploding", "bold red"
    if norm < VANISH or rounding:
        if zero_by_design(name):  # the key bias: softmax ignores a constant added to a row of scores
            return "○ zero by design", "dim"
        return "▼ vanishing", "bold yellow"
    return "", ""


def short(name: str) -> str:
    """layers.0.attn.wq -> L0.attn.wq, for narrow panels."""
    return name.replace("layers.", "L", 1) if name.startswith("layers.") else name


@dataclass(frozen=True)
class Columns:
    """How wide each column is at a given panel width (narrow panels drop the history first)."""

    name: int
    bar: int
    update: bool
    spark: int
    words: bool  # the marker's word as well as its symbol
    short_names: bool

    @classmethod
    def fit(cls, width: int, names: list[str]) -> Columns:
        short_names = width < 60
        name = max(len(short(n) if short_names else n) for n in names)
        words = width >= 72
        rest = width - name - 1 - 9 - (17 if words else 2)  # name, norm, marker
        update = rest >= 11 + 4
        rest -= 11 if update else 0
        bar = max(3, min(10, rest // 2))
        spark = max(0, rest - bar - 1)
        return cls(name, bar, update, spark if spark >= 4 else 0, words, short_names)


class GradientPanel(Panel, PanelScroll):
    """Per-tensor gradient norms; live values per step, history per epoch."""

    TITLE = "Gradient norms"
    DEFAULT_CSS = "GradientPanel { scrollbar-size-vertical: 1; }"

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.eps = lab.eps  # the dtype's machine epsilon: norms below eps * the largest are rounding noise
        names = self.names = lab.param_names
        self.history: dict[str, list[float]] = {n: [] for n in names}  # epoch means
        self.epochs: list[int] = []  # the epoch of each history entry
        self.norms: dict[str, float] = {}
        self.ratios: dict[str, float] = {}
        self.until_epoch: int | None = None

    def compose(self) -> ComposeResult:
        yield TextBlock(self.table(), id="gradient-table")

    def feed(self, progress: Progress) -> None:
        for report in progress.epochs:
            self.epochs.append(report.epoch)
            for name in self.names:
                self.history[name].append(report.grad_norms[name])

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.step, frame.epoch)  # the history is fed apart, with each new step

    def draw(self, frame: Frame) -> None:
        if frame.epoch is not None:
            self.show_epoch(frame.epoch)
        elif frame.step is not None:
            self.show_step(frame.step.grad_norms, frame.step.update_ratios)

    def show_step(self, norms: dict[str, float], ratios: dict[str, float]) -> None:
        """Live: the newest step's norms."""
        self.norms, self.ratios, self.until_epoch = norms, ratios, None
        self.redraw()

    def show_epoch(self, report: EpochReport) -> None:
        """Replay: the epoch's mean norms, and the history up to that epoch."""
        self.norms, self.ratios, self.until_epoch = report.grad_norms, report.update_ratios, report.epoch
        self.redraw()

    def clear(self) -> None:
        super().clear()
        self.history = {n: [] for n in self.names}
        self.epochs = []
        self.norms, self.ratios, self.until_epoch = {}, {}, None
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()  # which columns fit depends on the width

    def redraw(self) -> None:
        if self.is_mounted:
            self.query_one("#gradient-table", TextBlock).show(self.table())

    def table(self) -> Text:
        if not self.norms:
            return Text("no gradients yet", style="dim")
        cols = Columns.fit(self.size.width - 1, self.names)  # one column for the scrollbar
        finite = [v for v in self.norms.values() if math.isfinite(v)]
        noise = 16 * self.eps * max(finite, default=0.0)
        text = Text(f"{'tensor':<{cols.name}} {'|grad| log'[: cols.bar]:<{cols.bar}} {'norm':>8}", style="dim")
        text.append(f"  {'upd/w':<9}" if cols.update else "", style="dim")
        text.append(f" {'by epoch'[: cols.spark]}\n" if cols.spark else "\n", style="dim")
        for name in self.names:
            norm, ratio = self.norms[name], self.ratios.get(name, math.nan)
            rounding = 0 <= norm < noise  # a gradient that is zero but for rounding: its numbers mean nothing
            marker, style = verdict(name, norm, rounding)
            text.append(f"{short(name) if cols.short_names else name:<{cols.name}} ", style=style)
            text.append(log_bar(norm, BAR_LOW, BAR_HIGH, cols.bar), style=style or "cyan")
            text.append(f" {'≈0':>8}" if rounding else f" {norm:8.1e}")
            if cols.update:
                known = math.isfinite(ratio) and not rounding
                text.append(f"  upd {ratio:4.0e}" if known else "  upd   - ", style="dim")
            if cols.spark and rounding:
                text.append(" " * (cols.spark + 1))
            elif cols.spark:
                history = self.history[name]
                if self.until_epoch is not None:
                    history = history[: bisect_right(self.epochs, self.until_epoch)]
                spark = sparkline(history, cols.spark, log=True, min_span=1.0)  # one decade at least
                text.append(" " + spark.ljust(cols.spark), style="cyan")
            text.append((f" {marker}" if cols.words else f" {marker[:1]}") if marker else "", style=style)
            text.append("\n")
        return text
