"""Declared permissions of the survey routes: survey templates, invitations, the public answer page (/survey/<token>/) and
responses (HTML "loyalty:name", "survey:name" and "METHOD /api/v1/path").
"""

ROUTES: dict[str, str] = {
    # Survey templates and the question editor
    "loyalty:survey-list": "survey.view",
    "loyalty:survey-create": "survey.manage",
    "loyalty:survey-detail": "survey.view",
    "loyalty:survey-edit": "survey.manage",
    "loyalty:survey-state": "survey.manage",
    "loyalty:survey-copy": "survey.manage",
    "loyalty:survey-delete": "survey.manage",
    "loyalty:survey-restore": "survey.manage",
    "loyalty:survey-questions": "survey.manage",
    "loyalty:question-edit": "survey.manage",
    "loyalty:question-move": "survey.manage",
    "loyalty:question-delete": "survey.manage",
    # Invitations, sending by hand, the account page's tab
    "loyalty:invitation-list": "survey.view",
    "loyalty:invitation-detail": "survey.view",
    "loyalty:invitation-link": "survey.send",
    "loyalty:invitation-send": "survey.send",
    "loyalty:account-surveys": "survey.view",
    # Responses
    "loyalty:response-list": "survey.view",
    "loyalty:response-detail": "survey.view",
    # The customer's page: the token in the URL is the credential
    "survey:answer": "public",
    # REST API
    "GET /api/v1/surveys": "survey.view",
    "POST /api/v1/surveys": "survey.manage",
    "GET /api/v1/surveys/{int:pk}": "survey.view",
    "PATCH /api/v1/surveys/{int:pk}": "survey.manage",
    "DELETE /api/v1/surveys/{int:pk}": "survey.manage",
    "POST /api/v1/surveys/{int:pk}/copy": "survey.manage",
    "GET /api/v1/surveys/{int:pk}/questions": "survey.view",
    "POST /api/v1/surveys/{int:pk}/questions": "survey.manage",
    "PATCH /api/v1/surveys/{int:pk}/questions/{int:question_pk}": "survey.manage",
    "DELETE /api/v1/surveys/{int:pk}/questions/{int:question_pk}": "survey.manage",
    "GET /api/v1/survey-invitations": "survey.view",
    "POST /api/v1/survey-invitations": "survey.send",
    "GET /api/v1/survey-responses": "survey.view",
    "GET /api/v1/survey-responses/{int:pk}": "survey.view",
}
