"""Sales views, one module per area; each keeps its routes beside its views."""

from guanxi.sales.views import contracts, forecast, leads, orders, pipeline, products, quotes, rebates, targets

AREAS = (products, leads, pipeline, quotes, orders, contracts, rebates, targets, forecast)
