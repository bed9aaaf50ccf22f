"""Service views, one module per area; each keeps its routes beside its views."""

from guanxi.service.views import cases, intake, reports, sla, visits

AREAS = (intake, cases, sla, visits, reports)
