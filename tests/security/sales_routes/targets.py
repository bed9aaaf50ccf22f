"""Declared permissions of the sales routes: targets and performance (HTML "sales:name" and "METHOD /api/v1/path")."""

ROUTES: dict[str, str] = {
    "sales:target-list": "target.manage",
    "sales:target-create": "target.manage",
    "sales:target-edit": "target.manage",
    "sales:target-delete": "target.manage",
    "sales:performance": "performance.view",
    "sales:performance-export": "performance.export",
    "GET /api/v1/targets": "target.view",
    "POST /api/v1/targets": "target.manage",
    "GET /api/v1/targets/{int:pk}": "target.view",
    "PATCH /api/v1/targets/{int:pk}": "target.manage",
    "DELETE /api/v1/targets/{int:pk}": "target.manage",
    "GET /api/v1/performance": "performance.view",
}
