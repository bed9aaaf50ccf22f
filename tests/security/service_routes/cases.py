"""Declared permissions of the service routes: case list and detail, workflow, handling steps, reply review, hand-overs,
customer confirmation, account tab, desk panels (HTML "service:name", "feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {}
