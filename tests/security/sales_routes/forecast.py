"""Declared permissions of the sales routes: forecast (HTML "sales:name" and "METHOD /api/v1/path")."""

ROUTES: dict[str, str] = {
    "sales:forecast": "forecast.view",
    "GET /api/v1/forecast/pipeline": "forecast.view",
    "GET /api/v1/forecast/orders": "forecast.view",
}
