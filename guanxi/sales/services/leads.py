"""Sales services: leads."""
