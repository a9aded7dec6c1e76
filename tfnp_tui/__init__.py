"""tfnp-tui: the terminal lab that trains the tfnp Transformer live, and its command line."""
