"""Sales reads: quotes (R4.2).

Every read starts from ``scope.quote_scope``. ``quote_content`` turns a quote into the
plain dictionary its documents are printed from and that a sent revision keeps
(``QuoteRevision.snapshot``), so the PDF and the Excel of the live quote and of any old
revision come out of one renderer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import access
from guanxi.core.errors import NotFound
from guanxi.core.models import Department, User
from guanxi.core.permissions import ROLE_PERMISSIONS, has_perm
from guanxi.sales.models import Quote, QuoteLine, QuoteRevision
from guanxi.sales.selectors.scope import get_one, quote_scope

# The customer's data a quote keeps (sheet 2 of its Excel, the PDF's address block).
ACCOUNT_FIELDS = ("code", "name", "kind", "credit_code", "phone", "email", "website", "province", "city",
                  "district", "address", "industry", "size", "operating_status", "founded_on", "business_scope",
                  "credit_standing", "grade")
CONTACT_FIELDS = ("name", "title", "mobile", "phone", "email", "wechat", "address")
LINE_FIELDS = ("position", "name", "model", "specification", "packaging", "features", "unit", "quantity",
               "unit_price", "discount", "tax_rate", "total", "remarks")
MONEY_FIELDS = ("subtotal", "discount_total", "tax_total", "total", "max_discount")


def quote_detail(user: Any, pk: Any) -> Quote:
    """One visible quote with what its page shows (hidden or missing: NotFound)."""
    return get_one(quote_scope, user, pk, "account", "contact", "opportunity", "owner",  # type: ignore[no-any-return]
                   "approved_by")


def lines_of(quote: Quote) -> list[QuoteLine]:
    return list(quote.lines.select_related("product").order_by("position", "id"))


def revisions_of(quote: Quote) -> list[QuoteRevision]:
    return list(quote.revisions.select_related("created_by").order_by("-revision"))


def revision_of(quote: Quote, number: Any) -> QuoteRevision:
    """A kept revision of a visible quote (an unknown number: NotFound)."""
    if not str(number).isdigit():
        raise NotFound()
    revision = quote.revisions.filter(revision=int(number)).first()
    if revision is None:
        raise NotFound()
    return revision


# --- Approval -------------------------------------------------------------------------------
def discount_limit() -> Decimal:
    """``GUANXI_QUOTE_DISCOUNT_LIMIT`` (percent): a larger line discount needs approval."""
    return Decimal(str(getattr(settings, "GUANXI_QUOTE_DISCOUNT_LIMIT", 10)))


def needs_approval(quote: Quote) -> bool:
    return Decimal(quote.max_discount) > discount_limit()


def can_decide(user: Any, quote: Quote) -> bool:
    """May ``user`` approve or reject this quote's discount: the right, never the owner, and
    the owner is one of the people the user manages by role (not by a grant)."""
    if not has_perm(user, "quote.approve") or user.pk == quote.owner_id:
        return False
    owner = quote.owner if Quote.owner.is_cached(quote) else User.objects.filter(pk=quote.owner_id).first()
    return owner is not None and access.manages_user(user, owner)


def approvers_for(owner: User) -> list[User]:
    """The active people who may approve a quote of ``owner`` (they are told of requests)."""
    roles = [code for code, perms in ROLE_PERMISSIONS.items() if "quote.approve" in perms]
    candidates = User.objects.filter(is_active=True, roles__code__in=roles).exclude(pk=owner.pk).distinct()
    return [person for person in candidates if access.manages_user(person, owner)]


def waiting_for(user: Any, qs: QuerySet[Quote] | None = None) -> QuerySet[Quote]:
    """Quotes waiting for ``user``'s approval: pending, someone else's, of people they manage."""
    qs = quote_scope(user) if qs is None else qs
    if not has_perm(user, "quote.approve"):
        return qs.none()
    vis = access.visibility_for(user, include_grants=False)
    qs = qs.filter(state=Quote.State.PENDING).exclude(owner_id=user.pk)
    if vis.everything:
        return qs
    managed = Q(pk__in=[])
    if vis.owner_ids:
        managed |= Q(owner_id__in=vis.owner_ids)
    if vis.department_ids:
        managed |= Q(owner__department_id__in=vis.department_ids)
    return qs.filter(managed)


# --- The list -------------------------------------------------------------------------------
def _param(params: Any, key: str) -> str:
    value = params.get(key, "") if params is not None else ""
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return str(value if value is not None else "").strip()


def quote_list_for(user: Any, params: Any = None) -> QuerySet[Quote]:
    """The quotes ``user`` sees, newest first, filtered by ``state``, ``owner`` (``me`` or a
    colleague one manages), ``account``, ``opportunity``, ``q`` (number or title) and
    ``approval`` (``mine``: waiting for my approval). A value it cannot apply: BadFilter (400)."""
    from guanxi.customers.selectors.lists import BadFilter

    errors: dict[str, list[str]] = {}
    qs = quote_scope(user).select_related("account", "owner")

    def unknown(key: str, value: str) -> None:
        errors[key] = [_("Unknown value “%(value)s”.") % {"value": value}]

    state = _param(params, "state")
    if state:
        if state not in Quote.State.values:
            unknown("state", state)
        qs = qs.filter(state=state)
    owner = _param(params, "owner")
    if owner and owner != "all":
        other = user if owner == "me" else User.objects.filter(pk=int(owner)).first() if owner.isdigit() else None
        if other is None or not access.manages_user(user, other):
            unknown("owner", owner)
        else:
            qs = qs.filter(owner_id=other.pk)
    for key in ("account", "opportunity"):
        value = _param(params, key)
        if value:
            if not value.isdigit():
                unknown(key, value)
            else:
                qs = qs.filter(**{f"{key}_id": int(value)})
    approval = _param(params, "approval")
    if approval:
        if approval not in ("mine", "1"):
            unknown("approval", approval)
        qs = waiting_for(user, qs)
    q = _param(params, "q")[:100]
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(title__icontains=q) | Q(subject__icontains=q))
    if errors:
        raise BadFilter(_("Some filters cannot be applied."), errors=errors)
    return qs.order_by("-id")


def people_i_manage(user: Any) -> list[tuple[int, str]]:
    """``(pk, label)`` of the active people ``user`` manages (the owner filter), the caller first."""
    from guanxi.customers.selectors.pool import managed_users

    rows = managed_users(user).values_list("id", "username", "name")[:500]
    return sorted([(pk, name or username) for pk, username, name in rows], key=lambda p: p[0] != user.pk)


# --- What a document prints -----------------------------------------------------------------
def company() -> dict[str, str]:
    """Our company data for documents, read in one place: the GUANXI_COMPANY_* settings; the
    name falls back to the top department's."""
    name = (getattr(settings, "GUANXI_COMPANY_NAME", "") or "").strip()
    if not name:
        root = Department.objects.filter(parent__isnull=True).order_by("path", "id").only("name").first()
        name = root.name if root else ""
    return {"name": name, **{key: (getattr(settings, f"GUANXI_COMPANY_{key.upper()}", "") or "").strip()
                             for key in ("address", "phone", "email", "bank", "logo")}}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _person(user: User | None) -> dict[str, str]:
    if user is None:
        return {"name": "", "phone": "", "email": "", "department": ""}
    department = Department.objects.filter(pk=user.department_id).values_list("name", flat=True).first()
    return {"name": user.name or user.get_username(), "phone": user.phone, "email": user.email,
            "department": department or ""}


