from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "guanxi.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        # Registers the record types with the generic machinery, the account page's tabs and
        # timeline sources, the desk panels and every job handler and periodic task.
        from guanxi.sales import services, tasks  # noqa: F401
        from guanxi.sales import views as sales_views  # noqa: F401
