"""The pages customers open without an account: the feedback form, confirmations (/feedback/…)."""

from guanxi.service.views import AREAS

app_name = "feedback"
urlpatterns = [pattern for area in AREAS for pattern in area.public_urlpatterns]
