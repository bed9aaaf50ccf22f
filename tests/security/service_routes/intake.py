"""Declared permissions of the service routes: the public form /feedback/ (and variants), QR codes, hotline quick entry,
comment-card batch entry, feedback-form configuration (HTML "service:name", "feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {}
