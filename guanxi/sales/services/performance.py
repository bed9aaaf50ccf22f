"""The performance sheet for the appraisal (R11.2): one row per person, as Excel, audited.

Built from ``selectors.performance`` for the people the actor may appraise; every text cell
is stored as text, never as a formula (S9).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import AuditEvent
from guanxi.sales.selectors.performance import Performance, kind_labels, metric_labels, performance_for
from guanxi.sales.selectors.targets import Period
from guanxi.sales.services.common import require
from guanxi.sales.services.rebates_documents import FORMATS, workbook


def performance_rows(performance: Performance) -> list[list[Any]]:
    """The header, then one row per person (numbers stay numbers)."""
    metrics, kinds = metric_labels(), kind_labels()
    header: list[Any] = [_("Salesperson"), _("Department")]
    for _code, label in metrics:
        header += [_("%(measure)s: target") % {"measure": label}, _("%(measure)s: actual") % {"measure": label},
                   _("%(measure)s: attainment (%%)") % {"measure": label}]
    header += [_("Contacts made"), *[_("Contacts: %(kind)s") % {"kind": label} for _code, label in kinds],
               _("Follow-ups done on time"), _("Follow-ups done late"), _("Follow-ups still open"),
               _("Accounts whose grade improved"), _("Deals won"), _("Amount won (CNY)"), _("Deals lost")]
    rows: list[list[Any]] = [header]
    for r in performance.rows:
        row: list[Any] = [r.name, r.department]
        for code, _label in metrics:
            row += [r.targets[code] if r.targets[code] is not None else "", r.actuals[code],
                    r.attainment[code] if r.attainment[code] is not None else ""]
        row += [r.contacts, *[r.contacts_by_kind.get(code, 0) for code, _label in kinds],
                r.followups_on_time, r.followups_late, r.followups_open, r.grades_improved, r.deals_won,
                r.won_amount, r.deals_lost]
        rows.append(row)
    return rows


def performance_export(*, actor: Any, period: Period, user: Any = None) -> tuple[bytes, str, str]:
    """The performance of the people ``actor`` appraises (or one of them) over ``period`` as
    an .xlsx: (content, content type, file name). Audited as an export. Read before the audit's
    transaction: from the read replica when the view is marked for it."""
    require(actor, "performance.export")
    performance = performance_for(actor, period, user=user)
    label = f"{period.start:%Y-%m-%d}_{period.end:%Y-%m-%d}"
    content = workbook([(_("Performance"), performance_rows(performance))])
    with transaction.atomic():
        audit.record(actor=actor, action=AuditEvent.Action.EXPORT, object_repr=_("Performance %(period)s") % {
            "period": label}, changes={"document": "performance", "format": "xlsx", "people": len(performance.rows),
                                       "start": period.start.isoformat(), "end": period.end.isoformat()},
                     note="performance.xlsx")
    prefix = _("performance")
    return content, FORMATS["xlsx"], f"{prefix}-{label}.xlsx"
