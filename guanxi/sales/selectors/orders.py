"""Sales reads: orders."""
