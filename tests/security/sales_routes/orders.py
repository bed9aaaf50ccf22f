"""Declared permissions of the sales routes: orders (HTML "sales:name" and "METHOD /api/v1/path")."""

ROUTES: dict[str, str] = {
    "sales:order-list": "order.view",
    "sales:order-create": "order.add",
    "sales:order-export": "sales.export",
    "sales:order-detail": "order.view",
    "sales:order-edit": "order.change",
    "sales:order-lines": "order.change",
    "sales:order-state": "order.change",
    "sales:order-delete": "order.delete",
    "sales:order-from-quote": "order.add",
    "GET /api/v1/orders": "order.view",
    "POST /api/v1/orders": "order.add",
    "GET /api/v1/orders/{int:pk}": "order.view",
    "PATCH /api/v1/orders/{int:pk}": "order.change",
    "DELETE /api/v1/orders/{int:pk}": "order.delete",
    "POST /api/v1/orders/{int:pk}/confirm": "order.change",
    "POST /api/v1/orders/{int:pk}/ship": "order.change",
    "POST /api/v1/orders/{int:pk}/deliver": "order.change",
    "POST /api/v1/orders/{int:pk}/cancel": "order.change",
    "POST /api/v1/orders/export": "sales.export",
}
