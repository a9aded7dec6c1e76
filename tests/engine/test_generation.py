"""Generation: the distribution each token is drawn from, checked against the model's own
logits computed here (model.forward on the last seq_len tokens), not only that text comes out."""

import json

import numpy as np
import pytest

import engine.generation as generation
from engine import ModelConfig, TrainConfig, Trainer, TransformerEncoder, Vocabulary, generate, load_model
from engine.generation import next_token_probs, sample
from engine.training import checkpoint
from engine.training.checkpoint import CheckpointError

TEXT = (
    "the cat sat on the mat. the dog sat on the log. a cat and a dog met on the mat,\n"
    "and the cat ran to the log while the dog sat. then the dog ran and the cat sat.\n"
) * 12
SEQ_LEN = 8


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny causal text model, trained for a few dozen steps and saved: (path, trainer)."""
    folder = tmp_path_factory.mktemp("generation")
    data = folder / "cats.txt"
    data.write_text(TEXT, encoding="utf-8")
    model_cfg = ModelConfig(
        vocab_size=len(set(TEXT)), seq_len=SEQ_LEN, d_model=16, n_heads=2, n_layers=1, d_ff=32,
        causal=True, norm_first=True,
    )  # fmt: skip
    train_cfg = TrainConfig(task="text", data=str(data), samples=320, val_samples=32, batch_size=16, epochs=2)
    trainer = Trainer(model_cfg, train_cfg)
    for _ in range(40):
        trainer.step()
    path = folder / "cats.npz"
    checkpoint.save(path, trainer)
    return path, trainer


@pytest.fixture(scope="module")
def loaded(trained):
    return load_model(trained[0])


def last_logits(model, context: list[int]) -> np.ndarray:
    """The model's logits (V,) for the token after `context`, run on its last seq_len tokens."""
    window = np.asarray([context[-model.cfg.seq_len :]], dtype=np.int64)  # (1, T')
    logits, _ = model.forward(window)
    return np.asarray(logits[0, -1], dtype=np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def chi_square(draws: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic of `draws` against `probs` and its degrees of freedom; categories
    expected fewer than 5 times are pooled into one."""
    n = len(draws)
    observed = np.bincount(draws, minlength=len(probs)).astype(float)
    expected = probs * n
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    assert obs[~keep].sum() == 0, "drew a token of probability 0"
    return float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()), int(keep.sum()) - 1


def chi_square_bound(df: int) -> float:
    return df + 6 * np.sqrt(2 * df)  # about six standard deviations above the mean: p < 1e-5


# ---------------------------------------------------------------------------------------- vocabulary
def test_encode_decode_round_trip_and_unknown_characters_named(loaded, trained):
    _, vocab = loaded
    assert vocab.chars == trained[1].task.chars and vocab.size == len(set(TEXT))
    ids = vocab.encode(TEXT[:50])
    assert ids.dtype == np.int64 and ids.shape == (50,)
    assert [vocab.chars[i] for i in ids] == list(TEXT[:50])
    assert vocab.decode(ids) == TEXT[:50]
    with pytest.raises(ValueError, match="not in the model's vocabulary: 'Z' '€'"):
        vocab.encode("the Zoo€")
    assert vocab.encode("").shape == (0,)


def test_a_toy_vocabulary_reads_and_writes_ids():
    vocab = Vocabulary(None, 10)
    assert vocab.encode("3 1,4  9").tolist() == [3, 1, 4, 9]
    assert vocab.decode([3, 1, 4]) == "3 1 4" and vocab.separator == " "
    with pytest.raises(ValueError, match="token 12 is outside the model's vocabulary 0..9"):
        vocab.encode("3 12")
    with pytest.raises(ValueError, match="'x' is not a token id"):
        vocab.encode("3 x")
    with pytest.raises(ValueError, match="distinct"):
        Vocabulary("aab")
    assert Vocabulary("abc").size == 3


def test_load_model_gives_the_saved_model_on_the_cpu(loaded, trained):
    model, _ = loaded
    trainer = trained[1]
    assert model.cfg == trainer.model_cfg and model.device == "cpu"
    for name, value in trainer.model.params.items():
        assert np.array_equal(model.params[name], value)


def test_a_checkpoint_whose_characters_do_not_fit_its_model_is_refused(trained, tmp_path):
    with np.load(trained[0], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta.json"]))
    meta["task"]["chars"] = meta["task"]["chars"][:-1]
    arrays["meta.json"] = np.array(json.dumps(meta))
    bad = tmp_path / "bad.npz"
    checkpoint.write_atomic(bad, arrays)
    with pytest.raises(CheckpointError, match="does not fit a model of"):
        load_model(bad)


# ------------------------------------------------------------------------------------- distributions
def test_next_token_probs_is_the_softmax_of_the_logits_over_the_temperature(loaded):
    model, vocab = loaded
    logits = last_logits(model, vocab.encode("the ca").tolist())
    for t in (0.25, 0.8, 1.0, 3.0):
        probs = next_token_probs(logits, t, 0)
        assert probs.dtype == np.float64 and probs.shape == (vocab.size,)
        np.testing.assert_allclose(probs, softmax(logits / t), rtol=1e-12, atol=1e-300)
    for k in (1, 3, vocab.size):
        probs = next_token_probs(logits, 0.8, k)
        top = np.argsort(logits)[::-1][:k]  # the k largest logits (no ties in a trained model's row)
        expected = np.zeros(vocab.size)
        expected[top] = softmax(logits[top] / 0.8)
        np.testing.assert_allclose(probs, expected, rtol=1e-12, atol=1e-300)


def test_temperature_zero_puts_all_mass_on_the_argmax_and_ties_go_to_the_lowest_id():
    assert next_token_probs(np.array([1.0, 3.0, 3.0, 0.0]), 0.0, 0).tolist() == [0, 1, 0, 0]
    assert next_token_probs(np.array([1.0, 3.0, 3.0, 0.0]), 0.0, 2).tolist() == [0, 1, 0, 0]
    assert next_token_probs(np.array([5.0, 3.0, 3.0, 0.0]), 1.0, 2)[2] == 0  # exactly k kept: the lower id
    tied = np.zeros(500)
    tied[::3] = 1.0  # 167 tokens tie for the most likely: the 10 kept are the 10 lowest ids among them
    assert np.flatnonzero(next_token_probs(tied, 1.0, 10)).tolist() == list(range(0, 30, 3))
    tiny = next_token_probs(np.array([0.0, 1e-3, -5.0]), 1e-300, 0)  # a tiny temperature cannot overflow
    assert tiny.tolist() == [0.0, 1.0, 0.0]


def test_sampled_frequencies_match_softmax_of_logits_over_temperature(loaded):
    model, vocab = loaded
    logits = last_logits(model, vocab.encode("the dog ").tolist())
    rng = np.random.default_rng(7)
    probs = next_token_probs(logits, 1.5, 0)
    draws = np.array([sample(probs, rng) for _ in range(20000)])
    stat, df = chi_square(draws, softmax(logits / 1.5))
    assert df >= 3 and stat < chi_square_bound(df), (stat, df)
    wrong, df_wrong = chi_square(draws, softmax(logits / 1.0))  # the same draws against another temperature
    assert wrong > chi_square_bound(df_wrong), "the test cannot tell a temperature of 1.5 from 1"


def test_top_k_never_samples_outside_the_k_most_likely(loaded):
    model, vocab = loaded
    logits = last_logits(model, vocab.encode("a cat ").tolist())
    top3 = set(np.argsort(logits)[::-1][:3].tolist())
    rng = np.random.default_rng(1)
    probs = next_token_probs(logits, 5.0, 3)  # a hot temperature: the rest would be likely without the cut
    draws = {sample(probs, rng) for _ in range(5000)}
    assert draws == top3
    assert len({sample(next_token_probs(logits, 5.0, 0), rng) for _ in range(2000)} - top3) > 0  # without the cut
    context = vocab.encode("the").tolist()
    for token in generate(model, context, tokens=3 * SEQ_LEN, temperature=5.0, top_k=3, seed=4):
        logits = last_logits(model, context)
        assert token in np.argsort(logits)[::-1][:3]
        context.append(token)


# ------------------------------------------------------------------------------------------ generate
def test_temperature_zero_writes_the_argmax_of_the_models_own_logits(loaded):
    model, vocab = loaded
    context = vocab.encode("the c").tolist()
    written = list(generate(model, context, tokens=3 * SEQ_LEN, temperature=0.0))
    assert len(written) == 3 * SEQ_LEN
    for token in written:
        assert token == int(np.argmax(last_logits(model, context)))
        context.append(token)
    long_prompt = vocab.encode(TEXT[: 3 * SEQ_LEN]).tolist()  # longer than seq_len: only its end is read
    first = next(generate(model, long_prompt, tokens=1, temperature=0))
    assert first == int(np.argmax(last_logits(model, long_prompt[-SEQ_LEN:])))


def test_the_context_slides_and_each_step_draws_from_the_model_on_the_last_seq_len_tokens(loaded, monkeypatch):
    model, vocab = loaded
    windows, distributions = [], []
    forward = model.forward
    monkeypatch.setattr(
        model, "forward", lambda tokens, *a, **k: (windows.append(np.array(tokens)), forward(tokens))[1]
    )
    monkeypatch.setattr(generation, "sample", lambda p, rng: (distributions.append(p), sample(p, rng))[1])
    prompt = vocab.encode("the").tolist()
    written = list(generate(model, prompt, tokens=2 * SEQ_LEN + 3, temperature=0.9, top_k=0, seed=3))
    monkeypatch.undo()
    text = prompt + written
    assert len(windows) == len(distributions) == len(written)
    for i, (window, probs) in enumerate(zip(windows, distributions)):
        so_far = text[: len(prompt) + i]
        assert window.tolist() == [so_far[-SEQ_LEN:]]  # (1, T'): T' grows to seq_len, then slides
        np.testing.assert_allclose(probs, softmax(last_logits(model, so_far) / 0.9), rtol=1e-12, atol=1e-300)
    assert [w.shape[1] for w in windows[:7]] == [3, 4, 5, 6, 7, 8, 8]


def test_the_same_seed_writes_the_same_tokens_and_another_seed_others(loaded):
    model, vocab = loaded
    prompt = vocab.encode("the ")
    a = list(generate(model, prompt, tokens=40, seed=5))
    assert a == list(generate(model, prompt, tokens=40, seed=5))
    assert a != list(generate(model, prompt, tokens=40, seed=6))
    probs = next_token_probs(last_logits(model, prompt.tolist()), 1.0, 0)
    assert a[0] == sample(probs, np.random.default_rng(5))  # the seed is the sampler's generator's


def test_a_model_that_is_not_causal_is_refused_and_says_why():
    model = TransformerEncoder(ModelConfig(causal=False))
    with pytest.raises(ValueError, match="not causal: in training every position saw the later positions"):
        generate(model, [1, 2], tokens=3)  # at the call, not at the first token


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt_ids": []}, "the prompt is empty"),
        ({"prompt_ids": [1, 999]}, "outside the vocabulary"),
        ({"tokens": -1}, "tokens must be a whole number >= 0"),
        ({"temperature": -1.0}, "temperature must be a finite number >= 0"),
        ({"temperature": float("inf")}, "temperature must be a finite number >= 0"),
        ({"top_k": -1}, "top_k must be in 0.."),
        ({"top_k": 10**6}, "top_k must be in 0.."),
    ],
)
def test_bad_arguments_are_refused_at_the_call(loaded, kwargs, message):
    model, _ = loaded
    with pytest.raises(ValueError, match=message):
        generate(model, **{"prompt_ids": [1, 2], **kwargs})
