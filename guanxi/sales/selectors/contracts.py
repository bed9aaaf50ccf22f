"""Sales reads: contracts."""
