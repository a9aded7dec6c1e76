"""ScrollingModal: a bordered box in the middle of the screen that arrows and page keys scroll."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen


class ScrollingModal(ModalScreen[None]):
    """Subclasses give a BOX_TITLE and the box's contents in `body`."""

    DEFAULT_CSS = """
    ScrollingModal { align: center middle; }
    ScrollingModal > VerticalScroll { width: 90; max-width: 100%; height: auto; max-height: 90%;
                                      border: round $accent; padding: 0 1; background: $surface; }
    """
    BOX_TITLE = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = self.BOX_TITLE
            scroll.border_subtitle = "esc closes"
            yield from self.body()

    def body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # arrows, page keys and end scroll the box
