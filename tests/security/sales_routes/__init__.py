"""The sales app's route declarations, one module per area (merged into DECLARATIONS)."""

from tests.security.sales_routes import account, contracts, forecast, leads, orders, pipeline, products, quotes, rebates, targets

SALES_ROUTES: dict[str, str] = {}
for _area in (account, products, leads, pipeline, quotes, orders, contracts, rebates, targets, forecast):
    SALES_ROUTES.update(_area.ROUTES)
