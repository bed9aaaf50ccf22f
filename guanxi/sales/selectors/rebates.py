"""Sales reads: rebates."""
