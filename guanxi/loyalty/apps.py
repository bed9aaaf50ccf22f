from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "guanxi.loyalty"
    label = "loyalty"
    verbose_name = _("Satisfaction and loyalty")

    def ready(self) -> None:
        # Listens for the touchpoints (case closed, visit done, order delivered) and registers
        # the account's timeline source, the rating rule and the jobs.
        from guanxi.loyalty import services, tasks  # noqa: F401
        from guanxi.loyalty import views as loyalty_views  # noqa: F401
