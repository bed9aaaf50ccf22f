"""Sales services: the catalogue (products and their pictures) and the price a customer gets.

Products are the company's catalogue: ``product.view`` reads it, ``product.manage`` writes
it (create, edit, picture, delete to the recycle bin, restore). Price lists, their prices
and exchange rates are written in ``products_prices``; :func:`price_for` reads them.

How a price is found (:func:`price_for`) — every quote and order line picker asks this:

1. Candidate lists are the live, active price lists valid on the day (``valid_from`` and
   ``valid_until`` inclusive, empty = open) that price the product at a ``min_quantity`` no
   larger than the quantity asked for.
2. A list matches the account when each of its criteria is empty or equal to the account's:
   ``grade`` (the account's rating grade), ``province`` (compared without 省/市/自治区, so
   "江苏" matches "江苏省") and ``channel``. An account's channel is
   ``Channel.DISTRIBUTOR`` when it is flagged as a distributor (``Account.is_distributor``),
   else ``Channel.DIRECT``; lists limited to ``Channel.ONLINE`` apply only when the caller
   passes ``channel="online"`` (web-shop orders).
3. The best list wins: highest ``priority``, then the most specific (most criteria set),
   then the latest ``valid_from``, then the newest list. Its price is the one of its highest
   quantity break not above the quantity, in the list's currency.
4. No list: the product's ``list_price`` in the product's currency, and no list.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import warnings
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from guanxi.core import audit, registry, search
from guanxi.core.errors import Conflict, Invalid
from guanxi.core.services import records
from guanxi.customers.services import clean_fields
from guanxi.customers.services.lists import attachment_max_bytes
from guanxi.sales.models import CNY, Channel, PriceList, PriceListItem, Product
from guanxi.sales.selectors.products import pricelist_scope, product_scope
from guanxi.sales.services.common import raise_if, require

PRODUCT_EDITABLE = ("code", "name", "model", "specification", "packaging", "unit", "features", "description",
                    "category", "list_price", "currency", "tax_rate", "active")
PICTURE_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "png", "WEBP": "png"}
# A picture is shown on screens and printed on quotes: larger ones are scaled down to this
# many pixels on their longer side, and re-encoded, so what is stored is only pixels (no
# metadata, no trailing payload) whatever was uploaded.
PICTURE_MAX_SIDE = 2000
PICTURE_MAX_PIXELS = 40_000_000
HUNDRED = Decimal("100")
FEN = Decimal("0.01")
MAX_MONEY = Decimal("99999999999999.99")  # 16 digits, 2 decimals


# --- Validation ------------------------------------------------------------------------------
def money_value(value: Any, field: str, errors: dict[str, list[str]], *, places: int = 2,
                maximum: Decimal = MAX_MONEY, minimum: Decimal = Decimal("0"), positive: bool = False) -> Decimal | None:
    """A non-negative (or positive) decimal with at most ``places`` decimals, or a message."""
    if value in (None, ""):
        errors.setdefault(field, []).append(_("This field is required."))
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "").replace("，", ""))
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if positive and number <= 0:
        errors.setdefault(field, []).append(_("Enter a number greater than zero."))
        return None
    if number < minimum:
        errors.setdefault(field, []).append(_("Enter a number of at least %(min)s.") % {"min": minimum})
        return None
    if number > maximum:
        errors.setdefault(field, []).append(_("Enter a number of at most %(max)s.") % {"max": maximum})
        return None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        errors.setdefault(field, []).append(_("Use at most %(n)d decimal places.") % {"n": places})
        return None
    return number


def _validate_product(obj: Product | None, changes: dict[str, Any]) -> dict[str, Any]:
    """Clean product input; raise Invalid with every message at once."""
    from guanxi.sales.services.products_prices import currency_errors

    unknown = set(changes) - set(PRODUCT_EDITABLE)
    if unknown:
        raise Invalid(errors={k: [_("This field cannot be set here.")] for k in sorted(unknown)})
    changes = dict(changes)
    errors: dict[str, list[str]] = {}
    numbers = {name: changes.pop(name) for name in ("list_price", "tax_rate") if name in changes}
    cleaned, field_errors = clean_fields(Product, obj, changes, required={
        "code": _("Enter the product code."), "name": _("Enter the product's name."), "unit": _("Enter the unit.")},
        upper=("currency",))
    errors.update(field_errors)
    for name in numbers:
        value = money_value(numbers[name], name, errors, maximum=HUNDRED if name == "tax_rate" else MAX_MONEY)
        cleaned[name] = value.quantize(FEN) if value is not None else None
    code = cleaned.get("code")
    if code and "code" not in errors:
        if any(ch.isspace() for ch in code):
            errors["code"] = [_("A product code cannot contain spaces.")]
        else:
            others = Product.all_objects.filter(code=code)
            clash = (others.exclude(pk=obj.pk) if obj is not None else others).first()
            if clash is not None:
                errors["code"] = [_("This code is already used by a product in the recycle bin; restore it or "
                                    "choose another code.") if clash.deleted_at else
                                  _("This code is already used by another product.")]
    if "currency" in cleaned and "currency" not in errors and (obj is None or cleaned["currency"] != obj.currency):
        currency_errors(cleaned["currency"], errors)
    raise_if(errors)
    return cleaned


def search_text_of(product: Product) -> str:
    """Name (with its pinyin and initials), code and model in one lowercase text."""
    return search.build(names=[product.name], codes=[product.code, product.model])


# --- Pictures ----------------------------------------------------------------------------------
def picture_content(upload: Any) -> tuple[bytes, str]:
    """Check that an upload really is a picture and return it re-encoded (bytes, extension).

    The size limit is the attachments' (``GUANXI_ATTACHMENT_MAX_BYTES``); the file must open
    as a PNG, JPEG, GIF or WebP image (Pillow reads the content; the name and the declared
    type are not trusted). JPEG stays JPEG, everything else becomes PNG.
    """
    if upload is None:
        raise Invalid(errors={"picture": [_("Choose a picture.")]})
    size = int(getattr(upload, "size", 0) or 0)
    if size <= 0:
        raise Invalid(errors={"picture": [_("The file is empty.")]})
    limit = attachment_max_bytes()
    if size > limit:
        raise Invalid(errors={"picture": [_("The file is larger than %(mb)s MB.") % {"mb": round(limit / 1048576, 1)}]})
    not_a_picture = Invalid(errors={"picture": [_("This file is not a picture (PNG, JPEG, GIF or WebP).")]})
    upload.seek(0)
    data = upload.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in PICTURE_FORMATS:
                    raise not_a_picture
                if probe.width * probe.height > PICTURE_MAX_PIXELS:
                    raise Invalid(errors={"picture": [_("The picture has too many pixels; scale it down first.")]})
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                image.seek(0)
                image.load()
                picture = ImageOps.exif_transpose(image)
                picture.thumbnail((PICTURE_MAX_SIDE, PICTURE_MAX_SIDE))
                out = io.BytesIO()
                if PICTURE_FORMATS[fmt] == "jpg":
                    picture.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
                else:
                    if picture.mode not in ("RGB", "RGBA", "L", "LA"):
                        picture = picture.convert("RGBA")
                    picture.save(out, "PNG", optimize=True)
    except Invalid:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            SyntaxError, ValueError, EOFError):
        raise not_a_picture from None
    return out.getvalue(), PICTURE_FORMATS[fmt]


def _save_file(product: Product, content: tuple[bytes, str]) -> str:
    """Store the picture's bytes under a random name (the user's file name is never used)."""
    field: Any = Product._meta.get_field("picture")
    return default_storage.save(field.generate_filename(product, f"{uuid.uuid4().hex}.{content[1]}"),
                                ContentFile(content[0]))


def _store_picture(*, actor: Any, product: Product, content: tuple[bytes, str],
                   expected_version: int | None) -> Product:
    """Save the checked picture under a random name and point the product at it."""
    before = product.picture.name or ""
    stored = _save_file(product, content)
    try:
        _write(actor=actor, obj=product, values={"picture": stored}, expected_version=expected_version,
               changes={"picture": [before or None, stored]})
    except Exception:
        default_storage.delete(stored)
        raise
    product.picture.name = stored
    return product


def _write(*, actor: Any, obj: Any, values: dict[str, Any], expected_version: int | None,
           changes: dict[str, Any], action: str = "update") -> None:
    """One version-checked UPDATE with its audit row (stale → Conflict)."""
    if expected_version is not None and int(expected_version) != obj.version:
        raise Conflict()
    now = timezone.now()
    rows = type(obj).all_objects.filter(pk=obj.pk, version=obj.version).update(
        **values, version=F("version") + 1, updated_at=now)
    if rows != 1:
        raise Conflict()
    obj.version += 1
    obj.updated_at = now
    audit.record(actor=actor, action=action, obj=obj, changes=changes)


# --- Products -------------------------------------------------------------------------------
@transaction.atomic
def product_create(*, actor: Any, code: str, name: str, picture: Any = None, **fields: Any) -> Product:
    """Add a product to the catalogue; ``picture`` is an uploaded file (optional)."""
    require(actor, "product.manage")
    defaults = {"unit": "件", "currency": CNY, "list_price": Decimal("0"), "tax_rate": Decimal("13")}
    cleaned = _validate_product(None, {**defaults, **fields, "code": code, "name": name})
    content = picture_content(picture) if picture is not None else None
    product = Product(**cleaned)
    product.search_text = search_text_of(product)
    stored = _save_file(product, content) if content is not None else ""
    product.picture.name = stored
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:  # a concurrent create took the code between the check and the insert
        if stored:
            default_storage.delete(stored)
        raise Invalid(errors={"code": [_("This code is already used by another product.")]}) from None
    changes = audit.creation_changes(product, [*PRODUCT_EDITABLE], skip_empty=True)
    if stored:
        changes["picture"] = [None, stored]
    audit.record(actor=actor, action="create", obj=product, changes=changes)
    return product


@transaction.atomic
def product_update(*, actor: Any, product: Product, changes: dict[str, Any], expected_version: int | None,
                   picture: Any = None, remove_picture: bool = False) -> Product:
    """Change a product's fields (stale ``expected_version`` → Conflict); ``picture`` replaces
    its picture, ``remove_picture`` takes it off (the file is kept for the history)."""
    require(actor, "product.manage")
    if product.deleted_at is not None:
        raise Invalid(_("This product is in the recycle bin; restore it first."))
    cleaned = _validate_product(product, changes)
    content = picture_content(picture) if picture is not None else None  # refused before anything is written
    delta = records.apply_update(actor=actor, obj=product, changes=cleaned, expected_version=expected_version)
    if delta.keys() & {"name", "code", "model"}:
        product.search_text = search_text_of(product)
        Product.all_objects.filter(pk=product.pk).update(search_text=product.search_text)
    if content is not None:
        _store_picture(actor=actor, product=product, content=content, expected_version=None)
    elif remove_picture and product.picture:
        _write(actor=actor, obj=product, values={"picture": ""}, expected_version=None,
               changes={"picture": [product.picture.name, None]})
        product.picture.name = ""
    return product


@transaction.atomic
def product_picture_set(*, actor: Any, product: Product, upload: Any, expected_version: int | None = None) -> Product:
    require(actor, "product.manage")
    if product.deleted_at is not None:
        raise Invalid(_("This product is in the recycle bin; restore it first."))
    return _store_picture(actor=actor, product=product, content=picture_content(upload),
                          expected_version=expected_version)


@transaction.atomic
def product_picture_remove(*, actor: Any, product: Product, expected_version: int | None = None) -> Product:
    require(actor, "product.manage")
    if product.picture:
        _write(actor=actor, obj=product, values={"picture": ""}, expected_version=expected_version,
               changes={"picture": [product.picture.name, None]})
        product.picture.name = ""
    return product


def soft_delete(*, actor: Any, obj: Any, expected_version: int | None) -> Any:
    """Move a catalogue record to the recycle bin (the caller checked the right)."""
    if obj.deleted_at is not None:
        raise Invalid(_("This record is already in the recycle bin."))
    if expected_version is not None and int(expected_version) != obj.version:
        raise Conflict()
    now = timezone.now()
    rows = type(obj).all_objects.filter(pk=obj.pk, version=obj.version, deleted_at__isnull=True).update(
        deleted_at=now, deleted_by=actor, deletion_batch=uuid.uuid4(), version=F("version") + 1, updated_at=now)
    if rows != 1:
        raise Conflict()
    audit.record(actor=actor, action="delete", obj=obj)
    obj.refresh_from_db()
    return obj


def restore(*, actor: Any, obj: Any) -> Any:
    if obj.deleted_at is None:
        raise Invalid(_("This record is not in the recycle bin."))
    type(obj).all_objects.filter(pk=obj.pk).update(deleted_at=None, deleted_by=None, deletion_batch=None,
                                                   version=F("version") + 1, updated_at=timezone.now())
    audit.record(actor=actor, action="restore", obj=obj)
    obj.refresh_from_db()
    return obj


@transaction.atomic
def product_delete(*, actor: Any, product: Product, expected_version: int | None = None) -> Product:
    """To the recycle bin: the product leaves the catalogue, pickers and price lists' pricing
    of new lines; lines already on quotes and orders keep it."""
    require(actor, "product.manage")
    return soft_delete(actor=actor, obj=product, expected_version=expected_version)  # type: ignore[no-any-return]


@transaction.atomic
def product_restore(*, actor: Any, product: Product) -> Product:
    require(actor, "product.manage")
    return restore(actor=actor, obj=product)  # type: ignore[no-any-return]


# --- The price a customer gets ------------------------------------------------------------------
PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")


def region_key(text: str) -> str:
    """A province as compared: no spaces, no 省/市/自治区 (江苏省 → 江苏, 广西壮族自治区 → 广西)."""
    key = search.normalise(text)
    for suffix in PROVINCE_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def account_channel(account: Any) -> str:
    """How an account buys: ``distributor`` when flagged as a distributor, else ``direct``."""
    return Channel.DISTRIBUTOR if account is not None and getattr(account, "is_distributor", False) else Channel.DIRECT


def list_matches(price_list: PriceList, account: Any, channel: str) -> bool:
    """Whether each criterion of the list is empty or the account's."""
    if price_list.grade and (account is None or price_list.grade.strip().upper() != (account.grade or "").upper()):
        return False
    if price_list.province and (account is None
                                or region_key(price_list.province) != region_key(account.province or "")):
        return False
    return not price_list.channel or price_list.channel == channel


