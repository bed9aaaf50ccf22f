"""The sales side of the account 360 page (R11.4): the Sales tab, the figures, the timeline.

Every list goes through ``selectors.scope`` first, so a salesperson sees only their own deals,
quotes, orders and contracts on a customer a teammate shares with them. The cumulative
figures are the customer's (``AccountSales``, kept by every sales write), not the viewer's.

The timeline adds one source that answers deals created, won and lost, quotes sent, orders
confirmed, contracts signed and receipts in **one** query: a UNION of six scoped reads, each
limited to its kind's newest ``limit`` rows by an indexed subquery, ordered and cut once more.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import (
    CharField,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account
from guanxi.customers.selectors import page_read
from guanxi.customers.selectors.timeline import Item, source
from guanxi.sales.models import CNY, AccountSales, Contract, Opportunity, Order, Payment, PaymentPlan, Quote
from guanxi.sales.selectors.scope import (
    contract_scope,
    opportunity_scope,
    order_scope,
    payment_scope,
    quote_scope,
)
from guanxi.sales.services.totals import COUNTED_ORDERS

TAB_ROWS = 20  # rows per list on the Sales tab; the area's own list pages show the rest
PLACEHOLDER = "987654321"  # reversed once per list, then replaced by each row's id
ZERO = Decimal("0")
MONEY_FIGURES = ("orders_total", "contracts_total", "received_total", "receivable_total", "overdue_total",
                 "open_deals_total")
_MONEY = DecimalField(max_digits=16, decimal_places=2)


# --- Figures -------------------------------------------------------------------------------
def account_figures(account: Account) -> AccountSales:
    """The customer's cumulative figures (one primary-key read, shared by the page's parts).

    An account with no sales record yet has no row: an unsaved one with zeros stands in.
    """
    def read() -> AccountSales:
        figures = AccountSales.objects.filter(account_id=account.pk).first() or AccountSales(account_id=account.pk)
        for name in MONEY_FIGURES:  # figures are in CNY
            setattr(figures, f"{name}_text", money_text(getattr(figures, name)))
        return figures

    return page_read(account, "sales.figures", read)


def page_context(user: Any, account: Account) -> dict[str, Any]:
    """What the 360 page itself shows of sales (the figures block): the tab's records load lazily."""
    return {"account_sales": account_figures(account)}


# --- The Sales tab -------------------------------------------------------------------------
def _overdue_on_contract(today: dt.date) -> Subquery:
    """Per contract: what its instalments due before today still lack (0 when none)."""
    lacking = ExpressionWrapper(F("amount") - F("received"), output_field=_MONEY)
    rows = (PaymentPlan.objects.filter(contract_id=OuterRef("pk"), due_on__lt=today, received__lt=F("amount"))
            .order_by().values("contract_id").annotate(total=Sum(lacking)).values("total"))
    return Subquery(rows[:1], output_field=_MONEY)


def open_deals(user: Any, account: Account) -> QuerySet[Opportunity]:
    return (opportunity_scope(user).filter(account_id=account.pk, state=Opportunity.State.OPEN)
            .select_related("stage", "owner").order_by(F("expected_close").asc(nulls_last=True), "id"))


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """The Sales tab: open deals, quotes, orders, contracts (each scoped) and the figures.

    Lists the viewer has no right to read are left out (None); each shows its newest
    ``TAB_ROWS`` rows, with ``more_*`` set when there are more. Each row carries its link
    (empty while the area's page does not exist) and its amounts as text, so the tab
    renders without a template include per cell.
    """
    today = timezone.localdate()
    lists: dict[str, Any] = {}

    def take(key: str, perm: str, qs: QuerySet[Any], route: str, *amounts: str) -> None:
        if not has_perm(user, perm):
            lists[key], lists[f"more_{key}"] = None, False
            return
        rows = list(qs[:TAB_ROWS + 1])
        link = _link(route)
        for row in rows[:TAB_ROWS]:
            row.link = link.replace(PLACEHOLDER, str(row.pk)) if link else ""
            for name in amounts:
                setattr(row, f"{name}_text", money_text(getattr(row, name), row.currency))
        lists[key], lists[f"more_{key}"] = rows[:TAB_ROWS], len(rows) > TAB_ROWS

    take("deals", "opportunity.view", open_deals(user, account), "sales:opportunity-detail", "amount")
    take("quotes", "quote.view", quote_scope(user).filter(account_id=account.pk).select_related("owner")
         .order_by("-quote_date", "-id"), "sales:quote-detail", "total")
    take("orders", "order.view", order_scope(user).filter(account_id=account.pk).select_related("owner")
         .order_by("-order_date", "-id"), "sales:order-detail", "total")
    take("contracts", "contract.view", contract_scope(user).filter(account_id=account.pk).select_related("owner")
         .annotate(overdue=Coalesce(_overdue_on_contract(today), Value(ZERO), output_field=_MONEY))
         .order_by(F("signed_on").desc(nulls_first=True), "-id"), "sales:contract-detail",
         "amount", "received", "outstanding", "overdue")
    for contract in lists["contracts"] or ():
        contract.is_overdue = contract.state == Contract.State.ACTIVE and contract.overdue > 0
    return {"account": account, "account_sales": account_figures(account), "today": today, **lists}


