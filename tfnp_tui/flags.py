"""The flags of `tfnp-tui`: the parser (one place per flag: a flag that sets a config field is
named once, in its add_argument call), the flags that belong to one mode, and UsageError,
the one-line mistake that ends in exit status 2."""

from __future__ import annotations

import argparse

from engine import __version__
from engine.bugs import BUGS
from engine.bugs import unknown as unknown_bug
from engine.config import ACTIVATIONS, DEVICES, DTYPES, OPTIMIZERS, SCHEDULES, TASKS

from .setup import DEFAULT_SAVE, PROG


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message: str):
        raise UsageError(message)


class ConfigFlags(dict):
    """config field -> flag, filled as each flag is added (its dest is the field it sets), so
    a flag's name is written once: in its add_argument call."""

    def add(self, group, flag: str, **kwargs) -> None:
        self[group.add_argument(flag, **kwargs).dest] = flag


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG,
        description="Train a hand-written NumPy Transformer encoder and watch it learn.",
        epilog="Defaults reproduce the original setup: task next, vocabulary 20, sequence length 4, "
        "d_model 32, d_ff 64, 1 head, 1 post-LN layer, ReLU, SGD. Every other task has defaults of its own "
        "that make it learn; the first line of a run says what was chosen. "
        "To compare runs in the terminal: tfnp-tui compare A.jsonl B.jsonl ... (see tfnp-tui compare --help).",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--headless", action="store_true", help="train in the terminal without the lab")
    mode.add_argument(
        "--gradcheck",
        action="store_true",
        help="check every gradient of the model (or --load) against finite differences, print the "
        "table and exit: 0 if all pass, 1 if any fails",
    )
    mode.add_argument(
        "--inspect-heads",
        action="store_true",
        help="print what each attention head of the model (--load) does on its validation set: entropy, "
        "pattern, and the loss and accuracy with the head knocked out",
    )
    mode.add_argument(
        "--generate",
        metavar="PROMPT",
        help="print PROMPT and what the causal model of --load writes after it (see --tokens, --temperature, "
        "--top-k, --seed)",
    )
    mode.add_argument(
        "--export",
        metavar="OUT",
        help="write the weights of --load to OUT (a name ending in .safetensors) under PyTorch's "
        "nn.TransformerEncoder names, float32, the model config in its metadata (needs the [export] extra: "
        "pip install 'tfnp[export]'); only --overwrite goes with it",
    )
    p.add_argument("--json", action="store_true", help="with --inspect-heads: one JSON object per head")
    p.add_argument(
        "--inject",
        metavar="BUG",
        help="with --gradcheck: plant one classic backprop bug for the check ('--inject list' names them)",
    )
    model, train = p.model_flags, p.train_flags = ConfigFlags(), ConfigFlags()
    g = p.add_argument_group("task")
    train.add(g, "--task", choices=TASKS, help="what to learn (default next)")
    train.add(g, "--data", metavar="FILE", help="UTF-8 text file for --task text")
    train.add(g, "--samples", type=int, metavar="N", help="training sequences (default per task)")
    train.add(g, "--val-samples", type=int, metavar="N", help="held-out sequences (default per task)")
    g = p.add_argument_group("model")
    model.add(
        g, "--vocab", dest="vocab_size", type=int, metavar="V", help="vocabulary size (default 20; text: from the file)"
    )
    model.add(g, "--seq-len", type=int, metavar="T", help="sequence length (default 4; text 32)")
    model.add(g, "--d-model", type=int, metavar="C", help="model width (default 32; text 64)")
    model.add(g, "--heads", dest="n_heads", type=int, metavar="H", help="attention heads (default 1; text 4)")
    model.add(g, "--layers", dest="n_layers", type=int, metavar="L", help="encoder layers (default 1; text 2)")
    model.add(g, "--d-ff", type=int, metavar="F", help="feed-forward width (default 64; text 128)")
    model.add(
        g,
        "--causal",
        action=argparse.BooleanOptionalAction,
        help="mask attention to later positions (default: on for text only)",
    )
    model.add(
        g,
        "--norm-first",
        action=argparse.BooleanOptionalAction,
        help="pre-LN blocks and a final LayerNorm (default: post-LN; text: pre-LN)",
    )
    model.add(g, "--activation", choices=ACTIVATIONS, help="feed-forward activation (default relu)")
    model.add(g, "--dtype", choices=DTYPES, help="float32 (default) or float64")
    g = p.add_argument_group("training")
    train.add(
        g,
        "--optimizer",
        choices=OPTIMIZERS,
        help="default per task: sgd for next, adam for copy, reverse and sort, adamw for text",
    )
    train.add(
        g, "--lr", type=float, help="learning rate (default: the task's; another optimizer's own: sgd 0.01, adam 1e-3)"
    )
    train.add(g, "--weight-decay", type=float, metavar="WD", help="AdamW's decoupled decay (default 0.01)")
    train.add(g, "--batch-size", type=int, metavar="B", help="sequences per step (default per task)")
    train.add(g, "--epochs", type=int, metavar="N", help="epochs to train (default per task)")
    train.add(g, "--seed", type=int, help="seeds the model, the data and the shuffling (default 0)")
    train.add(g, "--clip", type=float, metavar="NORM", help="clip the global gradient norm (default 0: off)")
    train.add(
        g, "--schedule", choices=SCHEDULES, help="learning-rate schedule (default constant; cosine for sort and text)"
    )
    train.add(g, "--warmup", type=int, metavar="STEPS", help="linear warm-up steps (default 0)")
    train.add(g, "--device", choices=DEVICES, help="cpu (default) or gpu (needs CuPy)")
    train.add(
        g,
        "--dropout",
        type=float,
        metavar="P",
        help="dropout on the attention weights, the feed-forward's hidden units and before each residual add, "
        "in training only (default 0)",
    )
    train.add(
        g,
        "--patience",
        type=int,
        metavar="N",
        help="stop after N epochs without a new best validation loss (default 0: never)",
    )
    g = p.add_argument_group("generation (with --generate)")
    g.add_argument("--tokens", type=int, metavar="N", help="tokens to write after the prompt (default 200)")
    g.add_argument(
        "--temperature", type=float, metavar="T", help="divides the logits before sampling (default 1.0; 0: greedy)"
    )
    g.add_argument("--top-k", type=int, metavar="K", help="sample among the K most likely tokens (default 0: all)")
    g = p.add_argument_group("files")
    g.add_argument("--save", metavar="FILE", help=f"checkpoint to write (lab default {DEFAULT_SAVE})")
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="let --save replace an existing file this run did not --load, --metrics-out a file that "
        "is not a metrics file, and --export any existing file (refused without it)",
    )
    g.add_argument("--load", metavar="FILE", help="checkpoint to start from")
    g.add_argument("--metrics-out", metavar="FILE", help="write one JSON line per epoch")
    g.add_argument(
        "--compare",
        metavar="FILE",
        action="append",
        help="in the lab: draw the curves of another run's --metrics-out file beside this one (repeatable)",
    )
    return p


