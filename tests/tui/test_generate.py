"""tfnp-tui --load FILE --generate PROMPT: the streamed text is what the Python API writes,
token by token; every bad input is one line on stderr and exit status 2."""

import io
import subprocess
import sys

import pytest

from engine import ModelConfig, TrainConfig, Trainer, generate, load_model
from engine.training import checkpoint
from tfnp_tui.cli import main

TEXT = "the cat sat on the mat. the dog sat on the log. a cat met a dog on the mat.\n" * 12


def saved(path, model_cfg: ModelConfig, train_cfg: TrainConfig, steps: int):
    trainer = Trainer(model_cfg, train_cfg)
    for _ in range(steps):
        trainer.step()
    checkpoint.save(path, trainer)
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Checkpoints of a causal text model, a causal toy (next) model and a model that is not causal."""
    folder = tmp_path_factory.mktemp("generate")
    data = folder / "cats.txt"
    data.write_text(TEXT, encoding="utf-8")
    text_cfg = ModelConfig(
        vocab_size=len(set(TEXT)), seq_len=8, d_model=16, n_heads=2, d_ff=32, causal=True, norm_first=True
    )
    return {
        "text": saved(folder / "text.npz", text_cfg,
                      TrainConfig(task="text", data=str(data), samples=320, val_samples=32, batch_size=16), 30),
        "toy": saved(folder / "toy.npz", ModelConfig(causal=True),
                     TrainConfig(task="next", optimizer="adam", samples=200, val_samples=20, batch_size=8), 60),
        "bidirectional": saved(folder / "bi.npz", ModelConfig(), TrainConfig(samples=40, val_samples=10), 0),
    }  # fmt: skip


def run(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def api_text(path: str, prompt: str, **kwargs) -> str:
    model, vocab = load_model(path)
    ids = vocab.encode(prompt)
    return vocab.decode(ids) + vocab.separator + vocab.decode(list(generate(model, ids, **kwargs)))


def test_the_printed_text_is_what_the_python_api_writes(models, capsys):
    path = models["text"]
    argv = ["--load", path, "--generate", "the d", "--tokens", "50", "--temperature", "0.8", "--top-k", "5"]
    status, out, err = run([*argv, "--seed", "3"], capsys)
    assert (status, err) == (0, "")
    assert out == api_text(path, "the d", tokens=50, temperature=0.8, top_k=5, seed=3) + "\n"
    assert len(out) == len("the d") + 50 + 1
    assert run([*argv, "--seed", "3"], capsys)[1] == out  # the same seed, the same text
    assert run([*argv, "--seed", "4"], capsys)[1] != out
    status, out, err = run(["--load", path, "--generate", "a"], capsys)  # the defaults: 200, 1.0, 0, seed 0
    assert (status, err) == (0, "")
    assert out == api_text(path, "a", tokens=200, temperature=1.0, top_k=0, seed=0) + "\n"


class Recorder(io.StringIO):
    """A stdout that keeps what had been written at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed = []

    def flush(self):
        self.flushed.append(self.getvalue())


def test_each_token_is_flushed_as_it_is_written(models, monkeypatch):
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["--load", models["text"], "--generate", "the", "--tokens", "20", "--temperature", "0"]) == 0
    monkeypatch.undo()
    expected = api_text(models["text"], "the", tokens=20, temperature=0)
    assert out.getvalue() == expected + "\n"
    assert out.flushed[:21] == [expected[:n] for n in range(3, 24)]  # the prompt, then one character more each


def test_a_character_stdout_cannot_encode_is_escaped_and_stdout_is_left_as_it_was(tmp_path, monkeypatch):
    """On an ASCII stdout 'é' is written as \\xe9, not a traceback, and a Python caller's
    stdout keeps its own error handler afterwards."""
    data = tmp_path / "cafe.txt"
    data.write_text("café au lait. " * 20, encoding="utf-8")
    cfg = ModelConfig(vocab_size=len(set(data.read_text(encoding="utf-8"))), seq_len=8, causal=True)
    path = saved(tmp_path / "cafe.npz", cfg, TrainConfig(task="text", data=str(data), samples=16, val_samples=4), 0)
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["--load", path, "--generate", "café", "--tokens", "12", "--temperature", "0"]) == 0
    monkeypatch.undo()
    assert out.errors == "strict" and out.encoding == "ascii"
    out.flush()
    expected = api_text(path, "café", tokens=12, temperature=0) + "\n"
    assert out.buffer.getvalue() == expected.encode("ascii", "backslashreplace")
    assert out.buffer.getvalue().startswith(b"caf\\xe9")


