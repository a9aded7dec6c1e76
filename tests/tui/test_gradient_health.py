"""The Gradient norms panel's health markers: the update/weight band of each weight matrix,
and the dead ReLU units of each feed-forward layer, checked against the probe batch's
pre-activations computed here by hand from the app's own trainer, live and under replay."""

import math

import numpy as np
import pytest

from engine.analysis.inside import PROBE_POSITIONS
from tfnp_tui.widgets.gradients import GradientPanel, band_marker, share_sparkline, short

from ..engine.test_health import dead_counts
from .lab import make_lab, press, screen_text, settle

F64 = ["--dtype", "float64"]  # the hand computation and the model then agree to the last bit
SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("ratio", [0.0, 1e-6, 9.9e-5])
def test_below_the_band(ratio):
    assert band_marker(ratio)[0] == "↓"


@pytest.mark.parametrize("ratio", [1e-4, 1e-3, 4e-3, 1e-2])
def test_within_the_band(ratio):
    assert band_marker(ratio)[0] == "·"


@pytest.mark.parametrize("ratio", [1.01e-2, 0.5, 3.0])
def test_above_the_band(ratio):
    assert band_marker(ratio)[0] == "↑"


@pytest.mark.parametrize("ratio", [math.nan, math.inf, -1.0])
def test_a_ratio_that_cannot_be_placed_says_so(ratio):
    assert band_marker(ratio)[0] == "?"


def test_share_sparkline_starts_at_zero():
    assert share_sparkline([0.0, 0.0], 5) == "▁▁"
    assert share_sparkline([0.0, 0.5, 1.0, math.nan], 5) == "▁▅█ "
    assert share_sparkline([0.1, 0.2], 1) == "█"


