"""The grid the panels sit in: two slots a row, the top row as tall as the attention heatmap
needs (a row per position) and no taller than leaves the lower rows room for their long
lists. A slot holds one or more panels and shows one of them at a time, as the View says."""

from __future__ import annotations

import math

from textual.containers import Container, Grid

from ..view import View
from .panel import Panel


class PanelSlot(Container):
    """One cell of the grid: its first panel, or the one whose SHOWN_BY field of the View is
    on (the Loss panel, or the Embeddings when `view.embeddings`)."""

    DEFAULT_CSS = "PanelSlot { height: 1fr; }"

    def choose(self, view: View) -> list[Panel]:
        """Show the panel the view asks for, hide the others; the panel shown, in a list."""
        panels = list(self.query_children(".panel"))
        chosen = next((p for p in panels[1:] if getattr(view, p.SHOWN_BY)), panels[0])
        for panel in panels:
            if panel.display != (panel is chosen):
                panel.display = panel is chosen
        return [chosen]


class PanelGrid(Grid):
    """Lays out `count` panels two a row for a terminal of a given height."""

    def __init__(self, count: int, seq_len: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows = math.ceil(count / 2)
        self.seq_len = seq_len

    def fit(self, height: int) -> None:
        """Row heights for a terminal `height` lines high (status line and footer take 3)."""
        panels = height - 3
        heatmap = self.seq_len + 3  # a row per position, the key labels, the borders
        top = max(10, min(panels - 11, max(round(panels * 0.44), heatmap)))
        self.styles.grid_size_rows = self.rows
        self.styles.grid_rows = " ".join([str(top)] + ["1fr"] * (self.rows - 1))
