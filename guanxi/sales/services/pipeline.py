"""Sales services: pipeline."""
