"""The Gradient norms panel: one row per parameter tensor, in model order (embedding first,
head last), so gradient flow reads top to bottom: the gradient norm as a log-scale bar and
a number, the update/weight ratio, and a sparkline of its history over epochs. Rows that
vanish (< 1e-8) or explode (> 1e3, or not finite) are marked by symbol and colour.

Two markers of training health follow:

  update/weight band  each weight matrix's |update| / |weight| (norms of the whole tensor: the
                      newest step live, the epoch's mean of its steps under replay) against
                      UPDATE_BAND: '·' within it, '↓' below (the weights hardly move: learning
                      is slow), '↑' above (they move fast: unstable). Biases and LayerNorm
                      parameters start at 0 or 1, so the rule of thumb is not theirs: no marker.
  dead ReLU units     per feed-forward layer, the units whose pre-activation x @ w1 + b1 is <= 0
                      at every position of the probe batch (engine/analysis/inside.py: the first
                      validation sequences, PROBE_POSITIONS positions), measured at each epoch's
                      end (and at the start); they pass no signal and get no gradient. Live: the
                      newest measure; under replay: that epoch's. A sparkline shows its history.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult

from engine.analysis.inside import InsideReport
from engine.params import zero_by_design
from engine.training.reports import EpochReport

from ..messages import Progress
from ..view import Frame
from .glyphs import SPARKS, fitting, log_bar, sparkline
from .panel import Panel, PanelScroll, TextBlock

VANISH, EXPLODE = 1e-8, 1e3
BAR_LOW, BAR_HIGH = 1e-8, 1e3  # the bar spans these norms, log scale

# The healthy band of a weight matrix's update/weight ratio: Karpathy's rule of thumb (CS231n
# notes, "Neural Networks Part 3", ratio of weights:updates; and "makemore" part 3, which plots
# log10 of the ratio of each 2-D weight) puts it near 1e-3, log10 near -3. We allow a decade
# either side: lower, the learning rate is likely too low; higher, likely too high.
UPDATE_BAND = (1e-4, 1e-2)
BAND_STYLES = {"↓": "yellow", "·": "green", "↑": "yellow"}


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


def band_marker(ratio: float) -> tuple[str, str]:
    """(symbol, style) for a weight matrix's update/weight ratio: '↓' below UPDATE_BAND, '·'
    within it (ends included), '↑' above; '?' when the ratio is not a number it can place."""
    low, high = UPDATE_BAND
    if not math.isfinite(ratio) or ratio < 0:
        return "?", "dim"
    symbol = "↓" if ratio < low else "↑" if ratio > high else "·"
    return symbol, BAND_STYLES[symbol]


def is_matrix(name: str) -> bool:
    """A weight matrix (embed, attention and feed-forward weights, head.w): what the band is for."""
    return name == "embed" or name.rsplit(".", 1)[-1].startswith("w")


def band_legend(width: int) -> Text:
    """The line that says what the band markers mean, as long as fits in width."""
    low, high, middle = (f"{v:.0e}".replace("e-0", "e-") for v in (*UPDATE_BAND, math.prod(UPDATE_BAND) ** 0.5))
    words = fitting(
        width,
        f"upd/w of weight matrices: · within {low}..{high} (≈{middle} healthy), ↓ below, ↑ above",
        f"upd/w of matrices: · in {low}..{high}, ↓ below, ↑ above",
        f"upd/w · in {low}..{high} ↓ below ↑ above",
        f"upd/w ·{low}..{high} ↓below ↑above",
    )
    text = Text(words, style="dim")
    for symbol, style in BAND_STYLES.items():
        text.highlight_words([symbol], style)
    return text


def share_sparkline(values: list[float], width: int) -> str:
    """The last `width` shares (0..1) as block characters on a scale from 0 to the largest
    (all zero: the lowest block); a share that is not a number is a blank."""
    shown = values[-width:] if width > 0 else []
    top = max((v for v in shown if math.isfinite(v)), default=0.0)

    def spark(v: float) -> str:
        if not math.isfinite(v):
            return " "
        return SPARKS[round(v / top * (len(SPARKS) - 1)) if top > 0 else 0]

    return "".join(spark(v) for v in shown)


def short(name: str) -> str:
    """layers.0.attn.wq -> L0.attn.wq, for narrow panels."""
    return name.replace("layers.", "L", 1) if name.startswith("layers.") else name


@dataclass(frozen=True)
class Columns:
    """How wide each column is at a given panel width (narrow panels drop the history first)."""

    width: int  # of the whole row
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
        rest = width - name - 1 - 9 - 2 - (17 if words else 2)  # name, norm, band symbol, marker
        update = rest >= 13 + 4
        rest -= 13 if update else 0
        bar = max(3, min(10, rest // 2))
        spark = max(0, rest - bar - 1)
        return cls(width, name, bar, update, spark if spark >= 4 else 0, words, short_names)


class GradientPanel(Panel, PanelScroll):
    """Per-tensor gradient norms; live values per step, history per epoch; then the health markers."""

    TITLE = "Gradient norms"
    DEFAULT_CSS = "GradientPanel { scrollbar-size-vertical: 1; }"

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.eps = lab.eps  # the dtype's machine epsilon: norms below eps * the largest are rounding noise
        names = self.names = lab.param_names
        self.history: dict[str, list[float]] = {n: [] for n in names}  # epoch means
        self.epochs: list[int] = []  # the epoch of each history entry
        self.dead_history: list[list[float] | None] = []  # each epoch's dead ReLU shares per layer
        self.norms: dict[str, float] = {}
        self.ratios: dict[str, float] = {}
        self.inside: InsideReport | None = None  # the look inside shown (live: the newest)
        self.until_epoch: int | None = None

    def compose(self) -> ComposeResult:
        yield TextBlock(self.table(), id="gradient-table")

    def feed(self, progress: Progress) -> None:
        for report in progress.epochs:
            self.epochs.append(report.epoch)
            for name in self.names:
                self.history[name].append(report.grad_norms[name])
            self.dead_history.append(report.inside.dead_relu if report.inside is not None else None)

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.step, frame.epoch, frame.inside)  # the history is fed apart, with each new step

    def draw(self, frame: Frame) -> None:
        self.inside = frame.inside
        if frame.epoch is not None:
            self.show_epoch(frame.epoch)
        elif frame.step is not None:
            self.show_step(frame.step.grad_norms, frame.step.update_ratios)
        else:
            self.redraw()  # before the first step: the dead units at the start

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
        self.epochs, self.dead_history = [], []
        self.norms, self.ratios, self.inside, self.until_epoch = {}, {}, None, None
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()  # which columns fit depends on the width

    def redraw(self) -> None:
        if self.is_mounted:
            self.query_one("#gradient-table", TextBlock).show(self.table())

    def shown_epochs(self) -> int:
        """How many fed epochs the history shows: all live, up to the replayed one under replay."""
        return len(self.epochs) if self.until_epoch is None else bisect_right(self.epochs, self.until_epoch)

    def table(self) -> Text:
        width = self.size.width - 1  # one column for the scrollbar
        cols = Columns.fit(width, self.names)
        text = self.tensor_rows(cols) if self.norms else Text("no gradients yet\n", style="dim")
        return text.append_text(self.dead_rows(width, cols))

    def tensor_rows(self, cols: Columns) -> Text:
        """The header, one row per tensor, and the band's legend."""
        finite = [v for v in self.norms.values() if math.isfinite(v)]
        noise = 16 * self.eps * max(finite, default=0.0)
        text = Text(f"{'tensor':<{cols.name}} {'|grad| log'[: cols.bar]:<{cols.bar}} {'norm':>8}", style="dim")
        text.append(f"  {'upd/w':<13}" if cols.update else " u", style="dim")
        text.append(f" {'by epoch'[: cols.spark]}\n" if cols.spark else "\n", style="dim")
        for name in self.names:
            norm, ratio = self.norms[name], self.ratios.get(name, math.nan)
            rounding = 0 <= norm < noise  # a gradient that is zero but for rounding: its numbers mean nothing
            marker, style = verdict(name, norm, rounding)
            text.append(f"{short(name) if cols.short_names else name:<{cols.name}} ", style=style)
            text.append(log_bar(norm, BAR_LOW, BAR_HIGH, cols.bar), style=style or "cyan")
            text.append(f" {'≈0':>8}" if rounding else f" {norm:8.1e}")
            known = math.isfinite(ratio) and not rounding
            if cols.update:
                # two figures: 1.3e-02 is above the band, and its marker must not contradict it
                text.append(f"  upd {ratio:7.1e}" if known else "  upd     - ", style="dim")
            text.append(" ")
            if is_matrix(name) and not rounding and not zero_by_design(name):
                text.append(*band_marker(ratio))
            else:
                text.append(" ")
            if cols.spark and rounding:
                text.append(" " * (cols.spark + 1))
            elif cols.spark:
                history = self.history[name][: self.shown_epochs()]
                spark = sparkline(history, cols.spark, log=True, min_span=1.0)  # one decade at least
                text.append(" " + spark.ljust(cols.spark), style="cyan")
            text.append((f" {marker}" if cols.words else f" {marker[:1]}") if marker else "", style=style)
            text.append("\n")
        return text.append_text(band_legend(cols.width)).append("\n")

    def dead_rows(self, width: int, cols: Columns) -> Text:
        """What share of each feed-forward layer's units are dead, and since when."""
        inside = self.inside
        if inside is None:
            return Text("dead ReLU: not measured yet", style="dim")
        if inside.dead_relu is None:
            return Text("dead ReLU: GELU has no dead units", style="dim")
        text = probe_line(inside.heads.sequences, self.lab.seq_len, width).append("\n")
        history = self.dead_history[: self.shown_epochs()]
        F = self.lab.d_ff
        count_width = len(f"{F}/{F}")
        for layer, share in enumerate(inside.dead_relu):
            label = f"L{layer}.ffn" if cols.short_names else f"layers.{layer}.ffn"
            dead = round(share * F)
            row = f"{label:<{cols.name}} {f'{dead}/{F}':>{count_width}} ({100 * share:.1f}%)"
            text.append(row, style="dim" if dead == 0 else "")
            shares = [math.nan if d is None else d[layer] for d in history]
            text.append(" " + share_sparkline(shares, width - len(row) - 1), style="cyan")
            text.append("\n" if layer < len(inside.dead_relu) - 1 else "")
        return text


def probe_line(sequences: int, seq_len: int, width: int) -> Text:
    """What the dead units are counted on, as long as fits in width."""
    positions = sequences * seq_len
    words = fitting(
        width,
        f"dead ReLU units: ≤ 0 at all {positions} positions of the probe batch ({sequences} validation sequences)",
        f"dead ReLU: ≤ 0 at all {positions} probe positions ({sequences} val seqs)",
        f"dead ReLU: ≤ 0 at all {positions} probe positions",
        f"dead ReLU ({positions} probe positions)",
    )
    return Text(words, style="dim")
