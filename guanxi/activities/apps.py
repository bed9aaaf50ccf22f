from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    name = "guanxi.activities"
    label = "activities"
    verbose_name = _("Contact and follow-up")

    def ready(self) -> None:
        # Registers the record types with the generic machinery, the timeline sources,
        # the merge relations and every job handler and periodic task.
        from guanxi.activities import selectors, services, tasks  # noqa: F401
        from guanxi.activities.selectors import timeline  # noqa: F401
