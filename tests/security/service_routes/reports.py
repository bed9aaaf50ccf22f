"""Declared permissions of the service routes: service reports and the survey dashboard (HTML "service:name",
"loyalty:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {
    "service:reports": "service.report",
    "service:reports-export": "service.report",
    "loyalty:dashboard": "survey.view",
    "loyalty:dashboard-export": "survey.view",
    "GET /api/v1/service-reports": "service.report",
    "GET /api/v1/survey-dashboard": "survey.view",
}
