"""Declared permissions of the service routes: service reports and the survey dashboard (HTML "service:name",
"feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {}
