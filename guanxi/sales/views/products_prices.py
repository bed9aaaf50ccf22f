"""Sales views: price lists with their prices (edited in place with htmx, plain forms without
it) and the exchange-rate table. Thin: parse → scoped read → service → render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import Forbidden, NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.customers.models import Grade
from guanxi.sales.models import CNY, Channel, ExchangeRate, PriceList, PriceListItem, Product
from guanxi.sales.selectors import products as reads
from guanxi.sales.services import products_prices as services
from guanxi.sales.views.common import act, save_edit

PAGE_SIZE = 50
PRODUCT_CHOICES = 2000  # products offered as suggestions when pricing a list
# The provinces, municipalities and regions a price list is usually limited to.
PROVINCES = ("北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽",
             "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州", "云南",
             "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆", "香港", "澳门", "台湾")


def _date(label: Any) -> forms.DateField:
    return forms.DateField(label=label, required=False, widget=forms.DateInput(attrs={"type": "date"}))


# --- Forms -----------------------------------------------------------------------------------------
class PriceListForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial=CNY,
                               help_text=gettext_lazy("ISO code, e.g. CNY or USD; other currencies than CNY need "
                                                      "an exchange rate."))
    grade = forms.ChoiceField(label=gettext_lazy("Customer grade"), required=False)
    province = forms.CharField(label=gettext_lazy("Region (province)"), max_length=32, required=False,
                               widget=forms.TextInput(attrs={"list": "provinces"}),
                               help_text=gettext_lazy("Empty: every region. 江苏 and 江苏省 are the same."))
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), required=False,
                                choices=[("", gettext_lazy("Every channel")), *Channel.choices],
                                help_text=gettext_lazy("Distributors buy through the distributor channel, every "
                                                       "other customer directly."))
    valid_from = _date(gettext_lazy("Valid from"))
    valid_until = _date(gettext_lazy("Valid until"))
    priority = forms.IntegerField(label=gettext_lazy("Priority"), initial=0, min_value=-32768, max_value=32767,
                                  help_text=gettext_lazy("When several lists match a customer, the highest priority "
                                                         "wins, then the most specific."))
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        grade = self.fields["grade"]
        assert isinstance(grade, forms.ChoiceField)
        grade.choices = [("", _("Every grade")),
                         *[(g.code, f"{g.code} · {g.name}") for g in Grade.objects.order_by("sort_order", "code")]]
        self.fields["active"].widget.attrs["class"] = "form-check-input"
        style_form(self)


class PriceListEditForm(PriceListForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class RateForm(forms.Form):
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3,
                               widget=forms.TextInput(attrs={"placeholder": "USD", "list": "currencies"}))
    rate = forms.CharField(label=gettext_lazy("CNY per unit"), max_length=30,
                           widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "7.1234"}))
    valid_from = forms.DateField(label=gettext_lazy("Valid from"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


class RateEditForm(RateForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["currency"]


# --- Price lists ---------------------------------------------------------------------------------
@requires("product.view")
def pricelist_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    can_manage = has_perm(user, "product.manage")
    deleted = request.GET.get("deleted") == "1" and can_manage
    qs = reads.pricelist_deleted_for(user) if deleted else reads.pricelist_list_for(user, request.GET)
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = {row["price_list"]: row["n"] for row in PriceListItem.objects.filter(
        price_list__in=[pl.pk for pl in page.object_list]).values("price_list").order_by().annotate(n=Count("id"))}
    for pl in page.object_list:
        pl.item_count = counts.get(pl.pk, 0)  # type: ignore[attr-defined]
    return render(request, "sales/products_pricelist_list.html", {
        "page": page, "deleted": deleted, "active": request.GET.get("active", ""), "can_manage": can_manage})


def _pricelist_form_page(request: HttpRequest, form: forms.Form, title: str, status: int = 200) -> HttpResponse:
    return render(request, "sales/products_pricelist_form.html", {"form": form, "title": title,
                                                                   "provinces": PROVINCES}, status=status)


@requires("product.manage")
def pricelist_create(request: HttpRequest) -> HttpResponse:
    form = PriceListForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                price_list = services.pricelist_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Price list %(name)s created; now add its prices.") % {
                    "name": price_list.name})
                return redirect("sales:pricelist-detail", pk=price_list.pk)
        status = 422
        messages.error(request, _("The price list was not saved: please correct the errors below."))
    return _pricelist_form_page(request, form, _("New price list"), status)


@requires("product.manage")
def pricelist_edit(request: HttpRequest, pk: int) -> HttpResponse:
    price_list = reads.get_pricelist(request.user, pk)
    initial = {name: getattr(price_list, name) for name in services.PRICELIST_EDITABLE}
    form = PriceListEditForm(request.POST or None, initial={**initial, "version": price_list.version})
    status = save_edit(request, form, lambda changes, version: services.pricelist_update(
        actor=request.user, price_list=price_list, changes=changes, expected_version=version))
    if status is None:
        return redirect("sales:pricelist-detail", pk=pk)
    if request.method == "POST":
        messages.error(request, _("The price list was not saved: please correct the errors below."))
    return _pricelist_form_page(request, form, _("Edit %(name)s") % {"name": price_list.name}, status)


def _items_context(request: HttpRequest, price_list: PriceList, **extra: Any) -> dict[str, Any]:
    can_manage = has_perm(request.user, "product.manage")
    return {
        "price_list": price_list, "items": reads.items_of(price_list), "can_manage": can_manage,
        "products": (Product.objects.filter(active=True).order_by("code").only("code", "name", "model")
                     [:PRODUCT_CHOICES]) if can_manage else [],
        "editing": None, "errors": [], "entered": {}, **extra,
    }


@requires("product.view")
def pricelist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    price_list = reads.get_pricelist(request.user, pk)
    return render(request, "sales/products_pricelist_detail.html", _items_context(request, price_list))


def _items_answer(request: HttpRequest, price_list: PriceList, *, done: str = "", exc: ServiceError | None = None,
                  entered: dict[str, str] | None = None, editing: int | None = None) -> HttpResponse:
    """htmx: the prices table again (with the message inside it); a plain form: back to the page."""
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "sales/products_pricelist_items.html", _items_context(
            request, price_list, errors=[error_text(exc)] if exc else [], done=done, entered=entered or {},
            editing=editing))
    if exc is not None:
        messages.error(request, error_text(exc))
    elif done:
        messages.success(request, done)
    return redirect(reverse("sales:pricelist-detail", args=[price_list.pk]) + "#price-items")


@requires("product.manage")
@require_POST
def pricelist_item_add(request: HttpRequest, pk: int) -> HttpResponse:
    price_list = reads.get_pricelist(request.user, pk)
    entered = {k: request.POST.get(k, "").strip() for k in ("product", "min_quantity", "price")}
    code = entered["product"].split(" ", 1)[0]  # the suggestion reads "code name model"
    product = Product.objects.filter(code=code).first() if code else None
    try:
        item = services.price_item_add(actor=request.user, price_list=price_list, product=product,
                                       min_quantity=entered["min_quantity"] or "1", price=entered["price"])
    except ServiceError as exc:
        return _items_answer(request, price_list, exc=exc, entered=entered)
    return _items_answer(request, price_list, done=_("Price of %(product)s added.") % {"product": item.product.name})


def _item(request: HttpRequest, pk: int) -> PriceListItem:
    return reads.get_item(request.user, pk)


@requires("product.manage")
def pricelist_item_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the price's row as a form (htmx) or the page with that row open; POST: save it."""
    item = _item(request, pk)
    price_list = item.price_list
    if request.method != "POST":
        context = _items_context(request, price_list, editing=item.pk)
        template = "sales/products_pricelist_items.html" if request.htmx else "sales/products_pricelist_detail.html"  # type: ignore[attr-defined]
        return render(request, template, context)
    changes = {k: request.POST.get(k, "").strip() for k in ("min_quantity", "price")}
    try:
        services.price_item_update(actor=request.user, item=item, changes=changes,
                                   expected_version=posted_version(request))
    except ServiceError as exc:
        return _items_answer(request, price_list, exc=exc, editing=item.pk)
    return _items_answer(request, price_list, done=_("Price of %(product)s saved.") % {"product": item.product.name})


