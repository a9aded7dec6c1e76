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
import math
import sys

from engine.generation import NOT_CAUSAL, Vocabulary, generate, load_model
from engine.training.checkpoint import CheckpointError

from .flags import MODEL_FLAGS, TRAIN_FLAGS, UsageError
from .setup import PROG

DEFAULT_TOKENS = 200
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_K = 0
DEFAULT_SEED = 0
# the flags that mean something with --generate, besides --generate and --load themselves
TAKES = "--load, --tokens, --temperature, --top-k and --seed"
FILE_FLAGS = {"save": "--save", "metrics_out": "--metrics-out", "overwrite": "--overwrite"}


def run_generate(args: argparse.Namespace) -> int:
    """Check everything, then stream the prompt and its continuation to stdout; the exit status."""
    try:
        refuse_other_flags(args)
        tokens, temperature, top_k, seed = sampling_settings(args)
        model, vocab, prompt = prepared(args.load, args.generate, top_k)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    stream(vocab, prompt, generate(model, prompt, tokens, temperature, top_k, seed))
    return 0


def refuse_other_flags(args: argparse.Namespace) -> None:
    """A training, model or file flag with --generate would mean nothing: said, not ignored.
    (--seed is a training flag too, but here it seeds the sampling.)"""
    for field, flag in MODEL_FLAGS.items():
        if getattr(args, field) is not None:
            raise UsageError(f"{flag}: --generate uses the model of --load as it was saved (it takes {TAKES})")
    for field, flag in {**TRAIN_FLAGS, **FILE_FLAGS}.items():
        if field != "seed" and getattr(args, field) not in (None, False):
            raise UsageError(
                f"{flag}: means nothing with --generate, which trains and saves nothing (it takes {TAKES})"
            )


def sampling_settings(args: argparse.Namespace) -> tuple[int, float, int, int]:
    """--tokens, --temperature, --top-k and --seed, their defaults filled in and checked."""
    tokens = DEFAULT_TOKENS if args.tokens is None else args.tokens
    temperature = DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
    top_k = DEFAULT_TOP_K if args.top_k is None else args.top_k
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if tokens < 1:
        raise UsageError(f"--tokens: must be at least 1, got {tokens}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise UsageError(f"--temperature: must be a finite number >= 0 (0: greedy), got {temperature}")
    if top_k < 0:
        raise UsageError(f"--top-k: must be >= 0 (0: all tokens), got {top_k}")
    if seed < 0:
        raise UsageError(f"--seed: must be an integer >= 0, got {seed}")
    return tokens, temperature, top_k, seed


def prepared(path: str, text: str, top_k: int):
    """The checkpoint's model and vocabulary and the prompt's ids, or UsageError saying why not."""
    try:
        model, vocab = load_model(path)
    except CheckpointError as err:
        raise UsageError(str(err)) from None
    if not model.cfg.causal:
        raise UsageError(f"--generate: {path} holds a model that cannot write: {NOT_CAUSAL}")
    if top_k > vocab.size:
        raise UsageError(f"--top-k: {top_k} is more than the model's vocabulary of {vocab.size} tokens (0: all)")
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
    if hasattr(out, "reconfigure"):  # a terminal that cannot show a character gets \u20ac, not a traceback
        out.reconfigure(errors="backslashreplace")
    out.write(vocab.decode(prompt))
    out.flush()
    try:
        for token in tokens:
            out.write(vocab.separator + vocab.decode([token]))
            out.flush()
    except KeyboardInterrupt:  # end the line; cli.main says "interrupted" and exits 2
        out.write("\n")
        raise
    out.write("\n")
    out.flush()
