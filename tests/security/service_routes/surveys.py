"""Declared permissions of the survey routes: survey templates, invitations, the public answer page (/survey/<token>/) and
responses (HTML "loyalty:name", "survey:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {}
