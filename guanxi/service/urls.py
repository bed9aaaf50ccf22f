from guanxi.service.views import AREAS

app_name = "service"
urlpatterns = [pattern for area in AREAS for pattern in area.urlpatterns]
