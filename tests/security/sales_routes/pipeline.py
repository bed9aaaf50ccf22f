"""Declared permissions of the sales routes: pipeline (HTML "sales:name" and "METHOD /api/v1/path")."""

ROUTES: dict[str, str] = {
}