# --- The timeline --------------------------------------------------------------------------
def _newest(qs: QuerySet[Any], *order: str, limit: int) -> Q:
    """``pk IN (the newest `limit` rows of qs)``: each part of the union reads only its head."""
    return Q(pk__in=qs.order_by(*order).values("pk")[:limit])


# Events that carry only a date (shown at the start of the local day).
DATED = {"deal_closed", "order_confirmed", "contract_signed", "payment"}


def _on(day: str) -> Cast:
    """A dated event's moment for the SQL ordering: the start of its day in UTC."""
    return Cast(F(day), DateTimeField())


def _columns(kind: str, *, at: Any, code: Any, label: Any, amount: Any, currency: Any,
             actor: Any, extra: Any, ident: str = "pk") -> dict[str, Any]:
    """The same nine columns in the same order for every part of the union (``ident``: what
    the item links to)."""
    return {
        "t_kind": Value(kind, output_field=CharField()),
        "t_id": F(ident),
        "t_at": at,
        "t_code": code,
        "t_label": label,
        "t_amount": amount,
        "t_currency": currency,
        "t_actor": actor,
        "t_extra": extra,
    }


def _name(field: str) -> Coalesce:
    return Coalesce(NullIf(F(f"{field}__name"), Value("")), F(f"{field}__username"), Value(""),
                    output_field=CharField())


TEXT_NONE = Value("", output_field=CharField())
COLUMNS = ("t_kind", "t_id", "t_at", "t_code", "t_label", "t_amount", "t_currency", "t_actor", "t_extra")


def timeline_rows(user: Any, account: Account, limit: int) -> list[tuple[Any, ...]]:
    """The newest ``limit`` sales events the user may see, newest first, in one query: a UNION
    of each kind's newest ``limit`` (an indexed subquery each), ordered and cut once more."""
    pk = account.pk
    parts: list[QuerySet[Any]] = []

    def part(qs: QuerySet[Any], columns: dict[str, Any]) -> None:
        parts.append(qs.annotate(**columns).values_list(*COLUMNS).order_by())

    deals = opportunity_scope(user).filter(account_id=pk)
    if has_perm(user, "opportunity.view"):
        owner = _name("owner")
        part(Opportunity.objects.filter(_newest(deals, "-created_at", "-id", limit=limit)),
             _columns("deal_created", at=F("created_at"), code=F("code"), label=F("name"),
                      amount=F("amount"), currency=F("currency"), actor=owner, extra=F("stage__name")))
        closed = deals.filter(state__in=(Opportunity.State.WON, Opportunity.State.LOST), closed_on__isnull=False)
        part(Opportunity.objects.filter(_newest(closed, "-closed_on", "-id", limit=limit)),
             _columns("deal_closed", at=_on("closed_on"), code=F("state"), label=F("name"),
                      amount=F("amount"), currency=F("currency"), actor=owner,
                      extra=Coalesce(F("loss_reason__name"), TEXT_NONE, output_field=CharField())))
    if has_perm(user, "quote.view"):
        sent = quote_scope(user).filter(account_id=pk, sent_at__isnull=False)
        part(sent.model.objects.filter(_newest(sent, "-sent_at", "-id", limit=limit)),
             _columns("quote_sent", at=F("sent_at"), code=F("code"), label=F("title"),
                      amount=F("total"), currency=F("currency"), actor=_name("owner"), extra=F("state")))
    if has_perm(user, "order.view"):
        confirmed = order_scope(user).filter(account_id=pk, state__in=COUNTED_ORDERS)
        part(Order.objects.filter(_newest(confirmed, "-order_date", "-id", limit=limit)),
             _columns("order_confirmed", at=_on("order_date"), code=F("code"),
                      label=F("remarks"), amount=F("total"), currency=F("currency"), actor=_name("owner"),
                      extra=F("state")))
    if has_perm(user, "contract.view"):
        signed = contract_scope(user).filter(account_id=pk, signed_on__isnull=False)
        part(Contract.objects.filter(_newest(signed, "-signed_on", "-id", limit=limit)),
             _columns("contract_signed", at=_on("signed_on"), code=F("code"),
                      label=F("title"), amount=F("amount"), currency=F("currency"), actor=_name("owner"),
                      extra=F("state")))
    if has_perm(user, "payment.view"):
        receipts = payment_scope(user).filter(account_id=pk)
        part(receipts.model.objects.filter(_newest(receipts, "-received_on", "-id", limit=limit)),
             _columns("payment", at=_on("received_on"), code=F("contract__code"),
                      label=F("contract__title"), amount=F("amount"), currency=F("contract__currency"),
                      actor=_name("contract__owner"), extra=F("method"), ident="contract_id"))
    if not parts:
        return []
    first, *rest = parts
    return list(first.union(*rest, all=True).order_by("-t_at")[:limit]) if rest else list(first[:limit])


