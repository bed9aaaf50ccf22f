"""Who may do what: the one table of role rights, and the declaration every route carries.

Visibility (which records a user sees) lives in ``access.py``; this module answers
"may this user perform this action at all". Both are read by services and selectors,
never re-implemented in views.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

from guanxi.core.models import Role

R = Role.Code


class Scope(IntEnum):
    """How far a role sees records that have an owner; a larger value sees more."""

    OWN = 1
    TEAM = 2
    DEPARTMENT = 3
    EVERYTHING = 4


ROLE_SCOPE: dict[str, Scope] = {
    R.SALESPERSON: Scope.OWN,  # R10.4: salespeople see only their own customers
    R.SERVICE_AGENT: Scope.OWN,
    R.SERVICE_MANAGER: Scope.DEPARTMENT,  # the service department's cases and those below it
    R.MARKETING: Scope.DEPARTMENT,
    R.SALES_MANAGER: Scope.DEPARTMENT,  # their department and every department below it
    R.GENERAL_MANAGER: Scope.EVERYTHING,
    R.ADMIN: Scope.EVERYTHING,
}

ACCOUNT_READ = {"account.view"}
ACCOUNT_WRITE = {"account.add", "account.change"}
# The customer pool (R13.1): salespeople and their managers claim from it and release to it.
POOL_USE = {"pool.view", "pool.claim", "pool.release"}
# What a sales manager decides about the customer file: delete, approve, export, reassign a
# book, merge duplicates, import spreadsheets, re-rate an account by hand.
ACCOUNT_MANAGE = {"account.delete", "account.approve", "account.export", "account.reassign", "account.merge",
                  "account.import", "account.rate"}
ROLE_PERMISSIONS: dict[str, set[str]] = {
    # R10.4: salespeople never hold a delete right.
    R.SALESPERSON: ACCOUNT_READ | ACCOUNT_WRITE | POOL_USE | {"grant.request"},
    R.SERVICE_AGENT: ACCOUNT_READ | {"grant.request"},
    R.SERVICE_MANAGER: ACCOUNT_READ | {"grant.request", "grant.decide", "recycle.view", "audit.view_scoped"},
    R.MARKETING: ACCOUNT_READ | {"account.export", "grant.request"},
    R.SALES_MANAGER: ACCOUNT_READ | ACCOUNT_WRITE | POOL_USE | ACCOUNT_MANAGE | {
        "grant.request", "grant.decide", "recycle.view", "audit.view_scoped",
    },
    R.GENERAL_MANAGER: ACCOUNT_READ | ACCOUNT_WRITE | POOL_USE | ACCOUNT_MANAGE | {
        "grant.request", "grant.decide", "recycle.view", "audit.view_scoped",
        "changerequest.decide", "rating.manage", "pool.manage",
    },
    R.ADMIN: ACCOUNT_READ | ACCOUNT_WRITE | ACCOUNT_MANAGE | {"pool.view"} | {
        "grant.decide", "recycle.view", "audit.view_all", "audit.view_scoped",
        "org.manage", "approvalpolicy.manage", "department.change", "department.delete",
        "team.change", "team.delete",
        # Configuration of the customer file: category tree, rating grades and factors,
        # pool rules, custom fields.
        "category.manage", "rating.manage", "pool.manage", "customfield.manage",
    },
}


# Contacts are people at accounts: whoever may do something to accounts may do the same
# to their contacts (visibility follows the account, see customers/selectors.py).
for _perms in ROLE_PERMISSIONS.values():
    _perms |= {p.replace("account.", "contact.", 1) for p in _perms
               if p.split(".")[1] in {"view", "add", "change", "delete"} and p.startswith("account.")}


# Contact and follow-up (R3): interactions, follow-ups, care plans and support, projects hang
# off an account, so the account rights decide them too (view → view, add/change → add and
# change, delete → delete). Service agents also log contacts and keep follow-ups.
ACTIVITY_RECORDS = ("interaction", "followup", "care", "project")
for _perms in ROLE_PERMISSIONS.values():
    for _verb in ("view", "add", "change", "delete"):
        if f"account.{_verb}" in _perms:
            _perms |= {f"{record}.{_verb}" for record in ACTIVITY_RECORDS}
for _code in (R.SERVICE_AGENT, R.SERVICE_MANAGER):
    ROLE_PERMISSIONS[_code] |= {"interaction.add", "followup.add", "followup.change", "care.add", "care.change"}
# A manager's business check of a salesperson or the team (R10.6).
for _code in (R.SALES_MANAGER, R.GENERAL_MANAGER, R.ADMIN):
    ROLE_PERMISSIONS[_code].add("activity.check")
# Configuration: cadence rules and greeting templates.
for _code in (R.GENERAL_MANAGER, R.ADMIN):
    ROLE_PERMISSIONS[_code] |= {"cadence.manage", "greeting.manage"}


# Sales (R4, R11.2–R11.4). Deals, quotes, orders and contracts are owned records: the role's
# scope (own / team / department / everything) decides which ones, these rights what may
# be done to them. Salespeople never delete; managers delete, approve discounts and export.
SALES_RECORDS = ("lead", "opportunity", "quote", "order", "contract")
SALES_WORK = {f"{record}.{verb}" for record in SALES_RECORDS for verb in ("view", "add", "change")} | {
    "product.view", "payment.view", "payment.add", "lead.convert", "rebate.view", "target.view", "forecast.view",
    "performance.view",
}
SALES_MANAGE = {f"{record}.delete" for record in SALES_RECORDS} | {
    "payment.delete", "rebate.delete", "lead.assign", "lead.import", "quote.approve", "sales.export", "product.manage",
    "rebate.manage", "target.manage", "performance.export",
}
for _code in (R.SALESPERSON, R.SALES_MANAGER, R.GENERAL_MANAGER):
    ROLE_PERMISSIONS[_code] |= SALES_WORK
for _code in (R.SALES_MANAGER, R.GENERAL_MANAGER):
    ROLE_PERMISSIONS[_code] |= SALES_MANAGE
# Marketing generates and hands out leads; service agents look up products.
ROLE_PERMISSIONS[R.MARKETING] |= {"product.view", "lead.view", "lead.add", "lead.change", "lead.assign",
                                  "lead.import"}
ROLE_PERMISSIONS[R.SERVICE_AGENT] |= {"product.view"}
ROLE_PERMISSIONS[R.SERVICE_MANAGER] |= {"product.view"}
# Configuration: pipelines and stages, loss reasons; the catalogue and price lists.
ROLE_PERMISSIONS[R.GENERAL_MANAGER] |= {"pipeline.manage"}
ROLE_PERMISSIONS[R.ADMIN] |= {"pipeline.manage", "product.view", "product.manage"}
# The catalogue's recycle bin: whoever maintains the catalogue restores its products and price lists.
for _perms in ROLE_PERMISSIONS.values():
    if "product.manage" in _perms:
        _perms.add("product.delete")


# Service (R5) and satisfaction surveys (R6.1). Complaints, suggestions and tickets are one
# owned record, the case: whoever first receives one owns it (首问负责) and only the owner moves
# it on, so anyone who may take a complaint on the phone — salespeople too — may receive a
# case. Salespeople read their customers' cases (case_scope); managers review replies,
# delete, export, see unmatched senders and configure categories, SLAs and holidays.
CASE_WORK = {"case.view", "case.add", "case.change", "visit.view", "improvement.view", "survey.view"}
SERVICE_WORK = CASE_WORK | {"visit.add", "visit.change", "survey.send", "service.report"}
SERVICE_MANAGE = {"case.delete", "case.review", "case.export", "case.unmatched", "visit.delete", "improvement.manage",
                  "survey.manage", "service.configure"}
for _code in (R.SALESPERSON, R.SALES_MANAGER):
    ROLE_PERMISSIONS[_code] |= CASE_WORK
ROLE_PERMISSIONS[R.SALES_MANAGER] |= {"service.report"}
ROLE_PERMISSIONS[R.SERVICE_AGENT] |= SERVICE_WORK
for _code in (R.SERVICE_MANAGER, R.GENERAL_MANAGER):
    ROLE_PERMISSIONS[_code] |= SERVICE_WORK | SERVICE_MANAGE
# Marketing runs the questionnaires and reads the results; the administrator sets up the
# service desk (categories, SLAs, business hours, holidays, public forms).
ROLE_PERMISSIONS[R.MARKETING] |= {"survey.view", "survey.manage"}
ROLE_PERMISSIONS[R.ADMIN] |= {"service.configure"}


def has_perm(user: Any, perm: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return any(perm in ROLE_PERMISSIONS.get(code, set()) for code in user.role_codes())


# --- Route declarations ------------------------------------------------------------------
PUBLIC = "public"
AUTHENTICATED = "authenticated"
F = TypeVar("F", bound=Callable[..., Any])


def declare(permission: str) -> Callable[[F], F]:
    """Mark a view or API operation with the permission it requires, and enforce it.

    ``public`` and ``authenticated`` are the two non-role levels; anything else is a
    role right from ROLE_PERMISSIONS. The URL walker test fails on any route without a
    declaration, so no endpoint is open by omission.
    """

    def mark(view: F) -> F:
        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            if permission != PUBLIC:
                from django.contrib.auth.views import redirect_to_login

                from guanxi.core.errors import Forbidden

                user = getattr(request, "user", None)
                if user is None or not user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                if permission != AUTHENTICATED and not has_perm(user, permission):
                    raise Forbidden()
            return view(request, *args, **kwargs)

        wrapper.guanxi_permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return mark
