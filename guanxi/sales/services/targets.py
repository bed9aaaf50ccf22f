"""Sales services: targets."""
