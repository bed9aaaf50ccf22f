"""Declared permissions of the service routes: the public form /feedback/ (and variants), QR codes, hotline quick entry,
comment-card batch entry, feedback-form configuration (HTML "service:name", "feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {
    # The public form: no login (anti-spam: honeypot, signed timestamp, rate limit).
    "feedback:form-default": "public",
    "feedback:form": "public",
    # Hotline quick entry and the caller lookup (through the account scope).
    "service:hotline": "case.add",
    "service:hotline-lookup": "case.add",
    # Paper comment cards.
    "service:cards": "case.add",
    # Attachments (added on the case page, service:case-attach): downloaded by whoever sees the case.
    "service:attachment-download": "case.view",
    # Feedback forms, their QR codes and printable comment cards.
    "service:feedback-form-list": "service.configure",
    "service:feedback-form-create": "service.configure",
    "service:feedback-form-edit": "service.configure",
    "service:feedback-form-deactivate": "service.configure",
    "service:feedback-form-activate": "service.configure",
    "service:feedback-form-default": "service.configure",
    "service:feedback-form-qr-svg": "service.configure",
    "service:feedback-form-qr-png": "service.configure",
    "service:feedback-form-card": "service.configure",
}
