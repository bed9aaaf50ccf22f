"""The service and loyalty apps' route declarations, one module per area (merged into DECLARATIONS)."""

from tests.security.service_routes import cases, intake, reports, sla, surveys, visits

SERVICE_ROUTES: dict[str, str] = {}
for _area in (intake, cases, sla, visits, reports, surveys):
    SERVICE_ROUTES.update(_area.ROUTES)
