"""The grid the panels sit in: two a row, the top row as tall as the attention heatmap needs
(a row per position) and no taller than leaves the lower rows room for their long lists."""

from __future__ import annotations

import math

from textual.containers import Grid


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
