from guanxi.sales.views import AREAS

app_name = "sales"
urlpatterns = [pattern for area in AREAS for pattern in area.urlpatterns]
