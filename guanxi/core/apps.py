from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "guanxi.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from guanxi.core import health, signals  # noqa: F401  (signals: login/logout audit receivers)

        health.register_heartbeat()  # each queue worker process writes its heartbeat
