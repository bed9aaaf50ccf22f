"""Declared permissions of the service routes: field visits (service tickets) and product improvements (HTML
"service:name", "feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {}
