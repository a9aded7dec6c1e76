"""Helpers for driving the lab in tests: build it from command-line flags, wait for it to
settle, and read the screen as plain text."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console
from textual import events
from textual.pilot import Pilot

from tfnp_tui.app import TfnpLab
from tfnp_tui.cli import build, build_parser

REVERSE = ["--task", "reverse", "--seq-len", "8", "--layers", "2", "--heads", "2", "--optimizer", "adam"]


def make_lab(*argv: str) -> TfnpLab:
    """The lab as `tfnp-tui ARGV` would start it, without animations (a scroll lands at once,
    so a test waits for no animation to end: what it reads is the same)."""
    app = TfnpLab(build(build_parser().parse_args(list(argv))))
    app.animation_level = "none"
    return app


async def settle(pilot: Pilot) -> None:
    """Wait until every thread of the training session (and every Textual worker) is done and
    every message it sent has been handled."""
    for _ in range(3):
        pilot.app.session.join()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def press(pilot: Pilot, *keys: str) -> None:
    """Press keys one by one, letting the lab finish what each one started."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


CHARACTERS = {"space": " ", "enter": "\r", "tab": "\t", "minus": "-", "plus": "+", "less_than_sign": "<",
              "greater_than_sign": ">"}  # fmt: skip


async def tap(pilot: Pilot, *keys: str) -> None:
    """Press keys as a terminal delivers them, while training runs or is about to: Pilot.press
    waits for the process to idle after each key (up to 2 s), which it never does while a
    training thread works."""
    for key in keys:
        pilot.app.post_message(events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None)))
        await asyncio.sleep(0.03)


def screen_text(app: TfnpLab) -> str:
    """The whole screen as plain text: what a user reads, without colour."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
