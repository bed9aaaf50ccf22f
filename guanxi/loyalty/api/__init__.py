"""Survey REST API."""

from guanxi.loyalty.api import surveys

ROUTERS = (surveys.router,)
