"""Sales reads: products."""
