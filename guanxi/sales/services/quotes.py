"""Sales services: quotes."""
