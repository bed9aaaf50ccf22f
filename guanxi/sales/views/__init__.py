"""Sales views, one module per area; each keeps its routes beside its views."""

from guanxi.sales import account_tab
from guanxi.sales.views import contracts, forecast, leads, orders, pipeline, products, quotes, rebates, targets

AREAS = (products, leads, pipeline, quotes, orders, contracts, rebates, targets, forecast, account_tab)
