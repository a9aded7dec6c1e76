"""The lab driven as a user drives it: key presses through Textual's Pilot, then what the
engine did and what the panels show."""

import json
import re
import time

import numpy as np
import pytest

from engine.model import TransformerEncoder
from engine.training import checkpoint
from tfnp_tui.screens.confirm import ConfirmScreen
from tfnp_tui.screens.gradcheck import GradcheckScreen
from tfnp_tui.screens.help import HelpScreen
from tfnp_tui.view import typing_example
from tfnp_tui.widgets.attention import AttentionPanel
from tfnp_tui.widgets.gradients import GradientPanel
from tfnp_tui.widgets.inspector import InspectorPanel
from tfnp_tui.widgets.status import StatusLine

from .lab import REVERSE, make_lab, press, screen_text, settle, tap

SIZE = (120, 40)


async def test_n_trains_exactly_one_epoch_then_pauses():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n")
        assert app.trainer.step_count == app.trainer.steps_per_epoch == 200
        status = app.query_one(StatusLine)
        assert not status.running and status.epoch == 1 and status.step == 200
        assert len(app.history) == 1
        text = screen_text(app)
        for words in ("epoch 1", "step 200", "loss ", "paused", "task next", "sgd lr 1.0e-02"):
            assert words in text, words
        for title in ("Loss", "Attention", "Gradient norms", "Inspector"):
            assert title in text, title


async def test_s_takes_one_step():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s", "s", "s")
        assert app.trainer.step_count == 3
        assert app.query_one(StatusLine).step == 3
        assert "step 3" in screen_text(app)


async def test_space_runs_and_pauses():
    app = make_lab("--epochs", "1000")
    async with app.run_test(size=SIZE) as pilot:
        await tap(pilot, "space")
        for _ in range(200):  # until the worker has taken a few steps
            await pilot.pause(0.01)
            if app.trainer.step_count > 50:
                break
        assert app.query_one(StatusLine).running
        await press(pilot, "space")
        stopped_at = app.trainer.step_count
        assert not app.query_one(StatusLine).running and stopped_at > 50
        await pilot.pause(0.2)
        assert app.trainer.step_count == stopped_at  # really paused
        assert app.query_one(StatusLine).step == stopped_at  # and the screen says where
        assert "paused" in screen_text(app)


async def test_two_quick_spaces_pause_and_run_again():
    app = make_lab("--epochs", "1000")
    async with app.run_test(size=SIZE) as pilot:
        await tap(pilot, "space")
        await pilot.pause(0.3)
        assert app.session.running
        await tap(pilot, "space", "space")  # before the worker's state change has arrived
        await pilot.pause(0.3)
        assert app.session.running and app.query_one(StatusLine).running
        await press(pilot, "space")
        assert not app.session.running


async def test_run_stops_by_itself_after_the_epochs_asked_for():
    app = make_lab("--epochs", "2", "--samples", "40", "--batch-size", "4")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "space")
        assert app.trainer.step_count == 20 and not app.query_one(StatusLine).running
        assert "trained the 2 epochs asked for" in screen_text(app)
        await press(pilot, "n")  # and it goes on when asked
        assert app.trainer.step_count == 30


async def test_r_asks_first_then_resets_to_a_fresh_model():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n")
        await press(pilot, "r")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "n")  # no: nothing changes
        assert app.trainer.step_count == 200
        await press(pilot, "r", "y")
        assert app.trainer.step_count == 0 and len(app.history) == 0
        fresh = TransformerEncoder(app.trainer.model_cfg, seed=0).params
        assert all(np.array_equal(fresh[k], v) for k, v in app.trainer.model.params.items())
        assert "step 0" in screen_text(app)


async def test_replay_steps_back_and_forth_through_recorded_epochs():
    app = make_lab(*REVERSE)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n", "n", "n")
        attention = app.query_one(AttentionPanel)
        await press(pilot, "left")
        assert app.view.epoch == 3
        await press(pilot, "left")
        assert app.view.epoch == 2
        assert attention.probe is app.history.get(2).probe
        text = screen_text(app)
        assert "epoch 2 of 3 (replay)" in text
        await press(pilot, "left", "left", "left")  # stops at the oldest
        assert app.view.epoch == 1
        await press(pilot, "right", "right", "right")
        assert app.view.live and "(replay)" not in screen_text(app)
        await press(pilot, "left", "s")  # a training key returns to live
        assert app.view.live and app.trainer.step_count == 3 * 63 + 1


