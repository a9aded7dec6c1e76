"""`tfnp-tui --load FILE --generate PROMPT`: print the prompt and what the causal model of the
checkpoint writes after it, token by token as each is drawn (engine/generation.py).

    --tokens N (default 200)   --temperature T (default 1.0; 0: greedy)   --top-k K (default 0: all)
    --seed S (default 0: the same seed, the same text)

A text model reads and writes characters; a toy task's causal model reads ids ("3 1 4")
and writes numbers separated by spaces. It needs the checkpoint alone, no data file. Every
bad input (a missing or corrupt checkpoint, a model that is not causal, characters the
model never saw, an empty prompt, a number out of range, a training or model flag that
would mean nothing here) is one line on stderr and exit status 2, before anything is printed.
"""

from __future__ import annotations

import argparse
import sys

from engine.generation import NOT_CAUSAL, Vocabulary, check_sampling, generate, load_model
from engine.training.checkpoint import CheckpointError

from .flags import UsageError, refuse_flags
from .setup import PROG

DEFAULT_TOKENS = 200
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_K = 0
DEFAULT_SEED = 0


def run_generate(args: argparse.Namespace) -> int:
    """Check everything, then stream the prompt and its continuation to stdout; the exit status."""
    try:
        refuse_flags(args, "generate")  # --seed is a training flag too, but here it seeds the sampling
        tokens, temperature, top_k, seed = sampling_settings(args)
        model, vocab, prompt = prepared(args.load, args.generate, temperature, top_k)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    stream(vocab, prompt, generate(model, prompt, tokens, temperature, top_k, seed))
    return 0


def sampling_settings(args: argparse.Namespace) -> tuple[int, float, int, int]:
    """--tokens, --temperature, --top-k and --seed, their defaults filled in; --tokens and --seed
    checked (--temperature and --top-k with the model: prepared)."""
    tokens = DEFAULT_TOKENS if args.tokens is None else args.tokens
    temperature = DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
    top_k = DEFAULT_TOP_K if args.top_k is None else args.top_k
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if tokens < 1:
        raise UsageError(f"--tokens: must be at least 1, got {tokens}")
    if seed < 0:
        raise UsageError(f"--seed: must be an integer >= 0, got {seed}")
    return tokens, temperature, top_k, seed


def prepared(path: str, text: str, temperature: float, top_k: int):
    """The checkpoint's model and vocabulary and the prompt's ids, or UsageError saying why not
    (the sampling settings checked by engine.generation.check_sampling, against the vocabulary)."""
    try:
        model, vocab = load_model(path)
    except CheckpointError as err:
        raise UsageError(str(err)) from None
    if not model.cfg.causal:
        raise UsageError(f"--generate: {path} holds a model that cannot write: {NOT_CAUSAL}")
    try:
        check_sampling(temperature, top_k, vocab.size)
    except ValueError as err:  # 'top_k must be in 0..V ...' -> '--top-k: must be in 0..V ...'
        name, _, rest = str(err).partition(" ")
        raise UsageError(f"--{name.replace('_', '-')}: {rest}") from None
    try:
        prompt = vocab.encode(text)
    except ValueError as err:
        raise UsageError(f"--generate: {err}") from None
    if prompt.size == 0:
        what = "one character" if vocab.chars is not None else f"one token id (0..{vocab.size - 1}, like 3 1 4)"
        raise UsageError(f"--generate: the prompt is empty: give at least {what}")
    return model, vocab, prompt


def stream(vocab: Vocabulary, prompt, tokens) -> None:
    """Print the prompt, then each token as it comes (flushed, so it shows at once), then a newline."""
    out = sys.stdout
    write(out, vocab.decode(prompt))
    try:
        for token in tokens:
            write(out, vocab.separator + vocab.decode([token]))
    except KeyboardInterrupt:  # end the line; cli.main says "interrupted" and exits 2
        out.write("\n")
        raise
    write(out, "\n")


def write(out, text: str) -> None:
    """Write and flush `text`; a character `out`'s encoding cannot hold is written escaped (\\u20ac),
    not a traceback, without changing `out` itself (a Python caller's stdout stays as it was)."""
    encoding = getattr(out, "encoding", None)
    out.write(text.encode(encoding, "backslashreplace").decode(encoding) if encoding else text)
    out.flush()
