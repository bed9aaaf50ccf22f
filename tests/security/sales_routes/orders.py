"""Declared permissions of the sales routes: orders (HTML "sales:name" and "METHOD /api/v1/path")."""

ROUTES: dict[str, str] = {
}
