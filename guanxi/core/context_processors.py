"""What every page's shell needs: navigation, rights, unread notifications."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import Notification
from guanxi.core.permissions import has_perm

# The sections of guanxi, in order. Sections whose app is not built yet show as disabled
# entries so that the shape of the product is visible from the first release.
NAV = [
    ("core:home", _("My desk"), None),
    ("customers:account-list", _("Accounts"), "account.view"),
    ("customers:pool-list", _("Customer pool"), "pool.view"),
    ("activities:followup-list", _("Follow-ups"), "followup.view"),
    ("activities:care-calendar", _("Care"), "care.view"),
    ("activities:project-list", _("Projects"), "project.view"),
    ("sales", _("Sales"), None),  # the SALES_NAV dropdown
    ("service", _("Service"), None),  # the SERVICE_NAV dropdown
    (None, _("Marketing"), None),
    ("activities:check", _("Business check"), "activity.check"),
    (None, _("Analytics"), None),
]

# The Sales dropdown (R4, R11): every entry a user may open.
SALES_NAV = [
    ("sales:opportunity-board", _("Pipeline board"), "opportunity.view"),
    ("sales:opportunity-list", _("Opportunities"), "opportunity.view"),
    ("sales:lead-list", _("Leads"), "lead.view"),
    ("sales:quote-list", _("Quotes"), "quote.view"),
    ("sales:order-list", _("Orders"), "order.view"),
    ("sales:contract-list", _("Contracts"), "contract.view"),
    ("sales:receivables", _("Receivables"), "payment.view"),
    ("sales:product-list", _("Products"), "product.view"),
    ("sales:forecast", _("Forecast"), "forecast.view"),
    ("sales:performance", _("Performance"), "performance.view"),
    ("sales:rebate-list", _("Rebates"), "rebate.view"),
]

# The Service dropdown (R5, R6.1): cases, field service, improvements, surveys, reports.
SERVICE_NAV = [
    ("service:case-list", _("Cases"), "case.view"),
    ("service:hotline", _("Hotline entry"), "case.add"),
    ("service:cards", _("Comment cards"), "case.add"),
    ("service:visit-list", _("Field visits"), "visit.view"),
    ("service:improvement-list", _("Improvements"), "improvement.view"),
    ("service:reports", _("Service reports"), "service.report"),
    ("loyalty:survey-list", _("Surveys"), "survey.view"),
    ("loyalty:response-list", _("Survey answers"), "survey.view"),
    ("loyalty:dashboard", _("Satisfaction dashboard"), "survey.view"),
]


# The rights templates ask about, as ``can.<perm with _ for .>``.
SHELL_PERMS = (
    "org.manage", "audit.view_all", "recycle.view", "account.view", "account.add", "account.change",
    "account.delete", "account.approve", "account.export", "account.reassign", "account.merge", "account.import",
    "account.rate", "contact.add", "contact.change", "contact.delete", "pool.view", "pool.claim", "pool.release",
    "pool.manage", "rating.manage", "category.manage", "customfield.manage",
    # Contact and follow-up
    "interaction.view", "interaction.add", "interaction.change", "interaction.delete", "followup.view",
    "followup.add", "followup.change", "care.view", "care.add", "care.change", "project.view", "project.add",
    "project.change", "activity.check", "cadence.manage", "greeting.manage",
    # Sales
    "lead.view", "lead.add", "lead.change", "lead.delete", "lead.assign", "lead.import", "lead.convert",
    "opportunity.view", "opportunity.add", "opportunity.change", "opportunity.delete", "quote.view", "quote.add",
    "quote.change", "quote.delete", "quote.approve", "order.view", "order.add", "order.change", "order.delete",
    "contract.view", "contract.add", "contract.change", "contract.delete", "payment.view", "payment.add",
    "payment.delete", "product.view", "product.manage", "pipeline.manage", "rebate.view", "rebate.manage",
    "target.view", "target.manage", "forecast.view", "performance.view", "performance.export", "sales.export",
    # Service and surveys
    "case.view", "case.add", "visit.view", "improvement.view", "service.report", "service.configure", "survey.view",
)


def shell(request: HttpRequest) -> dict[str, Any]:
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    perms = {p: has_perm(user, p) for p in SHELL_PERMS}
    return {
        "nav": [(url, label) for url, label, perm in NAV
                if url and url not in {"sales", "service"} and (perm is None or perms.get(perm))],
        "nav_sales": [(url, label) for url, label, perm in SALES_NAV if perms.get(perm)],
        "nav_service": [(url, label) for url, label, perm in SERVICE_NAV if perms.get(perm)],
        "nav_coming": [label for url, label, perm in NAV if url is None],
        "can": {k.replace(".", "_"): v for k, v in perms.items()},
        # Counted only when the template shows it (the page shell's badge): an htmx fragment,
        # which has no shell, pays nothing for it.
        "unread_count": lambda: Notification.objects.filter(user=user, read_at__isnull=True).count(),
    }
