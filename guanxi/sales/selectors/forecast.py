"""Sales reads: forecast."""