def given(args: argparse.Namespace, flags: dict[str, str]) -> dict:
    """{config field: value} for the flags the user actually typed."""
    return {field: getattr(args, field) for field in flags if getattr(args, field) is not None}


_FLAGS = build_parser()
MODEL_FLAGS, TRAIN_FLAGS = _FLAGS.model_flags, _FLAGS.train_flags  # config field -> flag
FILE_FLAGS = {"save": "--save", "metrics_out": "--metrics-out", "overwrite": "--overwrite"}

# The modes that read --load's model and nothing else: the fields each one takes besides --load
# and its own, and why a model flag, and any other training or file flag, means nothing there.
GENERATE_TAKES = "it takes --load, --tokens, --temperature, --top-k and --seed"
EXPORT_REFUSES = (
    "means nothing with --export, which writes the model of --load as it is (only --overwrite goes with it)"
)
LOAD_ONLY = {
    "generate": ({"seed"}, f"--generate uses the model of --load as it was saved ({GENERATE_TAKES})",
                 f"means nothing with --generate, which trains and saves nothing ({GENERATE_TAKES})"),
    "export": ({"overwrite"}, EXPORT_REFUSES, EXPORT_REFUSES),
}  # fmt: skip


def refuse_flags(args: argparse.Namespace, mode: str) -> None:
    """UsageError naming the first model, training or file flag typed that means nothing with
    --`mode` (a key of LOAD_ONLY), as typed (--no-causal) and saying why: refused, not ignored."""
    takes, model_reason, other_reason = LOAD_ONLY[mode]
    for flags, reason in ((MODEL_FLAGS, model_reason), ({**TRAIN_FLAGS, **FILE_FLAGS}, other_reason)):
        for field, flag in flags.items():
            value = getattr(args, field)
            if field not in takes and value != _FLAGS.get_default(field):
                raise UsageError(f"{'--no-' + flag[2:] if value is False else flag}: {reason}")


def name_flag(err: Exception) -> str:
    """'lr: must be positive' -> '--lr: must be positive'."""
    text = str(err)
    field, sep, rest = text.partition(": ")
    flag = MODEL_FLAGS.get(field) or TRAIN_FLAGS.get(field)
    return f"{flag}: {rest}" if sep and flag else text


def check_modes(args: argparse.Namespace) -> None:
    """The flags that belong to one mode come with it: --inject (a bug of engine/bugs.py) with
    --gradcheck, --json with --inspect-heads, --tokens, --temperature and --top-k with
    --generate, --compare with the lab; --generate and --export need --load."""
    if args.inject is not None and not args.gradcheck:
        raise UsageError("--inject: only with --gradcheck (or --inject list)")
    if args.inject is not None and args.inject not in BUGS:
        raise UsageError(f"--inject: {unknown_bug(args.inject)}")
    if args.json and not args.inspect_heads:
        raise UsageError("--json: only with --inspect-heads")
    for flag in ("tokens", "temperature", "top_k"):
        if getattr(args, flag) is not None and args.generate is None:
            raise UsageError(f"--{flag.replace('_', '-')}: only with --generate")
    for mode in ("generate", "export"):
        if getattr(args, mode) is not None and not args.load:
            raise UsageError(f"--{mode}: give the model to use with --load FILE")
    if args.compare and (args.headless or args.gradcheck or args.inspect_heads or args.generate or args.export):
        raise UsageError("--compare: only in the lab (for the terminal: tfnp-tui compare A.jsonl B.jsonl ...)")
