"""Distributor rebates (R4.5): who sees which statements and deductions, and the year's volume.

Statements and deductions belong to a distributor account, so they are visible with it:
a salesperson sees those of the distributors they own, a manager their department's, the
general manager all (``core.access`` through ``account__owner``/``account__department``).
Rules are the company's terms and are read by everyone who may see rebates.

The volume a rule counts is the distributor's whole business of the year in CNY, whoever
owns the contract or order: live receipts by ``received_on`` (basis *received*) or counted
orders by ``order_date`` (basis *ordered*). One grouped query answers for many accounts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.errors import Invalid
from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account
from guanxi.sales.models import Order, Payment, RebateDeduction, RebateRule, RebateStatement
from guanxi.sales.services.totals import COUNTED_ORDERS

FEN = Decimal("0.01")
ZERO = Decimal("0")
_CNY = DecimalField(max_digits=24, decimal_places=8)
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _by_account(user: Any, qs: QuerySet[Any]) -> QuerySet[Any]:
    """Through the distributor's account; nothing at all without ``rebate.view`` (the
    administrator sees every account by scope but holds no rebate right)."""
    if not has_perm(user, "rebate.view"):
        return qs.none()
    return access.visible(user, qs, owner_field="account__owner", department_field="account__department")


def statement_scope(user: Any, queryset: QuerySet[RebateStatement] | None = None) -> QuerySet[RebateStatement]:
    """Statements of the distributors ``user`` sees (accounts in the recycle bin hide theirs)."""
    qs = queryset if queryset is not None else RebateStatement.objects.filter(account__deleted_at__isnull=True)
    return _by_account(user, qs)


def deduction_scope(user: Any, queryset: QuerySet[RebateDeduction] | None = None) -> QuerySet[RebateDeduction]:
    """Live deductions of the distributors ``user`` sees."""
    qs = queryset if queryset is not None else RebateDeduction.objects.filter(account__deleted_at__isnull=True)
    return _by_account(user, qs)


def distributor_scope(user: Any) -> QuerySet[Account]:
    """The live distributor accounts ``user`` sees."""
    return access.visible(user, Account.objects.filter(is_distributor=True))


def year_value(value: Any, errors: dict[str, list[str]], field: str = "year") -> int | None:
    """A year from a form, query or API value, with the field's message on bad input."""
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError):
        errors.setdefault(field, []).append(_("Enter a year, e.g. 2026."))
        return None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        errors.setdefault(field, []).append(_("Enter a year between %(first)s and %(last)s.") % {
            "first": FIRST_YEAR, "last": LAST_YEAR})
        return None
    return year


def year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def volumes(account_ids: Iterable[int], year: int, basis: str) -> dict[int, tuple[Decimal, int]]:
    """{account id: (volume in CNY, number of receipts or orders)} for the year, one query.

    ``received``: live receipts of live contracts, at the contract's rate to CNY;
    ``ordered``: confirmed, shipped or delivered live orders, at the order's rate.
    Accounts without any business are absent.
    """
    ids = list(account_ids)
    if not ids:
        return {}
    first, last = year_bounds(year)
    if basis == RebateRule.Basis.ORDERED:
        rows = (Order.objects.filter(account_id__in=ids, state__in=COUNTED_ORDERS, order_date__gte=first,
                                     order_date__lte=last)
                .order_by().values("account_id")
                .annotate(total=Sum(ExpressionWrapper(F("total") * F("rate_to_cny"), output_field=_CNY)),
                          n=Count("id")))
    else:
        rows = (Payment.objects.filter(account_id__in=ids, contract__deleted_at__isnull=True,
                                       received_on__gte=first, received_on__lte=last)
                .order_by().values("account_id")
                .annotate(total=Sum(ExpressionWrapper(F("amount") * F("contract__rate_to_cny"), output_field=_CNY)),
                          n=Count("id")))
    return {row["account_id"]: (Decimal(row["total"] or 0).quantize(FEN), int(row["n"] or 0)) for row in rows}


def deductions_of(account_ids: Iterable[int], year: int) -> dict[int, list[RebateDeduction]]:
    """The live deductions of each account for the year, oldest first (one query)."""
    out: dict[int, list[RebateDeduction]] = {}
    for deduction in RebateDeduction.objects.filter(account_id__in=list(account_ids), year=year).order_by(
            "occurred_on", "id"):
        out.setdefault(deduction.account_id, []).append(deduction)
    return out


def rules_for_year(year: int) -> list[RebateRule]:
    return list(RebateRule.objects.filter(year=year, active=True).order_by("name", "id"))


def rule_for(account: Account, rules: list[RebateRule]) -> tuple[RebateRule | None, str]:
    """The rule that applies to ``account`` among the year's active ``rules``, or why none does.

    A rule for the distributor's grade wins over a rule for every grade; two rules of the
    same standing are ambiguous and the caller must name one.
    """
    graded = [r for r in rules if r.grade and r.grade == account.grade]
    general = [r for r in rules if not r.grade]
    for candidates in (graded, general):
        if len(candidates) == 1:
            return candidates[0], ""
        if len(candidates) > 1:
            return None, _("Several rules apply (%(names)s): choose one.") % {
                "names": "、".join(r.name for r in candidates)}
    return None, _("No active rule of %(year)s applies to this distributor.") % {"year": rules[0].year} \
        if rules else _("No active rebate rule is set for this year.")


def statement_list_for(user: Any, params: Mapping[str, Any]) -> QuerySet[RebateStatement]:
    """Visible statements filtered by ``year``, ``account``, ``state`` and ``q`` (name)."""
    qs = statement_scope(user).select_related("account", "rule", "confirmed_by")
    errors: dict[str, list[str]] = {}
    if params.get("year"):
        year = year_value(params.get("year"), errors)
        if year is not None:
            qs = qs.filter(year=year)
    if str(params.get("account") or "").isdigit():
        qs = qs.filter(account_id=int(params["account"]))
    if params.get("state") in RebateStatement.State.values:
        qs = qs.filter(state=params["state"])
    if params.get("q"):
        qs = qs.filter(Q(account__name__icontains=str(params["q"]).strip()) | Q(account__code=str(params["q"]).strip()))
    if errors:
        raise Invalid(errors=errors)
    return qs.order_by("-year", "account__name", "id")


def deduction_list_for(user: Any, params: Mapping[str, Any]) -> QuerySet[RebateDeduction]:
    qs = deduction_scope(user).select_related("account", "recorded_by")
    errors: dict[str, list[str]] = {}
    if params.get("year"):
        year = year_value(params.get("year"), errors)
        if year is not None:
            qs = qs.filter(year=year)
    if str(params.get("account") or "").isdigit():
        qs = qs.filter(account_id=int(params["account"]))
    if errors:
        raise Invalid(errors=errors)
    return qs.order_by("-occurred_on", "-id")


def confirmed_years(account_id: int) -> set[int]:
    return set(RebateStatement.objects.filter(account_id=account_id, state=RebateStatement.State.CONFIRMED)
               .values_list("year", flat=True))
