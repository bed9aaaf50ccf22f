"""Sales services: contracts."""