def probe_tokens(app) -> np.ndarray:
    """The probe batch: the first validation sequences, PROBE_POSITIONS positions."""
    val = app.trainer.task.val_tokens
    return val[: max(1, min(len(val), PROBE_POSITIONS // val.shape[1]))]


def expected_dead(app) -> list[int]:
    """Per layer, the units never positive on the probe batch, from the trainer's parameters."""
    return dead_counts(app.trainer.model.params, app.trainer.model_cfg, probe_tokens(app))


def plant(app, layer: int, units: list[int]) -> None:
    """Kill units for good: no input lifts x @ w1 + b1 above a bias of -1000."""
    app.trainer.model.params[f"layers.{layer}.ffn.b1"][units] = -1e3


def panel_lines(app) -> list[str]:
    """The Gradient norms panel's lines on screen (the bottom-left panel: the left half)."""
    lines = screen_text(app).splitlines()
    top = next(i for i, line in enumerate(lines) if "Gradient norms" in line)
    return [line.split("││")[0] for line in lines[top + 1 :] if "││" in line]


async def scroll_to_bottom(pilot) -> None:
    pilot.app.query_one(GradientPanel).scroll_end(animate=False)
    await settle(pilot)


async def every_line(pilot) -> list[str]:
    """Every line of the Gradient norms panel, read from the screen page by page."""
    panel, lines = pilot.app.query_one(GradientPanel), []
    page = max(1, panel.scrollable_content_region.height - 1)
    for y in range(0, int(panel.max_scroll_y) + page, page):
        panel.scroll_to(y=y, animate=False)
        await settle(pilot)
        lines += [line for line in panel_lines(pilot.app) if line not in lines]
    return lines


def dead_row(lines: list[str], layer: int) -> str:
    return next(line for line in lines if f"L{layer}.ffn " in line)


def assert_dead_rows(lines: list[str], counts: list[int], d_ff: int, history: int) -> None:
    for layer, dead in enumerate(counts):
        row = dead_row(lines, layer)
        assert f" {dead}/{d_ff} ({100 * dead / d_ff:.1f}%)" in row, row
        spark = row.split("%)")[1].strip()
        assert len(spark) == history, row  # one block an epoch


def band_symbol(ratio: float) -> str:
    return "↓" if ratio < 1e-4 else "↑" if ratio > 1e-2 else "·"


@pytest.mark.parametrize("size", SIZES)
async def test_dead_relu_rows_live_and_replayed(size):
    app = make_lab(*F64)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        d_ff = app.trainer.model_cfg.d_ff
        await scroll_to_bottom(pilot)
        lines = panel_lines(app)
        assert "no gradients yet" in "\n".join(lines)
        assert_dead_rows(lines, expected_dead(app), d_ff, history=0)  # the start, before any epoch
        assert any("dead ReLU" in line and "256 probe positions" in line for line in lines)

        plant(app, 0, [3, 7, 11])
        await press(pilot, "n")
        first = expected_dead(app)
        assert first[0] >= 3
        plant(app, 0, [20, 21, 22, 23, 40])
        await press(pilot, "n")
        second = expected_dead(app)
        assert second[0] >= first[0] + 5
        await scroll_to_bottom(pilot)
        assert_dead_rows(panel_lines(app), second, d_ff, history=2)

        await press(pilot, "left", "left")  # epoch 1 of 2
        await scroll_to_bottom(pilot)
        assert "epoch 1 of 2 (replay)" in screen_text(app)
        assert_dead_rows(panel_lines(app), first, d_ff, history=1)


@pytest.mark.parametrize("size", SIZES)
async def test_band_markers_and_legend(size):
    app = make_lab(*F64)
    async with app.run_test(size=size) as pilot:
        await press(pilot, "n")
        for ratios in (app.scene.live.step.update_ratios, None):
            if ratios is None:  # replay: the epoch's mean ratios
                await press(pilot, "left")
                ratios = app.history.get(1).update_ratios
            lines = await every_line(pilot)
            legend = "\n".join(lines)
            assert "upd/w" in legend and "1e-4..1e-2" in legend and "↓" in legend and "↑" in legend
            for name in ("embed", "layers.0.ffn.w1", "layers.0.ffn.w2", "head.w", "layers.0.ffn.b1", "head.b"):
                row = next(line for line in lines if line.lstrip("│ ").split(" ")[0] in (name, short(name)))
                marks = [s for s in "↓·↑?" if s in row]
                if name == "embed" or name.split(".")[-1].startswith("w"):
                    assert marks == [band_symbol(ratios[name])], row
                else:
                    assert marks == [], row  # biases: the rule of thumb is for weight matrices


async def test_each_matrix_row_shows_where_its_ratio_sits():
    app = make_lab(*F64)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s")
        panel = app.query_one(GradientPanel)
        ratios = {"embed": 3e-5, "layers.0.attn.wq": 2e-3, "layers.0.attn.wk": 0.2, "layers.0.attn.wv": math.nan}
        panel.show_step(dict.fromkeys(panel.names, 1.0), dict.fromkeys(panel.names, 1e-3) | ratios)
        lines = await every_line(pilot)
        for name, symbol in zip(ratios, "↓·↑?"):
            row = next(line for line in lines if line.lstrip("│ ").startswith(short(name) + " "))
            assert [s for s in "↓·↑?" if s in row] == [symbol], row


async def test_gelu_says_it_has_no_dead_units():
    app = make_lab("--activation", "gelu", *F64)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "n")
        await scroll_to_bottom(pilot)
        lines = panel_lines(app)
        assert any("dead ReLU: GELU has no dead units" in line for line in lines)
        assert not any(".ffn " in line for line in lines)


async def test_a_reset_forgets_the_dead_units_history():
    app = make_lab(*F64)
    async with app.run_test(size=(120, 40)) as pilot:
        plant(app, 0, [1, 2])
        await press(pilot, "n", "r", "y")
        await scroll_to_bottom(pilot)
        assert app.query_one(GradientPanel).dead_history == []
        assert_dead_rows(panel_lines(app), expected_dead(app), app.trainer.model_cfg.d_ff, history=0)
