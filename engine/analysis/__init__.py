"""Instruments that read a model without training it: what each attention head does (and
what the model loses without it), the logit lens, the embedding space, dead ReLU units.
The lab (tfnp_tui) draws them; `tfnp-tui --inspect-heads` prints the heads' table."""
