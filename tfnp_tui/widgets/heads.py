"""The Heads panel (placeholder)."""

from __future__ import annotations

from textual.widgets import Static

from ..view import Frame
from .panel import Panel


class HeadsPanel(Panel, Static):
    TITLE = "Heads"
    SHOWN_BY = "heads_table"

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.inside,)

    def draw(self, frame: Frame) -> None:
        self.update("heads")
