"""HTML views of contact and follow-up, one module per area; each keeps its routes beside it."""
