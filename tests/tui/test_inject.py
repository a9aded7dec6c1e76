"""--gradcheck --inject BUG: the check with one classic backprop bug planted, which fails and
says which bug and which tensors; --inject list; and one line for every misuse."""

import re

from engine.bugs import BUGS
from tfnp_tui.cli import main

SMALL = ["--gradcheck", "--d-model", "8", "--d-ff", "8", "--heads", "2"]


def run(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_a_planted_bug_fails_the_check_and_says_what_it_broke(capsys):
    status, out, err = run([*SMALL, "--inject", "softmax-no-rowsum"], capsys)
    assert status == 1 and not err
    lines = out.splitlines()
    planted = lines.index(f"planted bug: softmax-no-rowsum: {BUGS['softmax-no-rowsum'].line}")
    assert lines[planted + 1].split() == ["tensor", "max", "rel", "err", "analytic", "numeric", "entries"]
    assert re.search(r"^ layers\.0\.attn\.wq .* ✗ FAIL", out, re.M)
    assert re.search(r"^ layers\.0\.attn\.wv .* ✓ pass", out, re.M)  # v does not go through the softmax
    assert "6 of 20 tensors FAIL" in out
    assert (
        "the planted bug breaks 6 of 20 tensors: embed, layers.0.attn.wq, layers.0.attn.bq, layers.0.attn.wk, "
        "layers.0.attn.bk, input (worst" in lines[-1]
    )


def test_the_embedding_bug_is_caught_on_the_training_sequences_of_the_default_task(capsys):
    status, out, _ = run([*SMALL, "--inject", "embedding-overwrite"], capsys)  # tokens 0 and 5 repeat
    assert status == 1
    assert out.splitlines()[-1].startswith("the planted bug breaks 1 of 20 tensors: embed (worst")


def test_inject_list_names_every_bug_a_line_each(capsys):
    status, out, err = run(["--inject", "list"], capsys)
    assert status == 0 and not err
    assert [line.split()[0] for line in out.splitlines()] == list(BUGS)


def test_an_unknown_bug_is_one_line_and_exit_2(capsys):
    status, out, err = run(["--gradcheck", "--inject", "x"], capsys)
    assert status == 2 and not out
    assert err == "tfnp-tui: error: --inject: unknown bug 'x' (--inject list names them)\n"


def test_inject_without_gradcheck_is_a_usage_error(capsys):
    status, out, err = run(["--inject", "softmax-no-rowsum"], capsys)
    assert status == 2 and not out
    assert err == "tfnp-tui: error: --inject: only with --gradcheck (or --inject list)\n"