def test_a_toy_task_model_reads_and_writes_numbers(models, capsys):
    path = models["toy"]
    status, out, err = run(["--load", path, "--generate", "3 1,4", "--tokens", "6", "--temperature", "0"], capsys)
    assert (status, err) == (0, "")
    assert out == api_text(path, "3 1 4", tokens=6, temperature=0) + "\n"
    words = out.split()
    assert words[:3] == ["3", "1", "4"] and len(words) == 9 and all(0 <= int(w) < 20 for w in words)


NOT_CAUSAL = "cannot write: the model is not causal: in training every position saw the later positions"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--load", "missing.npz", "--generate", "a"], "missing.npz: no such file"),
        (["--load", "{corrupt}", "--generate", "a"], "not a readable tfnp checkpoint"),
        (["--load", "{bidirectional}", "--generate", "1 2"], NOT_CAUSAL),
        (["--load", "{text}", "--generate", "the Zoo€"], "--generate: not in the model's vocabulary: 'Z' '€'"),
        (["--load", "{text}", "--generate", ""], "--generate: the prompt is empty: give at least one character"),
        (["--load", "{toy}", "--generate", " "], "--generate: the prompt is empty: give at least one token id"),
        (["--load", "{toy}", "--generate", "3 25"], "--generate: token 25 is outside the model's vocabulary 0..19"),
        (["--load", "{text}", "--generate", "a", "--tokens", "0"], "--tokens: must be at least 1, got 0"),
        (["--load", "{text}", "--generate", "a", "--temperature", "-1"], "--temperature: must be a finite number >= 0"),
        (["--load", "{text}", "--generate", "a", "--temperature", "nan"], "--temperature: must be a finite number"),
        (["--load", "{text}", "--generate", "a", "--temperature", "inf"], "--temperature: must be a finite number"),
        (["--load", "{text}", "--generate", "a", "--top-k", "-1"],
         "--top-k: must be in 0..{size} (the vocabulary's size; 0: all), got -1"),
        (["--load", "{text}", "--generate", "a", "--top-k", "100"],
         "--top-k: must be in 0..{size} (the vocabulary's size; 0: all), got 100"),
        (["--load", "{text}", "--generate", "a", "--seed", "-1"], "--seed: must be an integer >= 0"),
        (["--load", "{text}", "--generate", "a", "--epochs", "3"], "--epochs: means nothing with --generate"),
        (["--load", "{text}", "--generate", "a", "--save", "x.npz"], "--save: means nothing with --generate"),
        (["--load", "{text}", "--generate", "a", "--d-model", "64"], "--d-model: --generate uses the model of --load"),
        (["--load", "{text}", "--generate", "a", "--no-causal"], "--no-causal: --generate uses the model of --load"),
        (["--load", "{text}", "--generate", "a", "--overwrite"], "--overwrite: means nothing with --generate"),
        (["--generate", "a"], "--generate: give the model to use with --load FILE"),
        (["--load", "{text}", "--tokens", "5"], "--tokens: only with --generate"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_status_2(models, tmp_path, argv, message, capsys):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip archive")
    argv = [a.format(corrupt=corrupt, **models) for a in argv]
    message = message.format(size=len(set(TEXT)))
    status, out, err = run(argv, capsys)
    assert status == 2 and out == ""
    assert err.startswith("tfnp-tui: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err, err
    assert not (tmp_path / "x.npz").exists()


def test_piping_into_head_exits_0_without_a_traceback(models):
    command = [sys.executable, "-m", "tfnp_tui", "--load", models["text"], "--generate", "the", "--tokens", "100000"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = proc.stdout.read(10)  # what `| head -c 10` reads before it closes the pipe
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == b""
    assert head.startswith(b"the") and len(head) == 10
