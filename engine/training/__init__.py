"""Training: the task rules and tasks, optimizers, the Trainer, its reports, and checkpoints."""
