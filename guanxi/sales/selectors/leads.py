"""Sales reads: leads, always through ``scope.lead_scope`` first.

The list filters by state, source, owner (a colleague, ``me``) or unassigned, and searches
the lead's search text (company, person with pinyin, phone digits, e-mail, codes). The
conversion screen asks which existing accounts look like the lead's company — by credit
code, name, phone or a contact's mobile — among those the user sees, and whether any the
user cannot see match too (named never, only the reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from guanxi.core import access, search
from guanxi.core.errors import Invalid
from guanxi.core.models import User
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope, search_matches
from guanxi.customers.selectors.merge import MIN_PHONE_DIGITS, phone_digits
from guanxi.sales.models import Lead
from guanxi.sales.selectors.scope import get_one, lead_scope

_PHONE_LIKE = re.compile(r"^[\d\s\-+()（）]+$")
CANDIDATE_LIMIT = 10


def lead_for(user: Any, pk: Any) -> Lead:
    """One visible lead with its owner and links (hidden or missing: NotFound)."""
    return get_one(lead_scope, user, pk, "owner", "department", "created_by", "account", "contact",  # type: ignore[no-any-return]
                   "opportunity")


def _param(params: Any, name: str) -> str:
    value = params.get(name, "") if params is not None else ""
    return str(value or "").strip()


def search_needle(q: str) -> str:
    """A query as the search text holds it: a phone typed with separators becomes its digits."""
    q = q.strip()
    if _PHONE_LIKE.match(q) and sum(c.isdigit() for c in q) >= 3:
        return re.sub(r"\D", "", q)
    return search.normalise(q)


def lead_list_for(user: Any, params: Any = None) -> QuerySet[Lead]:
    """The visible leads, newest first: ``state``, ``source``, ``owner`` (``me`` or an id),
    ``unassigned`` (``1``/``true``), ``q``. Unknown values are refused (Invalid)."""
    qs = lead_scope(user).select_related("owner")
    errors: dict[str, list[str]] = {}
    state, source, owner = _param(params, "state"), _param(params, "source"), _param(params, "owner")
    if state:
        if state == "open":
            qs = qs.filter(state__in=[Lead.State.NEW, Lead.State.ASSIGNED, Lead.State.WORKING, Lead.State.QUALIFIED])
        elif state in Lead.State.values:
            qs = qs.filter(state=state)
        else:
            errors["state"] = [_("Unknown value “%(value)s”.") % {"value": state}]
    if source:
        if source in Lead.Source.values:
            qs = qs.filter(source=source)
        else:
            errors["source"] = [_("Unknown value “%(value)s”.") % {"value": source}]
    if owner:
        if owner == "me":
            qs = qs.filter(owner_id=getattr(user, "pk", None))
        elif owner.isdigit():
            qs = qs.filter(owner_id=int(owner))
        else:
            errors["owner"] = [_("Unknown value “%(value)s”.") % {"value": owner}]
    if _param(params, "unassigned").lower() in ("1", "true", "yes", "on"):
        qs = qs.filter(owner__isnull=True)
    q = _param(params, "q")
    if q:
        needle = search_needle(q)
        if needle:
            qs = qs.filter(search_text__contains=needle)
    if errors:
        raise Invalid(errors=errors)
    return qs.order_by("-id")


def lead_duplicates_for(user: Any, lead: Lead, *, limit: int = CANDIDATE_LIMIT) -> list[Lead]:
    """Other visible live leads with the same mobile or e-mail."""
    q = Q()
    if lead.mobile:
        q |= Q(mobile=lead.mobile)
    if lead.email:
        q |= Q(email__iexact=lead.email)
    if not q:
        return []
    return list(lead_scope(user).filter(q).exclude(pk=lead.pk).select_related("owner").order_by("-id")[:limit])


def assignee_choices(user: Any) -> list[User]:
    """Active colleagues the user manages (by role) who can work leads, the user first."""
    from guanxi.sales.services.leads import LEAD_ROLES

    vis = access.visibility_for(user, include_grants=False)
    qs = User.objects.filter(is_active=True, roles__code__in=LEAD_ROLES).distinct()
    if not vis.everything:
        qs = qs.filter(Q(pk__in=vis.owner_ids) | Q(department_id__in=vis.department_ids) | Q(pk=user.pk))
    people = list(qs.select_related("department").order_by("department__name", "name", "username")[:500])
    return sorted(people, key=lambda u: u.pk != user.pk)


# --- Conversion: existing accounts that look like the lead's company ---------------------------------
def mobile_ends(digits: str) -> Q:
    """Mobiles typed as 13812345678, 138 1234 5678 or 138-1234-5678 ending like ``digits``
    (narrow enough for the database; callers compare the digits exactly)."""
    tail, last = digits[-8:-4], digits[-4:]
    return Q(mobile__endswith=tail + last) | Q(mobile__endswith=f"{tail} {last}") | Q(mobile__endswith=f"{tail}-{last}")


@dataclass
class Candidate:
    account: Account
    reasons: list[str] = field(default_factory=list)

    @property
    def reason_labels(self) -> list[str]:
        return [str(REASONS[r]) for r in self.reasons]


def _reasons() -> dict[str, Any]:
    from django.utils.translation import gettext_lazy

    return {"credit_code": gettext_lazy("same credit code"), "name": gettext_lazy("similar name"),
            "phone": gettext_lazy("same phone"), "mobile": gettext_lazy("a contact with the same mobile")}


REASONS = _reasons()


@dataclass
class Matches:
    visible: list[Candidate]
    hidden: set[str]  # reasons of matching accounts the user cannot see

    def hidden_messages(self) -> list[str]:
        out = []
        if "credit_code" in self.hidden:
            out.append(_("A customer with this credit code already exists, owned by another department — "
                         "ask your manager."))
        if self.hidden - {"credit_code"}:
            out.append(_("A customer with a similar name or the same phone number exists in another department — "
                         "ask your manager before creating a new one."))
        return out

    @property
    def blocks_new(self) -> bool:
        """A live account already holds the credit code: a new one cannot take it."""
        return "credit_code" in self.hidden or any("credit_code" in c.reasons for c in self.visible)


def _found(qs: QuerySet[Account], *, name: str, credit_code: str, phones: list[str],
           limit: int) -> dict[int, tuple[Account, list[str]]]:
    found: dict[int, tuple[Account, list[str]]] = {}

    def add(rows: Any, reason: str) -> None:
        for row in rows:
            entry = found.setdefault(row.pk, (row, []))
            if reason not in entry[1]:
                entry[1].append(reason)

    if credit_code:
        add(qs.filter(credit_code=credit_code.strip().upper())[:limit], "credit_code")
    short = search.short_name(name)
    if short:
        # The search text starts with the normalised name (core/search.py): a prefix match
        # finds 某某科技有限公司 for 某某科技 and for 某某科技股份有限公司.
        rows = qs.filter(search_text__startswith=short)[:limit * 5]
        add([a for a in rows if search.normalise(a.name).startswith(short)
             or search.short_name(a.name) == short][:limit], "name")
    seen_digits: set[str] = set()
    for phone in phones:
        digits = phone_digits(phone)[-11:]
        if len(digits) < MIN_PHONE_DIGITS or digits in seen_digits:
            continue
        seen_digits.add(digits)
        rows = qs.filter(search_matches(digits))[:limit * 5]
        add([a for a in rows if phone_digits(a.phone).endswith(digits)][:limit], "phone")
        account_ids = {c.account_id for c in Contact.objects.filter(mobile_ends(digits))
                       .only("account_id", "mobile")[:limit * 5] if phone_digits(c.mobile).endswith(digits)}
        if account_ids:
            add(qs.filter(pk__in=account_ids)[:limit], "mobile")
    return found


def account_candidates_for(user: Any, *, name: str, credit_code: str = "", phones: list[str] | None = None,
                           limit: int = CANDIDATE_LIMIT) -> Matches:
    """Live accounts that look like the company described: the ones the user sees (to pick
    one) and the reasons matching hidden ones share (never their names)."""
    phones = [p for p in (phones or []) if p]
    visible = _found(account_scope(user).select_related("owner"), name=name, credit_code=credit_code,
                     phones=phones, limit=limit)
    everyone = _found(Account.objects.all(), name=name, credit_code=credit_code, phones=phones, limit=limit)
    hidden = {reason for pk, (_a, reasons) in everyone.items() if pk not in visible for reason in reasons}
    ranked = sorted(visible.values(), key=lambda item: (-len(item[1]), -item[0].pk))[:limit]
    return Matches(visible=[Candidate(account, reasons) for account, reasons in ranked], hidden=hidden)


def lead_account_candidates(user: Any, lead: Lead) -> Matches:
    return account_candidates_for(user, name=lead.company or lead.person_name, credit_code=lead.credit_code,
                                  phones=[lead.phone, lead.mobile])


def contact_match(account: Account, *, mobile: str, email: str) -> Contact | None:
    """A live person at ``account`` with the same mobile or e-mail (the lead's person, met before)."""
    q = Q()
    if mobile:
        q |= mobile_ends(mobile)
    if email:
        q |= Q(email__iexact=email)
    if not q:
        return None
    for contact in Contact.objects.filter(account=account).filter(q).order_by("id")[:20]:
        if (mobile and phone_digits(contact.mobile).endswith(mobile[-11:])) or (
                email and contact.email.lower() == email.lower()):
            return contact
    return None
