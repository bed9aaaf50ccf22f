from django.urls import include, path

from guanxi.activities.api import care as care_api
from guanxi.activities.api import check as check_api
from guanxi.activities.api import confirm as confirm_api
from guanxi.activities.api import followups as followups_api
from guanxi.activities.api import interactions as interactions_api
from guanxi.activities.api import projects as projects_api
from guanxi.core.api import api
from guanxi.customers.api import classification, imports, lists, merge, pool
from guanxi.customers.api import router as accounts_router
from guanxi.loyalty.api import ROUTERS as loyalty_routers
from guanxi.sales.api import ROUTERS as sales_routers
from guanxi.service.api import ROUTERS as service_routers

api.add_router("", accounts_router)
for area in (classification, pool, imports, merge, lists):
    api.add_router("", area.router)
for activity_area in (interactions_api, followups_api, care_api, projects_api, confirm_api, check_api):
    api.add_router("", activity_area.router)
for app_router in (*sales_routers, *service_routers, *loyalty_routers):
    api.add_router("", app_router)

urlpatterns = [
    path("api/v1/", api.urls),
    path("accounts/", include("guanxi.customers.urls")),
    path("activities/", include("guanxi.activities.urls")),
    path("sales/", include("guanxi.sales.urls")),
    path("service/", include("guanxi.service.urls")),
    path("surveys/", include("guanxi.loyalty.urls")),
    path("feedback/", include("guanxi.service.public_urls")),
    path("survey/", include("guanxi.loyalty.public_urls")),
    path("", include("guanxi.core.urls")),
]

handler403 = "guanxi.core.errorviews.forbidden"
handler404 = "guanxi.core.errorviews.not_found"
handler500 = "guanxi.core.errorviews.server_error"
