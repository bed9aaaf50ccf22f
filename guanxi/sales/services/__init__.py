"""Sales writes, one module per area. Every write: rights first, one transaction, audited."""

from guanxi.sales.services import (  # noqa: F401  (each registers its record types)
    contracts,
    forecast,
    leads,
    orders,
    pipeline,
    products,
    quotes,
    rebates,
    targets,
)
