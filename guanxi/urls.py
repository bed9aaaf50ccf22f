from django.urls import include, path

from guanxi.core.api import api
from guanxi.customers.api import classification, imports, lists, merge, pool
from guanxi.customers.api import router as accounts_router

api.add_router("", accounts_router)
for area in (classification, pool, imports, merge, lists):
    api.add_router("", area.router)

urlpatterns = [
    path("api/v1/", api.urls),
    path("accounts/", include("guanxi.customers.urls")),
    path("", include("guanxi.core.urls")),
]

handler403 = "guanxi.core.errorviews.forbidden"
handler404 = "guanxi.core.errorviews.not_found"
handler500 = "guanxi.core.errorviews.server_error"
