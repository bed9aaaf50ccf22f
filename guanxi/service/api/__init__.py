"""Service REST API, one router per area."""

from guanxi.service.api import cases, reports, sla, visits

ROUTERS = tuple(area.router for area in (cases, sla, visits, reports))
