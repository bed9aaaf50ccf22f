from guanxi.activities.views import care, check, confirm, desk, feed, followups, interactions, projects

app_name = "activities"
# Each area keeps its own routes beside its views.
urlpatterns = [
    *interactions.urlpatterns,
    *followups.urlpatterns,
    *desk.urlpatterns,
    *care.urlpatterns,
    *feed.urlpatterns,
    *projects.urlpatterns,
    *confirm.urlpatterns,
    *check.urlpatterns,
]
