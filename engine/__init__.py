"""tfnp engine: a Transformer encoder in NumPy with every backward pass written by hand.

Where things are:
    config.py  model.py  gradcheck.py   what to build, the model, and the check of its gradients
    params.py       the parameters' pinned names and shapes, and how a fresh model draws them
    generation.py   what a causal model writes: load_model(checkpoint), Vocabulary, generate
    export.py       the parameters under PyTorch's nn.TransformerEncoder names, as .safetensors
    components/   one pure forward/backward pair per layer
    training/     the task rules and tasks, optimizers, the Trainer, reports, checkpoints
    runtime/      NumPy or CuPy, fused element-wise passes, the workspace, the flat parameter
                  layout, file errors, memory estimates
"""

from .config import ModelConfig, TrainConfig
from .generation import Vocabulary, generate, load_model
from .model import TransformerEncoder
from .training.trainer import Trainer

__version__ = "0.2.0"  # the project's version: pyproject.toml reads it from here

__all__ = [
    "__version__",
    "ModelConfig",
    "TrainConfig",
    "Trainer",
    "TransformerEncoder",
    "Vocabulary",
    "generate",
    "load_model",
]
