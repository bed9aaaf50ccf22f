"""The service side of the account 360 page: the Service tab and the timeline.

Both read through ``scope.case_scope``: a salesperson sees the cases of their customers, a
service agent theirs and their team's. The timeline source answers cases received and
cases closed in **one** query: a UNION of two scoped reads, each limited to its newest
``limit`` rows by an indexed subquery, ordered and cut once more.
"""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, F, Q, QuerySet, Value
from django.urls import reverse
from django.utils.translation import gettext as _

from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account
from guanxi.customers.selectors.timeline import Item, source
from guanxi.service.models import Case, Channel, Kind
from guanxi.service.selectors.cases import with_sla
from guanxi.service.selectors.scope import case_scope

TAB_ROWS = 20
PLACEHOLDER = "987654321"
COLUMNS = ("t_kind", "t_id", "t_at", "t_code", "t_title", "t_type", "t_extra")


def account_cases(user: Any, account: Account) -> QuerySet[Case]:
    return case_scope(user).filter(account_id=account.pk)


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """The Service tab: the account's open cases first, then the newest others (``TAB_ROWS``)."""
    qs = account_cases(user, account).select_related("owner", "category", "sla_policy")
    open_rows = list(qs.filter(state__in=Case.OPEN_STATES).order_by("-received_at", "-id")[:TAB_ROWS + 1])
    done_rows = list(qs.exclude(state__in=Case.OPEN_STATES).order_by("-received_at", "-id")[:TAB_ROWS + 1])
    return {
        "account": account, "open_cases": with_sla(open_rows[:TAB_ROWS]), "done_cases": done_rows[:TAB_ROWS],
        "more": len(open_rows) > TAB_ROWS or len(done_rows) > TAB_ROWS,
        "list_url": reverse("service:case-list") + f"?account={account.pk}&status=",
    }


def _newest(qs: QuerySet[Case], field: str, limit: int) -> Q:
    return Q(pk__in=qs.order_by(f"-{field}", "-id").values("pk")[:limit])


def timeline_rows(user: Any, account: Account, limit: int) -> list[tuple[Any, ...]]:
    """The newest ``limit`` received and closed cases of the account the user sees, newest first."""
    if not has_perm(user, "case.view"):
        return []
    cases = account_cases(user, account)
    text = CharField()

    def part(kind: str, field: str, extra: Any) -> QuerySet[Any]:
        qs = Case.objects.filter(_newest(cases.filter(**{f"{field}__isnull": False}), field, limit))
        return qs.annotate(t_kind=Value(kind, output_field=text), t_id=F("pk"), t_at=F(field), t_code=F("code"),
                           t_title=F("title"), t_type=F("kind"), t_extra=extra).values_list(*COLUMNS).order_by()

    received = part("received", "received_at", F("channel"))
    closed = part("closed", "closed_at", F("resolution"))
    return list(received.union(closed, all=True).order_by("-t_at")[:limit])


@source
def _cases(user: Any, account: Account, limit: int) -> list[Item]:
    kinds = dict(Kind.choices)
    channels = dict(Channel.choices)
    link = reverse("service:case-detail", args=[PLACEHOLDER])
    items = []
    for kind, pk, at, code, title, case_kind, extra in timeline_rows(user, account, limit):
        label = kinds.get(case_kind, case_kind)
        if kind == "received":
            heading = _("%(kind)s received: %(title)s") % {"kind": label, "title": title}
            detail = f"{code} · {channels.get(extra, extra)}"
        else:
            heading = _("%(kind)s closed: %(title)s") % {"kind": label, "title": title}
            detail = code + (f" · {str(extra)[:120]}" if extra else "")
        items.append(Item(at=at, kind="case", title=heading, detail=detail, url=link.replace(PLACEHOLDER, str(pk))))
    return items
