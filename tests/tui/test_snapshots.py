"""Snapshots of the lab at 80x24 and 120x40 with a fixed seed, after training driven by keys.

Update them with `python -m pytest tests/tui/test_snapshots.py --snapshot-update` after a
change to the look, and look at the new SVGs before committing them.
"""

from .lab import REVERSE, make_lab, press

# float64: the screens then come out the same whichever BLAS kernel the CPU picks (float32
# training drifts in its last bits between kernels, and after hundreds of steps that shows).
F64 = ["--dtype", "float64"]


def after(*keys: str):
    async def run_before(pilot) -> None:
        await press(pilot, *keys)

    return run_before


def test_original_setup_after_one_epoch_80x24(snap_compare):
    assert snap_compare(make_lab(*F64), terminal_size=(80, 24), run_before=after("n"))


def test_original_setup_after_one_epoch_120x40(snap_compare):
    assert snap_compare(make_lab(*F64), terminal_size=(120, 40), run_before=after("n"))


def test_reverse_anti_diagonal_formed_120x40(snap_compare):
    assert snap_compare(make_lab(*REVERSE, *F64), terminal_size=(120, 40), run_before=after(*"nnnnnn"))


def test_reverse_at_80x24(snap_compare):
    assert snap_compare(make_lab(*REVERSE, *F64), terminal_size=(80, 24), run_before=after(*"nnnnnn"))


def test_replay_of_an_early_epoch_120x40(snap_compare):
    keys = [*"nnnn", "left", "left", "left"]
    assert snap_compare(make_lab(*REVERSE, *F64), terminal_size=(120, 40), run_before=after(*keys))


def test_all_heads_with_values_120x40(snap_compare):
    keys = [*"nnnnnn", "left_square_bracket", "a"]
    assert snap_compare(make_lab(*REVERSE, *F64), terminal_size=(120, 40), run_before=after(*keys))


def test_help_80x24(snap_compare):
    assert snap_compare(make_lab(*F64), terminal_size=(80, 24), run_before=after("question_mark"))


def test_too_small_terminal(snap_compare):
    assert snap_compare(make_lab(*F64), terminal_size=(70, 20))
