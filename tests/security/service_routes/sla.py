"""Declared permissions of the service routes: categories, SLA policies, business hours, holidays, the SLA sweep and its
desk panel (HTML "service:name", "feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {
    "service:settings": "service.configure",
    "service:settings-categories": "service.configure",
    "service:settings-category-create": "service.configure",
    "service:settings-category-edit": "service.configure",
    "service:settings-category-delete": "service.configure",
    "service:settings-sla": "service.configure",
    "service:settings-sla-create": "service.configure",
    "service:settings-sla-edit": "service.configure",
    "service:settings-sla-delete": "service.configure",
    "service:settings-hours": "service.configure",
    "service:settings-holidays": "service.configure",
    "service:settings-holiday-create": "service.configure",
    "service:settings-holiday-edit": "service.configure",
    "service:settings-holiday-delete": "service.configure",
    "service:settings-holidays-load": "service.configure",
    # Reads: whoever works cases or configures them (checked inside: case.view or service.configure).
    "GET /api/v1/case-categories": "authenticated",
    "POST /api/v1/case-categories": "service.configure",
    "PATCH /api/v1/case-categories/{int:pk}": "service.configure",
    "DELETE /api/v1/case-categories/{int:pk}": "service.configure",
    "GET /api/v1/sla-policies": "authenticated",
    "POST /api/v1/sla-policies": "service.configure",
    "PATCH /api/v1/sla-policies/{int:pk}": "service.configure",
    "DELETE /api/v1/sla-policies/{int:pk}": "service.configure",
    "GET /api/v1/holidays": "authenticated",
    "POST /api/v1/holidays": "service.configure",
    "POST /api/v1/holidays/load": "service.configure",
    "PATCH /api/v1/holidays/{int:pk}": "service.configure",
    "DELETE /api/v1/holidays/{int:pk}": "service.configure",
    "GET /api/v1/business-hours": "authenticated",
    "PUT /api/v1/business-hours": "service.configure",
}
