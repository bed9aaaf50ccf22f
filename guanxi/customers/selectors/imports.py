"""Customer-file reads: imports, always scoped to who is asking."""

from __future__ import annotations
