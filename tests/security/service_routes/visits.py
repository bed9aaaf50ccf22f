"""Declared permissions of the service routes: field visits (service tickets) and product improvements (HTML
"service:name", "feedback:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {
    # --- field visits ---
    "service:visit-list": "visit.view",
    "service:visit-detail": "visit.view",
    "service:visit-edit": "visit.change",
    "service:visit-cancel": "visit.change",
    "service:visit-report": "visit.change",
    "service:visit-sign": "visit.change",
    "service:visit-link": "visit.change",
    "service:visit-create": "visit.add",
    "feedback:visit-confirm": "public",  # the token in the URL is the credential; it works once
    "GET /api/v1/visits": "visit.view",
    "POST /api/v1/visits": "visit.add",
    "GET /api/v1/visits/{int:pk}": "visit.view",
    "PATCH /api/v1/visits/{int:pk}": "visit.change",
    "POST /api/v1/visits/{int:pk}/report": "visit.change",
    "POST /api/v1/visits/{int:pk}/confirm": "visit.change",
    "POST /api/v1/visits/{int:pk}/cancel": "visit.change",
    # --- improvements ---
    "service:improvement-list": "improvement.view",
    "service:improvement-create": "improvement.manage",
    "service:improvement-detail": "improvement.view",
    "service:improvement-edit": "improvement.manage",
    "service:improvement-state": "improvement.manage",
    "service:improvement-ship": "improvement.manage",
    "service:improvement-link": "improvement.view",  # the service admits managers and the case's owner
    "service:improvement-unlink": "improvement.view",
    "service:improvement-delete": "improvement.manage",
    "service:improvement-restore": "improvement.manage",
    "GET /api/v1/improvements": "improvement.view",
    "POST /api/v1/improvements": "improvement.manage",
    "GET /api/v1/improvements/{int:pk}": "improvement.view",
    "PATCH /api/v1/improvements/{int:pk}": "improvement.manage",
    "DELETE /api/v1/improvements/{int:pk}": "improvement.manage",
    "GET /api/v1/improvements/{int:pk}/cases": "improvement.view",
    "POST /api/v1/improvements/{int:pk}/cases": "improvement.view",
    "DELETE /api/v1/improvements/{int:pk}/cases/{int:case_pk}": "improvement.view",
    "POST /api/v1/improvements/{int:pk}/ship": "improvement.manage",
}
