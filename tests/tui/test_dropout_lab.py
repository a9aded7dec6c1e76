"""--dropout on the command line and in the lab: bad values get one line and exit 2, the run
says it drops, and the gradient check (--gradcheck and the lab's g box) checks the
training-time gradient with one fixed mask and says so."""

import re

from tfnp_tui.cli import main
from tfnp_tui.screens.gradcheck import GradcheckScreen

from .lab import make_lab, press, screen_text

SMALL = ["--d-model", "4", "--d-ff", "4", "--heads", "2", "--vocab", "6", "--samples", "8", "--val-samples", "4"]


def test_a_dropout_outside_0_to_1_is_one_line_and_exit_2(capsys):
    for value in ("1", "-0.1"):
        status = main(["--headless", "--dropout", value])
        out, err = capsys.readouterr()
        assert status == 2 and err.count("\n") == 1 and "Traceback" not in out + err, err
        assert "--dropout" in err and "[0, 1)" in err


def test_a_headless_run_with_dropout_says_so_and_the_check_uses_one_fixed_mask(capsys):
    status = main(["--headless", *SMALL, "--batch-size", "4", "--epochs", "1", "--dropout", "0.25"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "dropout 0.25" in out.splitlines()[0]
    status = main(["--gradcheck", *SMALL, "--dropout", "0.25"])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "on 2 training sequences, with dropout 0.25: one fixed mask" in out and "all 20 tensors pass" in out
    assert re.search(r"^ layers\.0\.ffn\.w1 .* ✓ pass", out, re.M)
    main(["--gradcheck", *SMALL])
    assert "dropout" not in capsys.readouterr().out


async def test_the_lab_gradient_check_box_says_it_checks_with_a_fixed_mask():
    app = make_lab(*SMALL, "--dropout", "0.5")
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "g")
        assert isinstance(app.screen, GradcheckScreen)
        text = screen_text(app)
        assert "with dropout 0.5: one fixed mask" in text and "all 20 tensors pass" in text
