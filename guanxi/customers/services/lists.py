"""Customer-file writes: lists. Every one: one transaction, access checked first, audited."""

from __future__ import annotations