async def test_replay_before_any_epoch_says_so():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "left")
        assert app.view.live and "no epochs recorded yet" in screen_text(app)


async def test_g_runs_the_gradient_check_and_shows_the_table():
    app = make_lab(*REVERSE)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n", "g")
        assert isinstance(app.screen, GradcheckScreen)
        text = screen_text(app)
        assert "Gradient check" in text and "tensors pass" in text
        assert "layers.1.attn.wq" in text and "✓ pass" in text and "FAIL" not in text
        await press(pilot, "end")  # the table scrolls to its last row: the input embeddings
        assert "input" in screen_text(app).split("Gradient check")[1]
        await press(pilot, "escape")
        assert not isinstance(app.screen, GradcheckScreen)
        assert "gradient check: all pass" in screen_text(app)


async def test_w_saves_a_checkpoint_that_loads(tmp_path):
    path = tmp_path / "lab.npz"
    app = make_lab("--save", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s", "s", "w")
        assert f"saved {path} (step 2)" in screen_text(app)
    ckpt = checkpoint.load(path)
    assert ckpt.position["step"] == 2


async def test_an_unwritable_save_path_is_reported_and_training_goes_on(tmp_path):
    (tmp_path / "gone").mkdir()
    app = make_lab("--save", str(tmp_path / "gone" / "x.npz"))
    async with app.run_test(size=SIZE) as pilot:
        (tmp_path / "gone").rmdir()  # after the start-up check: the save fails
        await press(pilot, "s", "w")
        assert "could not save" in screen_text(app)
        await press(pilot, "s")
        assert app.trainer.step_count == 2


async def test_a_failed_save_stays_on_screen_while_training_runs(tmp_path):
    (tmp_path / "gone").mkdir()
    app = make_lab("--save", str(tmp_path / "gone" / "x.npz"), "--epochs", "1000")
    async with app.run_test(size=SIZE) as pilot:
        (tmp_path / "gone").rmdir()
        await tap(pilot, "space")
        await pilot.pause(0.2)
        await tap(pilot, "w")
        start = app.trainer.epoch
        for _ in range(300):  # until an epoch or two have ended, each of them with news of its own
            await pilot.pause(0.01)
            if app.trainer.epoch >= start + 2:
                break
        assert app.trainer.epoch >= start + 2
        assert "could not save" in app.query_one(StatusLine).message
        await press(pilot, "space")


async def test_metrics_out_gets_a_line_per_epoch_from_the_lab_too(tmp_path):
    path = tmp_path / "m.jsonl"
    app = make_lab("--metrics-out", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n", "n")
    header, *rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert header["record"] == "header" and header["train"]["task"] == "next"
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["step"] == 400
    assert set(rows[0]) >= {"epoch", "step", "loss", "acc", "val_loss", "val_acc", "lr", "grad_norm", "seconds"}


async def test_a_reset_starts_the_metrics_file_afresh(tmp_path):
    path = tmp_path / "m.jsonl"
    app = make_lab("--metrics-out", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n", "n", "r", "y", "n")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r.get("epoch") for r in rows] == [None, 1]  # the new run's header and epoch, not two runs mixed


async def test_a_metrics_file_that_becomes_unwritable_is_said_and_training_goes_on(tmp_path):
    path = tmp_path / "m.jsonl"
    app = make_lab("--metrics-out", str(path))
    async with app.run_test(size=SIZE) as pilot:
        path.mkdir()  # after the start-up check: the first write fails
        await press(pilot, "n")
        message = "m.jsonl: cannot be written (Is a directory); metrics are off"
        assert message in app.query_one(StatusLine).message and "m.jsonl: cannot be written" in screen_text(app)
        await press(pilot, "n")
        assert app.trainer.epoch == 2


async def test_ctrl_s_saves_an_svg_screenshot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "ctrl+s")
        shots = list(tmp_path.glob("tfnp-screenshot-*.svg"))
        assert len(shots) == 1 and shots[0].read_text().startswith("<svg")
        assert "screenshot saved" in screen_text(app)


async def test_question_mark_lists_every_key():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key in ("space", "run / pause", "← / →", "heads table", "knock the shown head out"):
            assert key in text, key
        await press(pilot, "end")  # the rest is a scroll away
        text = screen_text(app)
        for key in ("gradient check", "ctrl+s", "zero by design"):
            assert key in text, key
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_attention_keys_move_between_layers_heads_and_views():
    app = make_lab(*REVERSE)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n")
        panel = app.query_one(AttentionPanel)
        assert (panel.layer_index, panel.head_index) == (1, 0)  # starts at the last layer
        await press(pilot, "left_square_bracket", "h")
        assert (panel.layer_index, panel.head_index) == (0, 1)
        assert "layer 1/2 · head 2/2" in screen_text(app)
        await press(pilot, "H", "right_square_bracket")
        assert (panel.layer_index, panel.head_index) == (1, 0)
        await press(pilot, "v")
        weights = app.trainer.probe().attention[1, 0]
        assert f"{weights[0, 0]:.2f}"[1:] in screen_text(app)  # numbers, as .97
        await press(pilot, "a")
        text = screen_text(app)
        assert "all 2 heads" in text and "head 1" in text and "head 2" in text


async def test_the_attention_panel_grows_to_show_every_position(tmp_path):
    data = tmp_path / "t.txt"
    data.write_text("the cat sat on the mat. " * 40)
    app = make_lab("--task", "text", "--data", str(data), "--seq-len", "16", "--samples", "64")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "showing" not in text and "Attention" in text
        example = typing_example(app.trainer.task)  # the probe's start, as one would type it
        assert len(example) >= 6 and set(example) <= set("the cat sat on mat.")
        assert app.query_one("#sequence").placeholder == f"t: type a sequence, e.g. {example}"


async def test_a_typed_sequence_is_inspected_and_bad_tokens_are_named():
    app = make_lab(*REVERSE)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n", "t")
        for key in "3 9 25":
            await pilot.press("space" if key == " " else key)
        await press(pilot, "enter")
        inspector = app.query_one(InspectorPanel)
        assert "token 25 is outside the vocabulary 0..19" in screen_text(app)
        assert not inspector.typed
        await pilot.press("backspace", "backspace")
        await press(pilot, "1", "enter")
        assert inspector.typed
        np.testing.assert_array_equal(inspector.probe.tokens, [3, 9, 1])
        np.testing.assert_array_equal(inspector.probe.targets, [1, 9, 3])
        assert "(typed)" in screen_text(app)
        await press(pilot, "p")  # back to the probe sample
        assert not inspector.typed and len(inspector.probe.tokens) == 8


async def test_a_typed_sequence_is_still_shown_after_a_look_back():
    app = make_lab(*REVERSE)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n", "t")
        for key in "3 9 1":
            await pilot.press("space" if key == " " else key)
        await press(pilot, "enter", "left", "right")
        inspector = app.query_one(InspectorPanel)
        assert inspector.typed
        np.testing.assert_array_equal(inspector.probe.tokens, [3, 9, 1])  # not the probe sample


async def test_escape_from_the_sequence_line_clears_its_error():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "t", "x", "enter")
        assert "'x' is not a token id" in screen_text(app)
        await press(pilot, "escape")
        assert "not a token id" not in screen_text(app)


async def test_inspector_columns_line_up_with_their_headers():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s")
        lines = app.query_one(InspectorPanel).table().plain.splitlines()
        header, row = lines[0], lines[1]
        for title in ("in", "target", "pred", "p"):  # each right-aligned over its column
            end = re.search(rf"(?<!\S){title}(?!\S)", header).end()
            assert row[end - 1] != " " and (end == len(row) or row[end] == " "), (title, header, row)


async def test_panels_fit_themselves_to_a_new_size():
    app = make_lab()
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s")
        assert "upd/w" not in screen_text(app)  # no room at 80 columns
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        text = screen_text(app)
        assert "upd/w" in text and "top 2-3" in text  # the runners-up, as the width allows


async def test_the_footer_shows_help_and_quit_at_80x24():
    app = make_lab()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "help" in footer and "quit" in footer, footer


async def test_the_replay_note_counts_the_epochs_that_training_adds():
    app = make_lab("--epochs", "1000")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n")
        await tap(pilot, "space")
        await pilot.pause(0.2)
        await tap(pilot, "left")  # looking back while training runs on
        for _ in range(300):
            await pilot.pause(0.01)
            if app.history.last_epoch >= 4:
                break
        await pilot.pause(0.1)
        assert not app.view.live
        assert f"of {app.history.last_epoch} (replay)" in app.query_one(AttentionPanel).border_subtitle
        await press(pilot, "space")


async def test_a_diverging_run_pauses_with_the_reason_on_screen():
    app = make_lab("--lr", "1e35")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n")
        assert not app.query_one(StatusLine).running
        assert "diverged at step 1: the update is not finite" in screen_text(app)
        assert app.trainer.step_count == 0
        await press(pilot, "r", "y")  # and the lab is alive
        assert app.trainer.step_count == 0


async def test_an_exception_in_the_worker_is_shown_not_raised(monkeypatch):
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:

        def boom(report=True):
            raise RuntimeError("boom")

        monkeypatch.setattr(app.trainer, "step", boom)
        await press(pilot, "s")
        assert "training failed: RuntimeError: boom" in screen_text(app)
        assert not app.query_one(StatusLine).running


async def test_a_small_terminal_asks_to_be_enlarged():
    app = make_lab()
    async with app.run_test(size=(70, 20)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "Enlarge the terminal to at least 80x24 (it is 70x20)" in text
        assert "Gradient norms" not in text
        await press(pilot, "s", "n", "g")  # nothing happens unseen behind the message
        assert app.trainer.step_count == 0 and not isinstance(app.screen, GradcheckScreen)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        text = screen_text(app)
        assert "Enlarge" not in text and "Gradient norms" in text
        assert "g gradcheck" in text.splitlines()[-1]  # the footer lists the keys that act again


async def test_shrinking_under_an_open_box_still_asks_to_enlarge():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "question_mark")
        await pilot.resize_terminal(70, 20)
        await settle(pilot)
        await press(pilot, "escape", "s")
        assert "Enlarge the terminal" in screen_text(app) and app.trainer.step_count == 0


async def test_q_quits_while_training_runs():
    app = make_lab("--epochs", "1000")
    async with app.run_test(size=SIZE) as pilot:
        await tap(pilot, "space")
        await pilot.pause(0.3)
        assert app.query_one(StatusLine).running
        await tap(pilot, "q")
        start = time.monotonic()
    assert time.monotonic() - start < 5  # the worker stopped; nothing hung
    assert not any(w.is_running for w in app.workers)


async def test_gradient_rows_mark_vanishing_and_exploding():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s")
        panel = app.query_one(GradientPanel)
        norms = dict.fromkeys(panel.names, 1.0) | {"embed": 1e-12, "head.w": 1e5, "head.b": float("nan")}
        panel.show_step(norms, dict.fromkeys(panel.names, 1e-3))
        await press(pilot, "pagedown")  # the head's rows are the last ones
        lines = screen_text(app).splitlines()
        assert any("head.w" in line and "1.0e+05" in line and "▲" in line for line in lines)
        assert any("head.b" in line and "nan" in line and "▲" in line for line in lines)
        await press(pilot, "pageup")
        lines = screen_text(app).splitlines()
        assert any("embed" in line and "≈0" in line and "▼" in line for line in lines)  # rounding noise next to 1e5
        assert not any("L0.attn.wq" in line and ("▼" in line or "▲" in line) for line in lines)


@pytest.mark.parametrize("argv", [[], REVERSE])
async def test_the_probe_is_drawn_before_any_training(argv):
    app = make_lab(*argv)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one(AttentionPanel).probe is not None
        assert "right (probe)" in screen_text(app)


async def test_loading_a_checkpoint_starts_where_it_stopped(tmp_path):
    path = tmp_path / "run.npz"
    app = make_lab("--save", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "n", "w")
    app = make_lab("--load", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.trainer.step_count == 200
        assert f"loaded {path} at step 200" in screen_text(app)
        await press(pilot, "s")
        assert app.trainer.step_count == 201


async def test_q_with_save_saves_first_and_says_so_after(tmp_path):
    path = tmp_path / "run.npz"
    app = make_lab("--save", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s", "s", "s")
        await pilot.press("q")
    assert checkpoint.load(path).position["step"] == 3
    assert app.exit_lines == [f"saved {path} (step 3)"]


async def test_q_without_save_says_the_training_was_not_saved():
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s", "s")
        await pilot.press("q")
    assert app.exit_lines == ["not saved: 2 steps trained since the start (w saves in the lab; --save FILE also "
                              "saves on quit)"]  # fmt: skip
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s", "w")
        await pilot.press("q")
    assert app.exit_lines == []  # nothing trained since the save


async def test_q_whose_save_fails_keeps_the_lab_open_once(tmp_path):
    (tmp_path / "gone").mkdir()
    app = make_lab("--save", str(tmp_path / "gone" / "x.npz"))
    async with app.run_test(size=SIZE) as pilot:
        (tmp_path / "gone").rmdir()
        await press(pilot, "s", "q")
        assert app.is_running and "q again quits without saving" in screen_text(app)
        await pilot.press("q")
    assert not app.is_running
    assert app.exit_lines == [f"not saved: 1 step trained since the start ({tmp_path / 'gone' / 'x.npz'} could not be "
                              "written)"]  # fmt: skip


async def test_the_default_save_path_replaces_no_earlier_file(tmp_path):
    (tmp_path / "tfnp-checkpoint.npz").write_text("an earlier run's")
    app = make_lab()
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s", "w")
        assert "saved" in screen_text(app) and "tfnp-checkpoint-2.npz" in screen_text(app)
    assert (tmp_path / "tfnp-checkpoint.npz").read_text() == "an earlier run's"
    assert checkpoint.load(tmp_path / "tfnp-checkpoint-2.npz").position["step"] == 1


async def test_the_enlarge_message_follows_each_resize():
    app = make_lab()
    async with app.run_test(size=(70, 20)) as pilot:
        await settle(pilot)
        await pilot.resize_terminal(75, 22)
        await settle(pilot)
        assert "Enlarge the terminal to at least 80x24 (it is 75x22)" in screen_text(app)


async def test_a_huge_loss_prints_short_and_the_divergence_fits_the_status_line():
    app = make_lab("--lr", "1e35")
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one(StatusLine)
        status.loss = 8540105041688540479488.0
        await settle(pilot)
        assert "loss 8.54e+21" in screen_text(app)
        await press(pilot, "n")
        line = screen_text(app).splitlines()[1]
        assert line.strip().startswith("diverged at step 1: the update is not finite") and "…" not in line


async def test_a_reset_never_saves_a_fresh_model_over_the_loaded_checkpoint(tmp_path):
    path = tmp_path / "good.npz"
    app = make_lab("--save", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s", "s", "w")
    good = path.read_bytes()
    app = make_lab("--load", str(path), "--save", str(path))
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "r")
        assert "good.npz is kept: saves go to" in screen_text(app)
        await press(pilot, "y", "s")
        await pilot.press("q")
    assert path.read_bytes() == good
    assert app.exit_lines == [f"saved {tmp_path / 'good-2.npz'} (step 1)"]


async def test_the_panels_show_the_last_step_when_training_stops(monkeypatch):
    """Steps slower than the report interval: the pause still draws the newest step."""
    app = make_lab("--epochs", "1000")
    async with app.run_test(size=SIZE) as pilot:
        real = app.trainer.step

        def slow(report=True):
            time.sleep(0.12)
            return real(report)

        monkeypatch.setattr(app.trainer, "step", slow)
        await tap(pilot, "space")
        await pilot.pause(0.8)
        await tap(pilot, "space")
        app.session.join()
        await settle(pilot)
        panel = app.query_one(GradientPanel)
        assert app.query_one(StatusLine).step == app.trainer.step_count
        assert panel.norms == app.scene.live.step.grad_norms  # drawn from the newest report


def test_the_help_screen_names_every_key_of_the_lab():
    from tfnp_tui.keys import BINDINGS
    from tfnp_tui.screens.help import KEYS

    listed = set(" ".join(key for _, rows in KEYS for key, _ in rows).replace("/", " ").split())
    names = {"space": "space", "left": "←", "right": "→", "left_square_bracket": "[", "right_square_bracket": "]",
             "question_mark": "?", "comma": ",", "full_stop": ".", "pagedown": "pgdn", "pageup": "pgup",
             "minus": "-", "plus": "+", "equals_sign": "=",
             "less_than_sign": "<", "greater_than_sign": ">"}  # fmt: skip
    for binding in BINDINGS:
        assert names.get(binding.key, binding.key) in listed, binding.key
