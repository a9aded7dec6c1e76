"""`tfnp-tui --load FILE --export OUT.safetensors`: the file written from a checkpoint, the one
line it prints, and one line with exit status 2 for every refusal (nothing written then)."""

import os
import sys

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig
from engine.export import read_metadata, torch_state_dict
from engine.training import checkpoint
from engine.training.trainer import Trainer
from tfnp_tui.cli import main

from ..engine.test_export import needs_safetensors


def run(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


TEXT = "the cat sat on the mat. "


@pytest.fixture
def text_ckpt(tmp_path):
    """A text-task checkpoint (causal, pre-LN, its characters in the task record), two steps in."""
    data = tmp_path / "data.txt"
    data.write_text(TEXT * 20, encoding="utf-8")
    train = TrainConfig(task="text", data=str(data), samples=16, val_samples=4, batch_size=4)
    trainer = Trainer(ModelConfig(vocab_size=len(set(TEXT)), seq_len=8, d_model=16, n_heads=2, d_ff=24, n_layers=2,
                                  causal=True, norm_first=True, activation="gelu"), train)  # fmt: skip
    trainer.step(), trainer.step()
    path = tmp_path / "run.npz"
    checkpoint.save(path, trainer)
    return path


@needs_safetensors
def test_export_writes_the_file_and_says_so_in_one_line(text_ckpt, tmp_path, capsys):
    from safetensors.numpy import load_file

    out = tmp_path / "model.safetensors"
    status, stdout, err = run(["--load", str(text_ckpt), "--export", str(out)], capsys)
    assert (status, err) == (0, "")
    ckpt = checkpoint.load(text_ckpt)
    n_params = sum(p.size for p in ckpt.params.values())
    assert stdout.count("\n") == 1 and stdout.startswith(f"wrote {out}: 29 tensors, {n_params:,} parameters")
    back, expected = load_file(out), torch_state_dict(ckpt.params, ckpt.model_cfg)
    assert set(back) == set(expected) and all(np.array_equal(back[k], expected[k]) for k in expected)
    record = read_metadata(out)
    assert record["model"] == ckpt.model_cfg.to_dict() and record["task"] == ckpt.task
    assert record["task"]["chars"] == "".join(sorted(set(TEXT)))

    # no file at OUT is replaced without --overwrite: not an earlier export (even of this model), not the user's
    other = tmp_path / "other.npz"
    checkpoint.save(other, Trainer(ModelConfig(), TrainConfig(samples=8, val_samples=4, batch_size=4)))
    exported = out.read_bytes()
    for load in (other, text_ckpt):
        status, stdout, err = run(["--load", str(load), "--export", str(out)], capsys)
        assert (status, stdout) == (2, "") and err.count("\n") == 1
        assert err == f"tfnp-tui: error: {out} already exists: choose another path, or add --overwrite to replace it\n"
        assert out.read_bytes() == exported
    assert run(["--load", str(other), "--export", str(out), "--overwrite"], capsys)[0] == 0
    assert read_metadata(out)["model"] == ModelConfig().to_dict()
    os.remove(other)
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"the user's own file")
    status, stdout, err = run(["--load", str(text_ckpt), "--export", str(mine)], capsys)
    assert (status, stdout) == (2, "") and err.count("\n") == 1 and "--overwrite" in err
    assert mine.read_bytes() == b"the user's own file"
    assert run(["--load", str(text_ckpt), "--export", str(mine), "--overwrite"], capsys)[0] == 0
    assert read_metadata(mine) == record
    assert sorted(os.listdir(tmp_path)) == ["data.txt", "mine.safetensors", "model.safetensors", "run.npz"]


