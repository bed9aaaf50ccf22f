from django.urls import path

from guanxi.customers import views
from guanxi.customers.views import classification, imports, lists, merge, page, pool

app_name = "customers"
urlpatterns = [
    path("", views.account_list, name="account-list"),
    path("new/", views.account_create, name="account-create"),
    path("export/", views.account_export, name="account-export"),
    path("<int:pk>/", views.account_detail, name="account-detail"),
    *page.urlpatterns,  # the 360 page's tabs that load after it
    path("<int:pk>/edit/", views.account_edit, name="account-edit"),
    path("<int:pk>/delete/", views.account_delete, name="account-delete"),
    path("<int:pk>/approve/", views.account_approve, name="account-approve"),
    path("<int:pk>/contacts/new/", views.contact_create, name="contact-create"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact-edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact-delete"),
    # Each area of the customer file keeps its own routes beside its views.
    *classification.urlpatterns,
    *pool.urlpatterns,
    *imports.urlpatterns,
    *merge.urlpatterns,
    *lists.urlpatterns,
]
