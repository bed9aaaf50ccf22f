"""Sales views: the catalogue — product list, detail, create and edit with a picture, delete to
the recycle bin and restore, the picture itself, and the JSON the quote and order line
pickers read (product search, the price a customer gets). Price lists and exchange rates
are in ``products_prices``. Thin: parse → scoped read → service → render."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.customers.selectors import account_scope
from guanxi.sales.models import CNY, Product
from guanxi.sales.selectors import products as reads
from guanxi.sales.services import products as services
from guanxi.sales.views import products_prices
from guanxi.sales.views.common import act, save_edit

PAGE_SIZE = 50
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


# --- Forms -----------------------------------------------------------------------------------------
class ProductForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Product code"), max_length=40)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    model = forms.CharField(label=gettext_lazy("Model"), max_length=100, required=False)
    category = forms.CharField(label=gettext_lazy("Product line"), max_length=100, required=False,
                               widget=forms.TextInput(attrs={"list": "product-lines"}))
    unit = forms.CharField(label=gettext_lazy("Unit"), max_length=20, initial="件")
    list_price = forms.DecimalField(label=gettext_lazy("List price"), max_digits=16, decimal_places=2, min_value=0,
                                    initial=Decimal("0"))
    currency = forms.CharField(label=gettext_lazy("Currency"), max_length=3, initial=CNY,
                               help_text=gettext_lazy("ISO code, e.g. CNY or USD; other currencies than CNY need "
                                                      "an exchange rate."))
    tax_rate = forms.DecimalField(label=gettext_lazy("Tax rate (%)"), max_digits=5, decimal_places=2, min_value=0,
                                  max_value=100, initial=Decimal("13"))
    active = forms.BooleanField(label=gettext_lazy("On sale"), required=False, initial=True)
    specification = forms.CharField(label=gettext_lazy("Specification"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 3}))
    packaging = forms.CharField(label=gettext_lazy("Packaging"), max_length=200, required=False)
    features = forms.CharField(label=gettext_lazy("Features"), required=False,
                               widget=forms.Textarea(attrs={"rows": 4}),
                               help_text=gettext_lazy("One feature per line; quotes list them as they are."))
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    picture = forms.FileField(label=gettext_lazy("Picture"), required=False,
                              widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/gif,"
                                                                                "image/webp"}),
                              help_text=gettext_lazy("PNG, JPEG, GIF or WebP; large pictures are scaled down."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["active"].widget.attrs["class"] = "form-check-input"
        style_form(self)

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("picture", None)
        data.pop("remove_picture", None)
        data.pop("version", None)
        return data


class ProductEditForm(ProductForm):
    remove_picture = forms.BooleanField(label=gettext_lazy("Remove the picture"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["remove_picture"].widget.attrs["class"] = "form-check-input"
        self.fields["picture"].label = gettext_lazy("New picture")


# --- The list ------------------------------------------------------------------------------------
@requires("product.view")
def product_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    params = request.GET
    can_manage = has_perm(user, "product.manage")
    deleted = params.get("deleted") == "1" and can_manage
    qs = reads.product_deleted_for(user) if deleted else reads.product_list_for(user, params)
    page = CappedPaginator(qs, PAGE_SIZE).get_page(params.get("page"))
    return render(request, "sales/products_list.html", {
        "page": page, "q": params.get("q", ""), "category": params.get("category", ""),
        "active": params.get("active", ""), "deleted": deleted, "categories": reads.categories(),
        "can_manage": can_manage,
    })


# --- One product -------------------------------------------------------------------------------------
@requires("product.view")
def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    product = reads.get_product(user, pk)
    features = [line.strip(" -•·\t") for line in product.features.splitlines() if line.strip(" -•·\t")]
    return render(request, "sales/products_detail.html", {
        "product": product, "features": features, "prices": reads.prices_of(product),
        "can_manage": has_perm(user, "product.manage"),
    })


def _form_page(request: HttpRequest, form: forms.Form, title: str, status: int = 200,
               product: Product | None = None) -> HttpResponse:
    return render(request, "sales/products_form.html", {
        "form": form, "title": title, "product": product, "categories": reads.categories()}, status=status)


@requires("product.manage")
def product_create(request: HttpRequest) -> HttpResponse:
    form = ProductForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.changes()
            try:
                product = services.product_create(actor=request.user, picture=form.cleaned_data["picture"], **data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Product %(name)s added.") % {"name": product.name})
                return redirect("sales:product-detail", pk=product.pk)
        status = 422
        messages.error(request, _("The product was not saved: please correct the errors below."))
    return _form_page(request, form, _("New product"), status)


@requires("product.manage")
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    product = reads.get_product(request.user, pk)
    initial = {name: getattr(product, name) for name in services.PRODUCT_EDITABLE}
    form = ProductEditForm(request.POST or None, request.FILES or None, initial={**initial, "version": product.version})
    status = save_edit(request, form, lambda _changes, version: services.product_update(
        actor=request.user, product=product, changes=form.changes(), expected_version=version,
        picture=form.cleaned_data["picture"], remove_picture=form.cleaned_data["remove_picture"]))
    if status is None:
        return redirect("sales:product-detail", pk=pk)
    if request.method == "POST":
        messages.error(request, _("The product was not saved: please correct the errors below."))
    return _form_page(request, form, _("Edit %(name)s") % {"name": product.name}, status, product)


@requires("product.manage")
@require_POST
def product_delete(request: HttpRequest, pk: int) -> HttpResponse:
    product = reads.get_product(request.user, pk)
    return act(request, lambda: services.product_delete(
        actor=request.user, product=product, expected_version=posted_version(request)),
        lambda: _("%(name)s was moved to the recycle bin.") % {"name": product.name},
        "sales:product-list", failed_to=reverse("sales:product-detail", args=[pk]))


@requires("product.manage")
@require_POST
def product_restore(request: HttpRequest, pk: int) -> HttpResponse:
    product = reads.get_product(request.user, pk, include_deleted=True)
    try:
        services.product_restore(actor=request.user, product=product)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect(reverse("sales:product-list") + "?deleted=1")
    messages.success(request, _("%(name)s was restored.") % {"name": product.name})
    return redirect("sales:product-detail", pk=pk)


def picture_response(product: Product) -> FileResponse:
    """The stored picture, shown inline: it was checked and re-encoded as PNG or JPEG on upload."""
    if not product.picture:
        raise NotFound()
    ext = (product.picture.name or "").rsplit(".", 1)[-1].lower()
    try:
        handle = product.picture.open("rb")
    except (FileNotFoundError, OSError):
        raise NotFound() from None
    response = FileResponse(handle, content_type=CONTENT_TYPES.get(ext, "application/octet-stream"))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@requires("product.view")
def product_picture(request: HttpRequest, pk: int) -> FileResponse:
    return picture_response(reads.get_product(request.user, pk, include_deleted=True))


# --- JSON for the quote and order line pickers --------------------------------------------------------
def picker_row(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk, "code": product.code, "name": product.name, "model": product.model, "unit": product.unit,
        "list_price": str(product.list_price), "currency": product.currency, "tax_rate": str(product.tax_rate),
        "specification": product.specification, "packaging": product.packaging, "features": product.features,
        "picture_url": reverse("sales:product-picture", args=[product.pk]) if product.picture else "",
    }


@requires("product.view")
def product_search(request: HttpRequest) -> JsonResponse:
    """On-sale products matching ``q`` (name, pinyin, initials, code, model), best 20 first."""
    q = request.GET.get("q", "")[:100]
    return JsonResponse([picker_row(p) for p in reads.product_search(request.user, q)], safe=False)


def _invalid(field: str, message: str) -> JsonResponse:
    return JsonResponse({"code": "invalid", "message": _("Please correct the errors below."),
                         "errors": {field: [message]}}, status=422)


@requires("product.view")
def product_price(request: HttpRequest) -> JsonResponse:
    """The unit price an account gets: ``product``, ``account`` (must be visible, else 404; absent:
    lists without criteria only), ``quantity`` (default 1) → {price, currency, price_list, price_list_id}."""
    user: Any = request.user
    params = request.GET
    product = reads.get_product(user, params.get("product", ""))
    account = None
    if params.get("account"):
        account = account_scope(user).filter(pk=params["account"]).first() if params["account"].isdigit() else None
        if account is None:
            raise NotFound()
    try:
        quantity = Decimal(params.get("quantity") or "1")
    except InvalidOperation:
        return _invalid("quantity", _("Enter a number."))
    if not quantity.is_finite() or quantity <= 0:
        return _invalid("quantity", _("Enter a number greater than zero."))
    price, currency, price_list = services.price_for(product, account, quantity)
    return JsonResponse({"price": str(price), "currency": currency,
                         "price_list": price_list.name if price_list else None,
                         "price_list_id": price_list.pk if price_list else None})


urlpatterns: list[URLPattern] = [
    path("products/", product_list, name="product-list"),
    path("products/new/", product_create, name="product-create"),
    path("products/search/", product_search, name="product-search"),
    path("products/price/", product_price, name="product-price"),
    path("products/<int:pk>/", product_detail, name="product-detail"),
    path("products/<int:pk>/edit/", product_edit, name="product-edit"),
    path("products/<int:pk>/delete/", product_delete, name="product-delete"),
    path("products/<int:pk>/restore/", product_restore, name="product-restore"),
    path("products/<int:pk>/picture/", product_picture, name="product-picture"),
    *products_prices.urlpatterns,
]
