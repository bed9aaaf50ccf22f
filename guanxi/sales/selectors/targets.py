"""Sales reads: targets."""