def _link(name: str) -> str:
    """The detail URL with a placeholder pk, or "" while the area's route is not there."""
    try:
        return reverse(name, args=[PLACEHOLDER])
    except NoReverseMatch:
        return ""


def money_text(amount: Decimal | None, currency: str = CNY) -> str:
    """¥12,345.60 for CNY, "USD 1,234.00" otherwise (grouped by thousands in both languages)."""
    value = f"{amount or ZERO:,.2f}"
    return f"¥{value}" if (currency or CNY) == CNY else f"{currency} {value}"


@source
def _sales(user: Any, account: Account, limit: int) -> list[Item]:
    links = {kind: _link(name) for kind, name in (
        ("deal", "sales:opportunity-detail"), ("quote", "sales:quote-detail"), ("order", "sales:order-detail"),
        ("contract", "sales:contract-detail"))}
    methods = dict(Payment.Method.choices)
    quote_states = dict(Quote.State.choices)
    items = []
    for kind, pk, at, code, label, amount, currency, actor, extra in timeline_rows(user, account, limit):
        money = money_text(amount, currency)
        if kind == "deal_created":
            title = _("Deal created: %(name)s") % {"name": label}
            detail, url, css = f"{code} · {money}" + (f" · {extra}" if extra else ""), links["deal"], "deal"
        elif kind == "deal_closed":
            won = code == Opportunity.State.WON
            title = (_("Deal won: %(name)s") if won else _("Deal lost: %(name)s")) % {"name": label}
            detail, url, css = money + (f" · {extra}" if extra else ""), links["deal"], "deal"
        elif kind == "quote_sent":
            title = _("Quote sent: %(title)s") % {"title": label}
            detail = f"{code} · {money} · {quote_states.get(extra, extra)}"
            url, css = links["quote"], "quote"
        elif kind == "order_confirmed":
            title = _("Order %(code)s confirmed") % {"code": code}
            detail, url, css = money + (f" · {label[:120]}" if label else ""), links["order"], "order"
        elif kind == "contract_signed":
            title = _("Contract signed: %(code)s %(title)s") % {"code": code, "title": label}
            detail, url, css = money, links["contract"], "contract"
        else:  # payment
            title = _("Payment received: %(amount)s") % {"amount": money}
            detail = f"{code} {label} · {methods.get(extra, extra)}"
            url, css = links["contract"], "payment"  # the id is the contract's
        if kind in DATED and isinstance(at, dt.datetime):
            # The SQL sorts dated events at 00:00 UTC; the page shows the start of the local day.
            at = timezone.make_aware(dt.datetime.combine(at.date(), dt.time.min))
        items.append(Item(at=at, kind=css, title=title, detail=detail, actor=actor or "",
                          url=url.replace(PLACEHOLDER, str(pk)) if url else ""))
    return items