def specificity(price_list: PriceList) -> int:
    return sum(1 for criterion in (price_list.grade, price_list.province, price_list.channel) if criterion)


def _rank(price_list: PriceList) -> tuple[int, int, dt.date, int]:
    return (price_list.priority, specificity(price_list), price_list.valid_from or dt.date.min, price_list.pk)


def price_for(product: Product, account: Any, quantity: Any = 1, on: dt.date | None = None, *,
              channel: str | None = None) -> tuple[Decimal, str, PriceList | None]:
    """The unit price ``account`` gets for ``quantity`` of ``product`` on ``on`` (today):
    (price, currency, the price list or None for the list price). See the module docstring."""
    on = on or timezone.localdate()
    try:
        qty = Decimal(str(quantity))
    except (InvalidOperation, ValueError):
        qty = Decimal("1")
    if not qty.is_finite():
        qty = Decimal("1")
    channel = channel or account_channel(account)
    items = (PriceListItem.objects.filter(product=product, min_quantity__lte=qty, price_list__active=True,
                                          price_list__deleted_at__isnull=True)
             .filter(Q(price_list__valid_from__isnull=True) | Q(price_list__valid_from__lte=on))
             .filter(Q(price_list__valid_until__isnull=True) | Q(price_list__valid_until__gte=on))
             .select_related("price_list"))
    best: dict[int, PriceListItem] = {}  # per list: its highest break not above the quantity
    for item in items:
        if not list_matches(item.price_list, account, channel):
            continue
        kept = best.get(item.price_list_id)
        if kept is None or item.min_quantity > kept.min_quantity:
            best[item.price_list_id] = item
    if not best:
        return product.list_price, product.currency or CNY, None
    winner = max(best.values(), key=lambda i: _rank(i.price_list))
    return winner.price, winner.price_list.currency or CNY, winner.price_list


# --- Registration with the generic machinery (history, recycle bin) -------------------------------
# The rights are product.view / product.manage; the recycle bin and generic restore ask for
# ``product.delete`` (see the report: granted to whoever holds product.manage).
registry.register(registry.Entry(
    model=Product, perm="product", scope=lambda user, qs: product_scope(user, qs),
    editable=PRODUCT_EDITABLE, detail_url=lambda obj: reverse("sales:product-detail", args=[obj.pk]),
    validate=lambda obj, changes: _validate_product(obj, changes),
))
registry.register(registry.Entry(
    model=PriceList, perm="product", scope=lambda user, qs: pricelist_scope(user, qs),
    detail_url=lambda obj: reverse("sales:pricelist-detail", args=[obj.pk]),
))
