from guanxi.loyalty.views import AREAS

app_name = "loyalty"
urlpatterns = [pattern for area in AREAS for pattern in area.urlpatterns]
