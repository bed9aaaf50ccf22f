"""Sales reads: quotes."""
