"""Sales services: forecast."""
