"""Sales services: orders."""
