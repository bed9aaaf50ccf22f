"""The survey a customer answers from a personal link (/survey/<token>/), no account needed."""

from guanxi.loyalty.views import AREAS

app_name = "survey"
urlpatterns = [pattern for area in AREAS for pattern in area.public_urlpatterns]
