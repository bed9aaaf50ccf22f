"""Declared permissions of the sales routes: pipeline (HTML "sales:name" and "METHOD /api/v1/path")."""

ROUTES: dict[str, str] = {
    # Deals and the board
    "sales:opportunity-list": "opportunity.view",
    "sales:opportunity-board": "opportunity.view",
    "sales:opportunity-create": "opportunity.add",
    "sales:opportunity-detail": "opportunity.view",
    "sales:opportunity-edit": "opportunity.change",
    "sales:opportunity-delete": "opportunity.delete",
    "sales:opportunity-move": "opportunity.change",
    "sales:opportunity-won": "opportunity.change",
    "sales:opportunity-lost": "opportunity.change",
    # Configuration
    "sales:pipeline-list": "pipeline.manage",
    "sales:pipeline-create": "pipeline.manage",
    "sales:pipeline-edit": "pipeline.manage",
    "sales:stage-create": "pipeline.manage",
    "sales:stage-edit": "pipeline.manage",
    "sales:stage-delete": "pipeline.manage",
    "sales:lossreason-create": "pipeline.manage",
    "sales:lossreason-edit": "pipeline.manage",
    "sales:lossreason-delete": "pipeline.manage",
    # REST API
    "GET /api/v1/opportunities": "opportunity.view",
    "POST /api/v1/opportunities": "opportunity.add",
    "GET /api/v1/opportunities/{int:pk}": "opportunity.view",
    "PATCH /api/v1/opportunities/{int:pk}": "opportunity.change",
    "DELETE /api/v1/opportunities/{int:pk}": "opportunity.delete",
    "POST /api/v1/opportunities/{int:pk}/move": "opportunity.change",
    # Readable by whoever works on deals or configures them (checked inside).
    "GET /api/v1/pipelines": "authenticated",
    "POST /api/v1/pipelines": "pipeline.manage",
    "PATCH /api/v1/pipelines/{int:pk}": "pipeline.manage",
    "POST /api/v1/pipelines/{int:pk}/stages": "pipeline.manage",
    "PATCH /api/v1/pipeline-stages/{int:pk}": "pipeline.manage",
    "DELETE /api/v1/pipeline-stages/{int:pk}": "pipeline.manage",
    "GET /api/v1/loss-reasons": "authenticated",
    "POST /api/v1/loss-reasons": "pipeline.manage",
    "PATCH /api/v1/loss-reasons/{int:pk}": "pipeline.manage",
    "DELETE /api/v1/loss-reasons/{int:pk}": "pipeline.manage",
}