@requires("product.manage")
@require_POST
def pricelist_item_delete(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk)
    try:
        services.price_item_remove(actor=request.user, item=item, expected_version=posted_version(request))
    except ServiceError as exc:
        return _items_answer(request, item.price_list, exc=exc)
    return _items_answer(request, item.price_list,
                         done=_("Price of %(product)s removed.") % {"product": item.product.name})


@requires("product.manage")
@require_POST
def pricelist_delete(request: HttpRequest, pk: int) -> HttpResponse:
    price_list = reads.get_pricelist(request.user, pk)
    return act(request, lambda: services.pricelist_delete(
        actor=request.user, price_list=price_list, expected_version=posted_version(request)),
        lambda: _("%(name)s was moved to the recycle bin.") % {"name": price_list.name},
        "sales:pricelist-list", failed_to=reverse("sales:pricelist-detail", args=[pk]))


@requires("product.manage")
@require_POST
def pricelist_restore(request: HttpRequest, pk: int) -> HttpResponse:
    price_list = reads.get_pricelist(request.user, pk, include_deleted=True)
    try:
        services.pricelist_restore(actor=request.user, price_list=price_list)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect(reverse("sales:pricelist-list") + "?deleted=1")
    messages.success(request, _("%(name)s was restored.") % {"name": price_list.name})
    return redirect("sales:pricelist-detail", pk=pk)


