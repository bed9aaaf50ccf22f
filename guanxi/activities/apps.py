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
        from guanxi.activities.selectors import care as care_selectors  # noqa: F401
        from guanxi.activities.selectors import projects as project_reads  # noqa: F401
        from guanxi.activities.selectors import timeline  # noqa: F401
        from guanxi.activities.services import care as care_services  # noqa: F401
        from guanxi.activities.services import projects as project_writes  # noqa: F401
        from guanxi.activities.views import desk  # noqa: F401  (my desk's panels)
        from guanxi.activities.views import interactions as account_tab  # noqa: F401  (the account page's tab)
