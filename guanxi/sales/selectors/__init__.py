"""Sales reads, one module per area, always scoped by ``core.access`` first (see ``scope``)."""