# --- Exchange rates --------------------------------------------------------------------------------
@requires("product.view")
def rate_list(request: HttpRequest) -> HttpResponse:
    """The rate table; a POST adds a rate (``product.manage``)."""
    user: Any = request.user
    can_manage = has_perm(user, "product.manage")
    if request.method == "POST" and not can_manage:
        raise Forbidden()
    form = RateForm(request.POST or None) if can_manage else None
    status = 200
    if form is not None and request.method == "POST":
        if form.is_valid():
            try:
                rate = services.exchange_rate_create(actor=user, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Rate of %(currency)s from %(date)s saved.") % {
                    "currency": rate.currency, "date": rate.valid_from.isoformat()})
                return redirect("sales:rate-list")
        status = 422
        messages.error(request, _("The rate was not saved: please correct the errors below."))
    qs = reads.rate_list_for(user, request.GET)
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "sales/products_rate_list.html", {
        "page": page, "form": form, "current": sorted(reads.current_rates().items()), "can_manage": can_manage,
        "currency": request.GET.get("currency", ""), "currencies": sorted(services.iso_currencies() - {CNY}),
    }, status=status)


@requires("product.manage")
def rate_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rate = ExchangeRate.objects.filter(pk=pk).first()
    if rate is None:
        raise NotFound()
    form = RateEditForm(request.POST or None, initial={"rate": rate.rate, "valid_from": rate.valid_from,
                                                       "version": rate.version})
    status = save_edit(request, form, lambda changes, version: services.exchange_rate_update(
        actor=request.user, rate=rate, changes=changes, expected_version=version))
    if status is None:
        return redirect("sales:rate-list")
    return render(request, "core/form.html", {
        "form": form, "title": _("Correct the rate of %(currency)s") % {"currency": rate.currency},
        "notice": _("Quotes, orders and contracts already written keep the rate of their day.")}, status=status)


urlpatterns: list[URLPattern] = [
    path("price-lists/", pricelist_list, name="pricelist-list"),
    path("price-lists/new/", pricelist_create, name="pricelist-create"),
    path("price-lists/<int:pk>/", pricelist_detail, name="pricelist-detail"),
    path("price-lists/<int:pk>/edit/", pricelist_edit, name="pricelist-edit"),
    path("price-lists/<int:pk>/delete/", pricelist_delete, name="pricelist-delete"),
    path("price-lists/<int:pk>/restore/", pricelist_restore, name="pricelist-restore"),
    path("price-lists/<int:pk>/prices/", pricelist_item_add, name="pricelist-item-add"),
    path("prices/<int:pk>/edit/", pricelist_item_edit, name="pricelist-item-edit"),
    path("prices/<int:pk>/delete/", pricelist_item_delete, name="pricelist-item-delete"),
    path("rates/", rate_list, name="rate-list"),
    path("rates/<int:pk>/edit/", rate_edit, name="rate-edit"),
]
