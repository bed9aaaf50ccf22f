"""Survey views, one module per area; each keeps its routes beside its views."""

from guanxi.loyalty.views import dashboard, invitations, responses, surveys

AREAS = (surveys, invitations, responses, dashboard)
