from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "guanxi.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        # Registers Account and Contact with the generic machinery, and every job handler.
        from guanxi.customers import services  # noqa: F401
        from guanxi.customers.services import classification, imports, lists, merge, pool  # noqa: F401
