"""Sales reads: pipeline."""
