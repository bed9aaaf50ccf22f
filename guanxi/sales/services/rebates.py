"""Sales services: rebates."""
