from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "guanxi.service"
    label = "service"
    verbose_name = _("Service")

    def ready(self) -> None:
        # Registers the record types with the generic machinery, the account page's tab and
        # timeline source, the desk panels and the SLA sweep.
        from guanxi.service import services, tasks  # noqa: F401
        from guanxi.service import views as service_views  # noqa: F401
