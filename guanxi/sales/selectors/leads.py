"""Sales reads: leads."""
