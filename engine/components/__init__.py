"""The components: one pure forward/backward pair per layer (embedding to loss)."""