@needs_safetensors
def test_the_exported_file_loads_into_the_torch_reference_and_gives_our_logits(text_ckpt, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    from torch_reference import load_export

    from engine import TransformerEncoder

    out = tmp_path / "model.safetensors"
    assert run(["--load", str(text_ckpt), "--export", str(out)], capsys)[0] == 0
    theirs = load_export(str(out))  # built from the metadata, loaded with strict=True
    ckpt = checkpoint.load(text_ckpt)
    ours = TransformerEncoder(ckpt.model_cfg, params=ckpt.params)
    tokens = np.random.default_rng(1).integers(0, len(set(TEXT)), (4, 8))
    with torch.no_grad():
        logits = theirs.logits(torch.from_numpy(tokens)).numpy()
    assert np.abs(logits - ours.forward(tokens)[0]).max() < 1e-5


def refusals(tmp_path, ckpt):
    """(argv after --load CKPT, or a whole argv; what the line must say)."""
    (tmp_path / "garbage.npz").write_bytes(b"not a zip at all")
    (tmp_path / "a folder.safetensors").mkdir()
    (tmp_path / "plain").write_text("a file, not a folder")
    return [
        (["--load", str(tmp_path / "missing.npz"), "--export", "m.safetensors"], "missing.npz: no such file"),
        (["--load", str(tmp_path / "garbage.npz"), "--export", "m.safetensors"], "not a readable tfnp checkpoint"),
        (["--export", "m.npz"], "must end in .safetensors"),
        (["--export", "m"], "must end in .safetensors"),
        (["--export", ""], "the file name is empty"),
        (["--export", str(tmp_path / "nowhere" / "m.safetensors")], "does not exist"),
        (["--export", str(tmp_path / "plain" / "m.safetensors")], "does not exist"),
        (["--export", str(tmp_path / "a folder.safetensors")], "is a directory"),
        (["--export", "m.safetensors", "--d-model", "64"], "--d-model: means nothing with --export"),
        (["--export", "m.safetensors", "--epochs", "3"], "--epochs: means nothing with --export"),
        (["--export", "m.safetensors", "--no-causal"], "--no-causal: means nothing with --export"),
        (["--export", "m.safetensors", "--save", "x.npz"], "--save: means nothing with --export"),
        (["--export", "m.safetensors", "--metrics-out", "x.jsonl"], "--metrics-out: means nothing with --export"),
        (["--export", "m.safetensors", "--headless"], "not allowed with argument"),
        (["--export", "m.safetensors", "--tokens", "5"], "--tokens: only with --generate"),
        (["--export", "m.safetensors"], None),  # --load missing: the whole argv
    ]


@needs_safetensors
def test_every_refusal_is_one_line_exit_2_and_writes_nothing(text_ckpt, tmp_path, capsys):
    before = sorted(os.listdir(tmp_path))  # the tests run in tmp_path (conftest): m.safetensors lands here
    for argv, message in refusals(tmp_path, text_ckpt):
        if message is None:
            argv, message = argv, "--export: give the model to use with --load FILE"
        elif argv[0] != "--load":
            argv = ["--load", str(text_ckpt), *argv]
        status, out, err = run(argv, capsys)
        assert (status, out) == (2, ""), argv
        assert err.count("\n") == 1 and err.startswith("tfnp-tui: error: ") and message in err, (argv, err)
        assert "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == sorted([*before, "garbage.npz", "a folder.safetensors", "plain"])


@needs_safetensors
def test_the_load_file_is_never_the_export(tmp_path, capsys):
    trainer = Trainer(ModelConfig(), TrainConfig(samples=8, val_samples=4, batch_size=4))
    ckpt = tmp_path / "run.safetensors"  # a checkpoint under an export's name
    checkpoint.save(ckpt, trainer)
    content = ckpt.read_bytes()
    for extra in ([], ["--overwrite"]):
        status, _, err = run(["--load", str(ckpt), "--export", str(ckpt), *extra], capsys)
        assert status == 2 and "is the --load file" in err
    assert ckpt.read_bytes() == content


def test_without_the_extra_it_is_one_line_that_names_it(tmp_path, capsys, monkeypatch):
    trainer = Trainer(ModelConfig(), TrainConfig(samples=8, val_samples=4, batch_size=4))
    ckpt = tmp_path / "run.npz"
    checkpoint.save(ckpt, trainer)
    monkeypatch.setitem(sys.modules, "safetensors", None)  # `import safetensors` now fails, installed or not
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    status, out, err = run(["--load", str(ckpt), "--export", "m.safetensors"], capsys)
    assert (status, out) == (2, "")
    assert err == "tfnp-tui: error: writing .safetensors needs the safetensors package: pip install 'tfnp[export]'\n"
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]


def readme_snippet() -> str:
    """The Python block of the README's "Export to PyTorch" section."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md"), encoding="utf-8").read()
    section = readme.split("\n## Export to PyTorch\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@needs_safetensors
def test_the_readme_snippet_loads_the_file_and_gives_our_logits(text_ckpt, capsys):
    pytest.importorskip("torch")
    from engine import TransformerEncoder

    assert run(["--load", str(text_ckpt), "--export", "book.safetensors"], capsys)[0] == 0  # in tmp_path
    tokens = np.random.default_rng(2).integers(0, len(set(TEXT)), (4, 8))
    code = readme_snippet()
    assert "torch.tensor([[1, 2, 3]])" in code
    scope = {}
    exec(code.replace("torch.tensor([[1, 2, 3]])", f"torch.tensor({tokens.tolist()})"), scope)  # noqa: S102
    ckpt = checkpoint.load(text_ckpt)
    ours, _ = TransformerEncoder(ckpt.model_cfg, params=ckpt.params).forward(tokens)
    assert scope["logits"].shape == ours.shape
    assert np.abs(scope["logits"].numpy() - ours).max() < 1e-5
