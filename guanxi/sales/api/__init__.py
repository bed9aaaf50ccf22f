"""Sales REST API, one router per area."""

from guanxi.sales.api import contracts, forecast, leads, orders, pipeline, products, quotes, rebates, targets

ROUTERS = tuple(area.router for area in (products, leads, pipeline, quotes, orders, contracts, rebates, targets,
                                         forecast))
