"""The Heads panel: what every attention head does, one row per head (layer by layer).

    entropy   how spread each query's attention is, in bits (0: one key; log2 T: all
              alike), and its history over epochs as a sparkline: heads specialise as it falls
    pattern   the named pattern that holds most of the head's attention (self, previous,
              first, anti-diagonal, uniform) and its score (1: exactly), or "mixed"
    without   the validation accuracy and loss with the head knocked out (its output zeroed
              before the output projection), as a change from the whole model's

Measured at every epoch's end (and at the start) on the probe batch, the first validation
sequences (engine/analysis/inside.py); `tfnp-tui --inspect-heads` measures the whole set.
The row of the head the Attention panel shows is marked ▶, a knocked-out head ✕.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from rich.text import Text
from textual.app import ComposeResult

from engine.analysis.heads import HeadsReport

from ..messages import Progress
from ..numbers import plural
from ..view import Frame
from .glyphs import probability, sparkline
from .panel import Panel, PanelScroll, TextBlock

SHORT = {"previous": "prev", "anti-diagonal": "anti-diag"}


class HeadsPanel(Panel, PanelScroll):
    """The heads' table for the live model or the replayed epoch."""

    TITLE = "Heads"
    SHOWN_BY = "heads_table"
    DEFAULT_CSS = "HeadsPanel { height: 1fr; scrollbar-size-vertical: 1; }"

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.epochs: list[int] = []  # the epoch of each history entry
        self.entropies: list[list[float]] = []  # per epoch: every head's entropy, layer by layer
        self.frame: Frame | None = None

    def compose(self) -> ComposeResult:
        yield TextBlock(Text("no heads measured yet", style="dim"), id="heads-table")

    def feed(self, progress: Progress) -> None:
        for report in progress.epochs:
            if report.inside is not None:
                self.epochs.append(report.epoch)
                self.entropies.append([h.entropy_bits for h in report.inside.heads.heads])

    def clear(self) -> None:
        super().clear()
        self.epochs, self.entropies, self.frame = [], [], None

    def subtitle_prefix(self) -> str:
        return "k knocks out the ▶ head" if self.size.width >= 56 else ""

    def depends_on(self, frame: Frame) -> tuple:
        v = frame.view
        return (frame.inside, frame.epoch, v.layer, v.head, v.knocked)

    def draw(self, frame: Frame) -> None:
        self.frame = frame
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        if self.is_mounted and self.frame is not None:
            self.query_one("#heads-table", TextBlock).show(self.table(self.frame))

    def history(self, frame: Frame) -> list[list[float]]:
        """Every epoch's entropies up to the replayed epoch (all of them live)."""
        if frame.epoch is None:
            return self.entropies
        return self.entropies[: bisect_right(self.epochs, frame.epoch.epoch)]

    def table(self, frame: Frame) -> Text:
        inside = frame.inside
        if inside is None:
            return Text("measuring the heads… (at the start and at every epoch's end)", style="dim")
        report: HeadsReport = inside.heads
        width = self.scrollable_content_region.width - 1  # the scrollbar's column
        narrow = width < 41  # 80x24: shorter names and numbers
        wide = width >= 57  # room for the loss column
        fixed = 35 if narrow else 40  # the columns below, history aside
        spark = max(0, min(24, width - fixed - 1 - (10 if wide else 0)))
        spark = spark if spark >= 4 else 0
        name_w, ent_w, score_w, acc_w = (5, 4, 5, 6) if narrow else (6, 7, 5, 7)
        history = f"{'history'[:spark]:<{spark}} " if spark else ""
        entropy, acc = ("bits", "Δacc") if narrow else ("entropy", "Δacc w/o")
        header = f"  {'head':<{name_w}}{entropy:>{ent_w}} {history}{'pattern':<10}{'score':>{score_w}}"
        text = Text(header + f"{acc:>{acc_w + 2}}" + (f" {'Δloss w/o':>9}" if wide else "") + "\n", style="dim")
        entropies = self.history(frame)
        for i, h in enumerate(report.heads):
            shown = (h.layer, h.head) == (frame.view.layer, frame.view.head)
            out = frame.view.knocked == (h.layer, h.head)
            text.append("✕ " if out else "▶ " if shown else "  ", style="bold magenta" if out else "bold")
            name = f"L{h.layer + 1}H{h.head + 1}" if narrow else f"L{h.layer + 1} H{h.head + 1}"
            text.append(f"{name:<{name_w}}", style="bold" if shown else "")
            text.append(f"{h.entropy_bits:>{ent_w}.2f} " if math.isfinite(h.entropy_bits) else f"{'-':>{ent_w}} ")
            if spark:
                line = sparkline([epoch[i] for epoch in entropies if i < len(epoch)], spark, min_span=0.5)
                text.append(line.ljust(spark) + " ", style="cyan")
            pattern = SHORT.get(h.pattern, h.pattern)
            text.append(f"{pattern:<10}", style="dim" if h.pattern == "mixed" else "bold")
            score = probability(h.pattern_score) if math.isfinite(h.pattern_score) else "-"
            text.append(f"{score:>{score_w}}")
            change = h.val_acc - report.base_val_acc
            text.append(f"{100 * change:>+{acc_w + 1}.1f}%", style="bold red" if change <= -0.1 else "")
            if wide:
                text.append(f" {h.val_loss - report.base_val_loss:>+9.3f}")
            text.append("\n")
        text.append(self.footer(report), style="dim")
        return text

    def footer(self, report: HeadsReport) -> str:
        causal = "; causal rows scaled to log2 T" if report.causal else ""
        return (
            f"on {plural(report.sequences, 'validation sequence')}: whole model acc {report.base_val_acc:.1%}, "
            f"loss {report.base_val_loss:.3f}; Δ w/o: the change with that head knocked out{causal}"
        )
