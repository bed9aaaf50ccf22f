from django.urls import path

from guanxi.core import health, views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("health/", health.health, name="health"),
    path("desk/<str:key>/", views.desk_panel, name="desk-panel"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("language/", views.language_view, name="language"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/badge/", views.notification_badge, name="notification-badge"),
    path("me/", views.profile, name="profile"),
    path("org/users/", views.org_users, name="org-users"),
    path("org/users/new/", views.org_user_create, name="org-user-create"),
    path("org/users/<int:pk>/", views.org_user_edit, name="org-user-edit"),
    path("org/users/<int:pk>/active/", views.org_user_active, name="org-user-active"),
    path("org/departments/", views.org_departments, name="org-departments"),
    path("org/teams/", views.org_teams, name="org-teams"),
    path("org/approval-policies/", views.org_policies, name="org-policies"),
    path("grants/", views.grants, name="grants"),
    path("grants/<int:pk>/<str:action>/", views.grant_action, name="grant-action"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<int:pk>/", views.approval_detail, name="approval-detail"),
    path("audit/", views.audit_search, name="audit"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:pk>/retry/", views.outbox_retry, name="outbox-retry"),
    path("history/<str:record_type>/<str:pk>/", views.history, name="history"),
    path("recycle-bin/", views.recycle_bin, name="recycle-bin"),
    path("recycle-bin/<str:record_type>/<int:pk>/restore/", views.recycle_restore, name="recycle-restore"),
    path("jobs/<str:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<str:job_id>/download/", views.job_download, name="job-download"),
    path("api/", views.api_docs_redirect, name="api-docs"),
]
