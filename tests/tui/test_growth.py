"""The lab as a place to grow: a panel added through the panel interface alone, panels that
scroll when their content is larger than they are, and a soak of random keys while training runs."""

from __future__ import annotations

import asyncio
import random
import re

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.widgets import Static

from tfnp_tui.app import TfnpLab
from tfnp_tui.widgets.inspector import InspectorPanel
from tfnp_tui.widgets.panel import Panel
from tfnp_tui.widgets.status import StatusLine

from .lab import make_lab, press, screen_text, settle, tap


class StepsPanel(Panel, Static):
    """A trivial panel for the test: how many reports it was fed, and the step the frame shows."""

    TITLE = "Steps"

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.fed = 0

    def feed(self, progress) -> None:
        self.fed += 1

    def draw(self, frame) -> None:
        step = frame.epoch.step if frame.epoch is not None else frame.step.step if frame.step else 0
        self.update(Text(f"fed {self.fed}  showing step {step}"))

    def clear(self) -> None:
        super().clear()
        self.fed = 0


class LabWithSteps(TfnpLab):
    PANELS = (*TfnpLab.PANELS, (StepsPanel,))  # the one line that adds a panel (a slot of its own)


async def test_a_panel_added_through_the_interface_alone_is_fed_shown_replayed_and_cleared():
    app = LabWithSteps(make_lab().setup)
    async with app.run_test(size=(120, 50)) as pilot:
        await press(pilot, "n", "n")
        panel = app.query_one(StepsPanel)
        assert panel.fed >= 2 and "showing step 400" in screen_text(app)
        assert "Steps" in screen_text(app) and "live" in panel.border_subtitle
        await press(pilot, "left", "left")
        assert "showing step 200" in screen_text(app) and "epoch 1 of 2 (replay)" in panel.border_subtitle
        await press(pilot, "r", "y")
        assert panel.fed == 0 and "showing step 0" in screen_text(app)


TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def inspector_rows(app) -> set[int]:
    """The positions whose rows the Inspector shows on screen now."""
    panel = app.query_one(InspectorPanel)
    x0, x1 = panel.region.x, panel.region.right
    rows = set()
    for line in screen_text(app).splitlines()[panel.region.y : panel.region.bottom]:
        m = re.match(r"[│ ]\s*(\d+)\s", line[x0:x1])
        if m:
            rows.add(int(m.group(1)))
    return rows


async def focus(pilot, widget) -> None:
    """Tab until `widget` has the focus (as a user would), at most ten times."""
    for _ in range(10):
        if pilot.app.focused is widget:
            return
        await press(pilot, "tab")
    raise AssertionError(f"tab never reached {widget}")


async def test_the_inspector_and_attention_scroll_at_both_sizes(tmp_path):
    data = tmp_path / "t.txt"
    data.write_text(TEXT)
    for size in ((80, 24), (120, 40)):
        app = make_lab("--task", "text", "--data", str(data), "--seq-len", "32", "--samples", "64", "--d-model", "32",
                       "--d-ff", "64")  # fmt: skip
        async with app.run_test(size=size) as pilot:
            await press(pilot, "s")
            assert 31 not in inspector_rows(app)  # off-screen at first
            await focus(pilot, app.query_one("#inspector-rows"))
            assert "Inspector" in screen_text(app)
            await press(pilot, "end")
            assert 31 in inspector_rows(app) and 0 not in inspector_rows(app)
            await press(pilot, "home")
            assert 0 in inspector_rows(app)
            attention = app.query_one("AttentionPanel")
            await focus(pilot, attention)
            assert attention.max_scroll_y > 0 and attention.scroll_y == 0
            await press(pilot, "pagedown")
            assert attention.scroll_y > 0
            await press(pilot, "left")  # ← still replays (nothing recorded yet: it says so), it does not scroll
            assert "no epochs recorded yet" in screen_text(app)


# key -> the character it types (what a terminal sends for it)
KEYS = {"space": " ", "n": "n", "s": "s", "left": None, "right": None, "g": "g", "escape": None, "w": "w",
        "r": "r", "y": "y", "t": "t", "1": "1", "2": "2", "enter": "\r", "p": "p", "left_square_bracket": "[",
        "right_square_bracket": "]", "h": "h", "H": "H", "a": "a", "v": "v", "tab": "\t", "shift+tab": None,
        "up": None, "down": None, "pageup": None, "pagedown": None, "home": None, "end": None,
        "question_mark": "?", "c": "c", "comma": ",", "full_stop": ".", "o": "o", "k": "k", "e": "e", "E": "E",
        "l": "l", "b": "b", "B": "B", "x": "x", "less_than_sign": "<", "greater_than_sign": ">", "z": "z",
        "minus": "-", "plus": "+", "equals_sign": "=", "m": "m"}  # fmt: skip
# whole gestures among the single keys: a reset with its confirmation, a typed sequence, a planted bug
GESTURES = [["r", "y"], ["t", "1", "space", "2", "enter"], ["g", "escape"], ["g", "b", "escape"]] + [
    [key] for key in KEYS
]
SIZES = [(80, 24), (120, 40), (70, 20), (100, 30)]


async def resize(app, width: int, height: int) -> None:
    """Resize as a terminal delivers it: Pilot.resize_terminal waits for the process to idle
    after it (up to 1 s), which it never does while a training thread works."""
    app.post_message(events.Resize(Size(width, height), Size(width, height)))
    await asyncio.sleep(0.02)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def test_soak_random_keys_while_training_runs():
    """Every gesture twice (120 keys) and every size three times, in a seeded random order, on
    the reverse task, training running."""
    rng = random.Random(2)  # an order that confirms a reset (one at 70x20 or in the typed line does not)
    deck = [*GESTURES * 2, *SIZES * 3]  # none left out: a plain random draw of 200 gestures missed e
    rng.shuffle(deck)
    narrow = ["--d-model", "16", "--d-ff", "32"]  # the gradient checks that g, b and B start end sooner
    app = make_lab("--task", "reverse", "--seq-len", "8", "--layers", "2", "--heads", "2", *narrow, "--epochs", "1000")
    async with app.run_test(size=(120, 40)) as pilot:
        await tap(pilot, "space")  # (press() would wait for the run to end)
        await pilot.pause(0.2)
        start_rss, last_step, resets, most = rss_bytes(), 0, app.session.generation, 0
        for gesture in deck:
            if gesture in SIZES:
                await resize(app, *gesture)
            else:  # as a terminal delivers it: Pilot.press would wait for the trainer to idle
                for key in gesture:
                    app.post_message(events.Key(key, KEYS[key]))
                    await asyncio.sleep(0.02)
            step = app.query_one(StatusLine).step
            if app.session.generation != resets:  # a confirmed reset: counting starts again
                resets, last_step = app.session.generation, step
            assert step >= last_step, "the step count went backwards without a reset"
            last_step, most = step, max(most, step)
        assert rss_bytes() - start_rss < 300 * 2**20
        assert app.session.generation >= 1 and most > 0  # the keys acted: reset, trained
        app.session.pause(wait=True)  # before settle, which waits for every thread of the session
        while len(app.screen_stack) > 1:  # close any box the keys left open
            await pilot.press("escape")
            await pilot.pause()
        app.set_focus(None)
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        before = app.trainer.step_count
        await press(pilot, "s")  # the lab still answers
        assert app.trainer.step_count == before + 1
