"""Sales services: products."""
