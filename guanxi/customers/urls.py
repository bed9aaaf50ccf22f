from django.urls import path

from guanxi.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.account_list, name="account-list"),
    path("new/", views.account_create, name="account-create"),
    path("export/", views.account_export, name="account-export"),
    path("<int:pk>/", views.account_detail, name="account-detail"),
    path("<int:pk>/edit/", views.account_edit, name="account-edit"),
    path("<int:pk>/delete/", views.account_delete, name="account-delete"),
    path("<int:pk>/approve/", views.account_approve, name="account-approve"),
]
