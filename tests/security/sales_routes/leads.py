"""Declared permissions of the sales routes: leads (HTML "sales:name" and "METHOD /api/v1/path")."""

ROUTES: dict[str, str] = {
}
