"""Service views, one module per area; each keeps its routes beside its views."""

from guanxi.service import account_tab
from guanxi.service.views import cases, desk, intake, reports, sla, visits

AREAS = (intake, cases, sla, visits, reports, desk, account_tab)
