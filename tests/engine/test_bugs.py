"""The planted bugs (engine/bugs.py): each one, planted, makes the gradient check fail on
exactly the tensors it should break, and leaves the engine as it was once the `with` block
ends, also when the block raises. Tiny float64 models; a few entries of each tensor are
enough, since a bug moves a broken tensor's gradient all over."""

import threading
from fnmatch import fnmatch

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.bugs import BUGS, effect, kept_clean, planted
from engine.gradcheck import check_model

TOKENS = np.array([[1, 2, 3, 2], [0, 4, 1, 3]])  # (2, 4): token 2 twice in one row, 1 and 3 in both
TARGETS = np.array([[2, 3, 4, 0], [1, 1, 0, -1]])
ENTRIES = 4  # entries checked per tensor
NOT_BK = ("*.attn.bk",)  # zero by design: a bug that leaves dk's row sums at 0 cannot move it


def model(norm_first: bool = False, n_heads: int = 2) -> TransformerEncoder:
    """Two layers of two heads (D = 2), GELU so that no step crosses a kink."""
    cfg = ModelConfig(
        vocab_size=5, seq_len=4, d_model=4, n_heads=n_heads, n_layers=2, d_ff=4,
        norm_first=norm_first, activation="gelu", dtype="float64",
    )  # fmt: skip
    return TransformerEncoder(cfg, seed=0)


def tensors(m: TransformerEncoder, include, exclude=NOT_BK) -> set[str]:
    """The checked tensors (parameters and "input") that match a pattern of include and none of exclude."""
    names = [*m.params, "input"]
    return {n for n in names if any(fnmatch(n, p) for p in include) and not any(fnmatch(n, p) for p in exclude)}


UPSTREAM = ("embed", "input", "layers.0.*")  # below layer 1: every bug in layer 1's backward reaches them

# (bug, norm_first, the tensors it breaks on the two-layer model)
CASES = [
    # dscores wrong: q and k projections of both layers (the key bias too: its row sums are no
    # longer 0), and everything below layer 1's attention; post-LN's ln1 sits after attention
    ("softmax-no-rowsum", False, (*UPSTREAM, "layers.1.attn.[wb][qk]"), ()),
    ("softmax-no-rowsum", True, (*UPSTREAM, "layers.1.attn.[wb][qk]", "layers.1.ln1.*"), ()),
    # dx of the last LayerNorm is wrong: everything below it; its own gamma and beta are right
    ("layernorm-no-mean", False, ("*",), (*NOT_BK, "layers.1.ln2.*", "head.*")),
    # dq too large by sqrt(D): wq and bq of both layers, and everything below layer 1's attention
    ("attention-no-scale", False, (*UPSTREAM, "layers.1.attn.[wb]q"), NOT_BK),
    # a repeated token keeps one of its gradients: the table only
    ("embedding-overwrite", False, ("embed",), ()),
    # the FFN's skip path lost: each block's attention and ln1, and everything below
    ("residual-dropped", False, (*UPSTREAM, "layers.1.attn.*", "layers.1.ln1.*"), NOT_BK),
    ("residual-dropped", True, (*UPSTREAM, "layers.1.attn.*", "layers.1.ln1.*"), NOT_BK),
    # every gradient n = 7 times too large
    ("loss-not-averaged", False, ("*",), NOT_BK),
]


def failing(report) -> set[str]:
    return {t.name for t in report.tensors if not t.passed}


def patched_attributes() -> dict:
    """Every attribute any bug patches, as it is now (the staticmethod objects of the class)."""
    return {(id(owner), name): vars(owner)[name] for bug in BUGS.values() for owner, name, _ in bug.patches}


CLEAN = patched_attributes()


def clean() -> bool:
    """Every patched attribute is back: the very same object as before, not a copy."""
    now = patched_attributes()
    return all(now[key] is original for key, original in CLEAN.items())


@pytest.mark.parametrize(("bug", "norm_first", "include", "exclude"), CASES)
def test_a_planted_bug_fails_the_check_on_the_tensors_it_breaks(bug, norm_first, include, exclude):
    m = model(norm_first)
    with planted(bug):
        report = check_model(m, TOKENS, TARGETS, max_entries=ENTRIES)
    assert failing(report) == tensors(m, include, exclude), "\n" + report.table()
    assert effect(bug, report).startswith(f"the planted bug breaks {report.failed} of {len(report.tensors)} tensors")
    assert clean()


def test_every_bug_is_tested():
    assert {case[0] for case in CASES} == set(BUGS)


def test_the_engine_is_clean_after_every_bug_also_when_the_block_raises():
    for bug in BUGS:
        with planted(bug):
            assert not clean()
        assert clean()
        with pytest.raises(RuntimeError), planted(bug):
            raise RuntimeError("the check failed")
        assert clean()
    m = model(norm_first=True)
    assert check_model(m, TOKENS, TARGETS, max_entries=ENTRIES).passed


def test_a_bug_that_changes_nothing_says_so():
    m = model()
    once = np.array([[0, 1, 2, 3]])  # no token twice
    with planted("embedding-overwrite"):
        report = check_model(m, once, TARGETS[:1], max_entries=ENTRIES)
    assert report.passed
    assert effect("embedding-overwrite", report) == (
        "the planted bug breaks none of the 36 tensors on this model and data "
        "(it shows only when a token is used twice in the checked sequences)"
    )


def test_one_wide_heads_hide_the_missing_scale():
    m = model(n_heads=4)  # D = 1
    with planted("attention-no-scale"):
        assert check_model(m, TOKENS, TARGETS, max_entries=4).passed


def test_an_unknown_bug_is_refused_before_anything_changes():
    with pytest.raises(KeyError, match="unknown bug 'nope'"), planted("nope"):
        pass
    assert clean()


def test_a_clean_check_waits_for_another_threads_bug_to_be_taken_out():
    inside, release, seen = threading.Event(), threading.Event(), []

    def hold():
        with planted("softmax-no-rowsum"):
            inside.set()
            release.wait(5)

    def check_clean():
        with planted(None):
            seen.append(clean())

    thread = threading.Thread(target=hold)
    thread.start()
    inside.wait(5)
    waiter = threading.Thread(target=check_clean)
    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive() and not seen  # blocked while the bug is in
    release.set()
    thread.join()
    waiter.join(5)
    assert seen == [True]


def test_clean_users_share_the_engine_and_a_bug_waits_for_them():
    with planted(None), kept_clean(0.1) as clean_too:  # a clean check and a training step at once
        assert clean_too
        seen = []

        def plant():
            with planted("softmax-no-rowsum"):
                seen.append(not clean())

        planter = threading.Thread(target=plant)
        planter.start()
        planter.join(0.1)
        assert planter.is_alive() and not seen  # the bug waits while the engine is relied on
        with kept_clean(0.05) as late:  # a user that comes after a waiting bug lets it go first
            assert not late
    planter.join(5)
    assert seen == [True] and clean()
