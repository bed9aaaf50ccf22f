"""Declared permissions of the service routes: categories, SLA policies, business hours, holidays, the SLA sweep and its
desk panel (HTML "service:name", "feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {}
