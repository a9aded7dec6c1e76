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


def test_embeddings_number_line_on_sort_120x40(snap_compare):
    """Sort with weight decay, three short epochs: the tokens in order along PC1 (e)."""
    sort = ["--task", "sort", "--optimizer", "adamw", "--weight-decay", "1", "--lr", "1e-2", "--samples", "3000"]
    assert snap_compare(make_lab(*sort, *F64), terminal_size=(120, 40), run_before=after(*"nnne"))


def test_logit_lens_of_a_pre_ln_model_120x40(snap_compare):
    """Three pre-LN layers, three short epochs of reverse: the prediction read out after each layer (l)."""
    lens = [*REVERSE, "--layers", "3", "--norm-first", "--samples", "640", "--lr", "1e-2"]
    assert snap_compare(make_lab(*lens, *F64), terminal_size=(120, 40), run_before=after(*"nnnl"))


def test_attention_row_computed_80x24(snap_compare):
    """One query's attention row as numbers (c), the query moved to position 2 (. .)."""
    quick = [*REVERSE, "--samples", "640", "--lr", "1e-2"]
    keys = [*"nnn", "c", "full_stop", "full_stop"]
    assert snap_compare(make_lab(*quick, *F64), terminal_size=(80, 24), run_before=after(*keys))


def test_heads_table_with_a_head_knocked_out_120x40(snap_compare):
    """Six epochs of reverse: the heads of layer 2 on the anti-diagonal; L2 H1 knocked out (o, k)."""
    keys = [*"nnnnnn", "o", "k"]
    assert snap_compare(make_lab(*REVERSE, *F64), terminal_size=(120, 40), run_before=after(*keys))


def test_heads_table_80x24(snap_compare):
    assert snap_compare(make_lab(*REVERSE, *F64), terminal_size=(80, 24), run_before=after(*"nnnnnn", "o"))


def compared_runs() -> list[str]:
    """Two runs' metrics files written here (made-up curves; the SGD run's rate halved in epoch 5)."""
    from .metrics_files import header, records, write

    adam = write("adam.jsonl", header(train={"lr": 3e-3}), records(10, 3.0, 0.05, 0.45))
    sgd_header = header(train={"optimizer": "sgd", "lr": 0.1})
    sgd = write("sgd.jsonl", sgd_header, records(10, 3.1, 0.4, 0.25, scales={5: 0.5}))
    return ["--compare", adam, "--compare", sgd]


def test_compare_two_runs_80x24(snap_compare):
    quick = [*REVERSE, "--samples", "640", "--lr", "1e-2", *F64]
    assert snap_compare(make_lab(*quick, *compared_runs()), terminal_size=(80, 24), run_before=after(*"nnnn"))


def test_compare_two_runs_smoothed_120x40(snap_compare):
    quick = [*REVERSE, "--samples", "640", "--lr", "1e-2", *F64]
    keys = [*"nnnn", "m"]
    assert snap_compare(make_lab(*quick, *compared_runs()), terminal_size=(120, 40), run_before=after(*keys))


def test_samples_of_a_text_model_80x24(snap_compare):
    """Two short epochs on a small repetitive text: what the model writes after the probe
    sample (x), the prompt dim and the continuation bold."""
    from pathlib import Path

    Path("t.txt").write_text("the quick brown fox jumps over the lazy dog.\nthe dog sleeps; the fox runs away.\n" * 30)
    text = ["--task", "text", "--data", "t.txt", "--seq-len", "16", "--samples", "640", "--val-samples", "64"]
    text += ["--d-model", "64", "--d-ff", "128"]  # the sizes pinned here, whatever the text task's defaults
    keys = [*"nn", "x"]
    assert snap_compare(make_lab(*text, "--lr", "1e-2", *F64), terminal_size=(80, 24), run_before=after(*keys))
