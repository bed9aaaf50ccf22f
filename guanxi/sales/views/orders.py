"""HTML views of orders (R4.3): list, new (or from a quote), one order with its lines and
status through delivery. Thin: parse → scoped read → service → render."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, posted_version
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import CNY, Order, Product
from guanxi.sales.selectors import orders as reads
from guanxi.sales.selectors.scope import get_one, order_scope, quote_scope
from guanxi.sales.services import orders as services
from guanxi.sales.services.orders_export import export_start
from guanxi.sales.views.common import AccountContactForm, act, save_edit

PAGE_SIZE = 50
ACCOUNT_CHOICES = 300
LINE_FORM_FIELDS = ("product", "name", "model", "unit", "quantity", "unit_price", "discount", "tax_rate", "remarks")
BLANK_ROWS = 3
ROW_KEY = re.compile(r"^lines\.\d+\.")


def optional_url(name: str, *args: Any) -> str:
    """A URL of another sales area, or "" while that area is not installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _date() -> forms.DateField:
    return forms.DateField(required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))


# --- Forms -----------------------------------------------------------------------------------
class OrderForm(AccountContactForm):
    account = forms.ChoiceField(label=gettext_lazy("Account"))
    contact = forms.ChoiceField(label=gettext_lazy("Contact"), required=False)
    order_date = forms.DateField(label=gettext_lazy("Order date"),
                                 widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    ship_date = _date()
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial=CNY)
    shipping_address = forms.CharField(label=gettext_lazy("Shipping address"), max_length=300, required=False)
    remarks = forms.CharField(label=gettext_lazy("Remarks"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ship_date"].label = gettext_lazy("Planned ship date")


class OrderEditForm(OrderForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, accounts=None, **kwargs)


def _contacts(account: Account | None) -> list[tuple[str, str]]:
    if account is None:
        return []
    return [(str(c.pk), c.name) for c in Contact.objects.filter(account=account).order_by("name")[:200]]


# --- Lines as the line table posts them ------------------------------------------------------
def posted_lines(post: QueryDict) -> list[dict[str, str]]:
    """The non-blank rows of the line table (``line-<i>-<field>``), in row order."""
    indexes = sorted({int(key.split("-")[1]) for key in post if key.startswith("line-")
                      and key.count("-") == 2 and key.split("-")[1].isdigit()})
    rows = []
    for i in indexes:
        row = {name: post.get(f"line-{i}-{name}", "").strip() for name in LINE_FORM_FIELDS}
        if post.get(f"line-{i}-removed") == "1" or not (row["product"] or row["name"] or row["unit_price"]):
            continue
        rows.append(row)
    return rows


def service_lines(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Rows for the service: a typed product code becomes the product (unknown: refused there)."""
    codes = {row["product"] for row in rows if row["product"]}
    products = {p.code: p for p in Product.objects.filter(code__in=codes)}
    out = []
    for row in rows:
        line: dict[str, Any] = {k: v for k, v in row.items() if v != "" or k in ("unit_price",)}
        if row["product"]:
            line["product"] = products.get(row["product"]) or f"?{row['product']}"
        line["unit_price"] = row["unit_price"] or None
        out.append(line)
    return out


def line_rows(rows: list[dict[str, Any]], errors: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Rows for the table (existing or posted) plus blank ones, each with its messages."""
    errors = errors or {}
    shown = []
    for n, row in enumerate(rows, 1):
        messages_of = [m for key, msgs in errors.items() if key.startswith(f"lines.{n}.") for m in msgs]
        shown.append({**row, "errors": messages_of})
    shown += [{name: "" for name in LINE_FORM_FIELDS} | {"errors": []} for _ in range(BLANK_ROWS)]
    return shown


def existing_rows(order: Order) -> list[dict[str, Any]]:
    return [{"product": line.product.code if line.product else "", "name": line.name, "model": line.model,
             "unit": line.unit, "quantity": line.quantity.normalize(), "unit_price": line.unit_price,
             "discount": line.discount, "tax_rate": line.tax_rate, "remarks": line.remarks}
            for line in reads.lines_of(order)]


def _line_context(rows: list[dict[str, Any]], errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    general = [m for key, msgs in (errors or {}).items() if key.startswith("lines") and not ROW_KEY.match(key)
               for m in msgs]
    return {"rows": line_rows(rows, errors), "line_errors": general,
            "search_url": optional_url("sales:product-search")}


def header_errors(form: forms.Form, exc: ServiceError) -> None:
    """The service's messages onto the header form; the lines' are shown in the line table."""
    if not exc.errors:
        form.add_error(None, exc.message)
    for key, msgs in exc.errors.items():
        if key.startswith("lines"):
            continue
        for msg in msgs:
            form.add_error(key if key in form.fields else None, msg)


# --- The list --------------------------------------------------------------------------------
@requires("order.view")
def order_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    filters = reads.parse_filters(user, request.GET)
    page = CappedPaginator(reads.order_list_for(user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    account = account_scope(user).filter(pk=filters["account"]).only("id", "name").first() \
        if filters.get("account") else None
    return render(request, "sales/orders_list.html", {
        "page": page, "filters": filters, "states": Order.State.choices, "account": account,
        "mine": request.GET.get("owner") == "me", "query": request.GET.urlencode()})


@requires("sales.export")
@require_POST
def order_export(request: HttpRequest) -> HttpResponse:
    params = QueryDict(request.POST.get("query", ""))
    try:
        job = export_start(actor=request.user, what="orders", filters=reads.parse_filters(request.user, params),
                           format=request.POST.get("format", "csv"))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("sales:order-list")
    return redirect("core:job-detail", job_id=str(job.pk))


# --- New ---------------------------------------------------------------------------------------
@requires("order.add")
def order_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    visible = account_scope(user)
    fixed = request.GET.get("account") or request.POST.get("account") or ""
    account = visible.filter(pk=fixed).first() if str(fixed).isdigit() else None
    choices = [(str(account.pk), account.name)] if account else [
        (str(a.pk), f"{a.name} ({a.code})") for a in visible.order_by("name").only("id", "name", "code")
        [:ACCOUNT_CHOICES]]
    form = OrderForm(request.POST or None, accounts=choices, contacts=_contacts(account),
                     initial={"account": fixed, "order_date": timezone.localdate(), "currency": CNY,
                              "shipping_address": account.address if account else ""})
    rows: list[dict[str, Any]] = posted_lines(request.POST) if request.method == "POST" else []
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = dict(form.cleaned_data)
            chosen = visible.filter(pk=data.pop("account")).first()
            if chosen is None:
                form.add_error("account", _("Choose an account you can see."))
            else:
                try:
                    order = services.order_create(actor=user, account=chosen, lines=service_lines(rows),
                                                  contact=data.pop("contact") or None, **data)
                except ServiceError as exc:
                    errors = exc.errors
                    header_errors(form, exc)
                else:
                    messages.success(request, _("Order %(code)s created.") % {"code": order.code})
                    return redirect("sales:order-detail", pk=order.pk)
        status = 422
    title = _("New order for %(account)s") % {"account": account.name} if account else _("New order")
    return render(request, "sales/orders_form.html", {
        "form": form, "title": title, "with_lines": True, **_line_context(rows, errors)}, status=status)


@requires("order.add")
@require_POST
def order_from_quote(request: HttpRequest, pk: int) -> HttpResponse:
    quote = get_one(quote_scope, request.user, pk)
    try:
        order = services.order_from_quote(actor=request.user, quote=quote)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect(optional_url("sales:quote-detail", quote.pk) or reverse("sales:order-list"))
    messages.success(request, _("Order %(code)s was made from the quote; check it and confirm it.") % {
        "code": order.code})
    return redirect("sales:order-detail", pk=order.pk)


# --- One order ---------------------------------------------------------------------------------
def _order(request: HttpRequest, pk: int) -> Order:
    return get_one(order_scope, request.user, pk, "account", "owner", "contact", "quote", "opportunity")  # type: ignore[no-any-return]


@requires("order.view")
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    order = _order(request, pk)
    lines = reads.lines_of(order)
    discount = order.subtotal - order.total
    return render(request, "sales/orders_detail.html", {
        "order": order, "lines": lines, "discount": discount, "contracts": reads.contracts_of(user, order),
        "history": core_selectors.history_for(order)[:50],
        "can_change": has_perm(user, "order.change") and order.state != Order.State.CANCELLED,
        "can_delete": has_perm(user, "order.delete"),
        "can_contract": has_perm(user, "contract.add") and order.state != Order.State.CANCELLED,
        "moves": [to for to, sources in services.MOVES.items() if order.state in sources],
        "quote_url": optional_url("sales:quote-detail", order.quote_id) if order.quote_id else "",
        "opportunity_url": optional_url("sales:opportunity-detail", order.opportunity_id)
        if order.opportunity_id else "",
    })


@requires("order.change")
def order_edit(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(request, pk)
    initial = {name: getattr(order, name) for name in ("order_date", "ship_date", "currency", "shipping_address",
                                                       "remarks")}
    form = OrderEditForm(request.POST or None, contacts=_contacts(order.account),
                         initial={**initial, "contact": order.contact_id or "", "version": order.version})
    status = save_edit(request, form, lambda changes, version: services.order_update(
        actor=request.user, order=order, changes={**changes, "contact": changes["contact"] or None},
        expected_version=version))
    if status is None:
        return redirect("sales:order-detail", pk=pk)
    return render(request, "sales/orders_form.html", {
        "form": form, "title": _("Edit order %(code)s") % {"code": order.code}, "order": order}, status=status)


@requires("order.change")
def order_lines(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(request, pk)
    if order.state != Order.State.DRAFT:
        messages.error(request, _("Only a draft order's lines can change."))
        return redirect("sales:order-detail", pk=pk)
    rows: list[dict[str, Any]] = existing_rows(order)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        rows = posted_lines(request.POST)
        try:
            services.order_lines_set(actor=request.user, order=order, lines=service_lines(rows),
                                     expected_version=posted_version(request))
        except ServiceError as exc:
            errors = exc.errors or {"lines": [exc.message]}
            status = exc.status
        else:
            messages.success(request, _("The lines of %(code)s were saved.") % {"code": order.code})
            return redirect("sales:order-detail", pk=pk)
    return render(request, "sales/orders_lines.html", {
        "order": order, "title": _("Lines of order %(code)s") % {"code": order.code},
        **_line_context(rows, errors)}, status=status)


ACTIONS = {"confirm": Order.State.CONFIRMED, "ship": Order.State.SHIPPED, "deliver": Order.State.DELIVERED,
           "cancel": Order.State.CANCELLED}


@requires("order.change")
@require_POST
def order_state(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(request, pk)
    to = ACTIONS.get(request.POST.get("action", ""))
    if to is None:
        raise NotFound()
    return act(request, lambda: services.order_move(
        actor=request.user, order=order, to=to, on=request.POST.get("on") or None,
        expected_version=posted_version(request)),
        lambda: _("Order %(code)s is now %(state)s.") % {"code": order.code, "state": order.get_state_display()},
        reverse("sales:order-detail", args=[pk]))


@requires("order.delete")
@require_POST
def order_delete(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(request, pk)
    return act(request, lambda: services.order_delete(
        actor=request.user, order=order, expected_version=posted_version(request)),
        lambda: _("%(code)s was moved to the recycle bin.") % {"code": order.code},
        "sales:order-list", failed_to=reverse("sales:order-detail", args=[pk]))


urlpatterns: list[URLPattern] = [
    path("orders/", order_list, name="order-list"),
    path("orders/new/", order_create, name="order-create"),
    path("orders/export/", order_export, name="order-export"),
    path("orders/<int:pk>/", order_detail, name="order-detail"),
    path("orders/<int:pk>/edit/", order_edit, name="order-edit"),
    path("orders/<int:pk>/lines/", order_lines, name="order-lines"),
    path("orders/<int:pk>/state/", order_state, name="order-state"),
    path("orders/<int:pk>/delete/", order_delete, name="order-delete"),
    path("quotes/<int:pk>/order/", order_from_quote, name="order-from-quote"),
]