def _line(line: QuoteLine) -> dict[str, Any]:
    product = line.product
    return {"product": line.product_id, "product_code": product.code if product else "",
            "picture": product.picture.name if product and product.picture else "",
            **{name: _plain(getattr(line, name)) for name in LINE_FIELDS}}


def quote_content(quote: Quote, lines: list[QuoteLine] | None = None) -> dict[str, Any]:
    """Everything a quote's documents print, as JSON-safe data (what a sent revision keeps)."""
    lines = lines_of(quote) if lines is None else lines
    account = quote.account
    contact = quote.contact
    # A quote above the discount limit reached these states only through an approval.
    decided = needs_approval(quote) and quote.state in (Quote.State.APPROVED, Quote.State.SENT,
                                                        Quote.State.ACCEPTED, Quote.State.DECLINED,
                                                        Quote.State.EXPIRED)
    return {
        "id": quote.pk, "code": quote.code, "revision": quote.revision, "title": quote.title,
        "subject": quote.subject, "state": quote.state,
        "quote_date": _plain(quote.quote_date), "valid_until": _plain(quote.valid_until),
        "currency": quote.currency, "rate_to_cny": _plain(quote.rate_to_cny),
        "prices_include_tax": quote.prices_include_tax,
        "payment_terms": quote.payment_terms, "delivery_terms": quote.delivery_terms, "terms": quote.terms,
        "notes": quote.notes, **{name: _plain(getattr(quote, name)) for name in MONEY_FIELDS},
        "account": {"id": account.pk, **{name: _plain(getattr(account, name)) for name in ACCOUNT_FIELDS}},
        "contact": {name: _plain(getattr(contact, name)) for name in CONTACT_FIELDS} if contact else None,
        "owner": _person(quote.owner),
        "company": company(),
        "approval": {"by": str(quote.approved_by or ""), "at": _plain(quote.approved_at),
                     "note": quote.approval_note} if decided and quote.approved_by_id else None,
        "opportunity": {"id": quote.opportunity_id, "code": quote.opportunity.code,
                        "name": quote.opportunity.name} if quote.opportunity_id and quote.opportunity else None,
        "lines": [_line(line) for line in lines],
        "written_at": timezone.now().isoformat(),
    }


def content_for(user: Any, quote: Quote, revision: Any = None) -> dict[str, Any]:
    """The content of the live quote, or of a kept revision (``revision``: its number)."""
    if revision in (None, ""):
        return quote_content(quote)
    return dict(revision_of(quote, revision).snapshot)
