"""The Embeddings panel (placeholder until drawn)."""

from __future__ import annotations

from textual.widgets import Static

from ..view import Frame
from .panel import Panel


class EmbeddingPanel(Panel, Static):
    TITLE = "Embeddings"
    SHOWN_BY = "embeddings"

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.probe, frame.view.positions)

    def draw(self, frame: Frame) -> None:
        self.update("embeddings")
