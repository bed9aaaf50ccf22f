"""S1 — every route declares its permission, and the declarations match a reviewed snapshot.

The walker goes through Django's URL configuration. The REST API is one mount whose
routes Django only sees as ninja's wrappers, so for it the walker reads the NinjaAPI
instance itself: every operation of every router must carry ``guanxi_permission`` (set by
``guanxi.core.permissions.declare``). ninja's own views (the OpenAPI schema, the docs page
and the API root) live outside the routers and are allowed by name only.

When a declaration changes, or a route is added or removed, ``DECLARATIONS`` below must
change in the same commit, so the change shows up in review (as Twenty keeps its snapshot).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from guanxi.core.api import api
from guanxi.core.permissions import AUTHENTICATED, PUBLIC, ROLE_PERMISSIONS
from tests.security.sales_routes import SALES_ROUTES
from tests.security.service_routes import SERVICE_ROUTES

API_PREFIX = "/api/v1"

# ninja's own views: served by ninja for the API mount, not declared through guanxi.
# The schema and the docs page are public on purpose (R13.3: the running server serves its
# OpenAPI schema); the API root is ninja's path anchor and always answers 404.
NINJA_OWN_VIEWS = {"openapi-json": 200, "openapi-view": 200, "api-root": 404}

DECLARATIONS: dict[str, str] = {
    # --- HTML views: "namespace:name" ---
    "core:home": "authenticated",
    "core:health": "public",  # load balancers and systemd probe it (guanxi/core/health.py)
    "core:desk-panel": "authenticated",
    "core:login": "public",
    "core:logout": "authenticated",
    "core:language": "public",
    "core:notifications": "authenticated",
    "core:notification-badge": "authenticated",
    "core:profile": "authenticated",
    "core:org-users": "org.manage",
    "core:org-user-create": "org.manage",
    "core:org-user-edit": "org.manage",
    "core:org-user-active": "org.manage",
    "core:org-departments": "org.manage",
    "core:org-teams": "org.manage",
    "core:grants": "authenticated",
    "core:grant-action": "authenticated",
    "core:approvals": "authenticated",
    "core:approval-detail": "authenticated",
    "core:audit": "audit.view_all",
    "core:outbox": "audit.view_all",
    "core:outbox-retry": "org.manage",
    "core:history": "authenticated",
    "core:recycle-bin": "recycle.view",
    "core:recycle-restore": "recycle.view",
    "core:job-detail": "authenticated",
    "core:job-download": "authenticated",
    "core:api-docs": "public",
    "customers:account-list": "account.view",
    "customers:account-create": "account.add",
    "customers:account-export": "account.export",
    "customers:account-detail": "account.view",
    # The 360 page's tabs that load after it (customers/views/page.py), scoped like the page.
    "customers:account-timeline": "account.view",
    "customers:account-rating": "account.view",
    "customers:account-ownership": "account.view",
    "customers:account-files": "account.view",
    "customers:account-history": "account.view",
    "customers:account-edit": "account.change",
    "customers:account-delete": "account.delete",
    "customers:account-approve": "account.approve",
    # --- REST API: "METHOD /api/v1/path" ---
    "POST /api/v1/tokens": "public",
    "DELETE /api/v1/tokens/{token_id}": "authenticated",
    "GET /api/v1/me": "authenticated",
    "GET /api/v1/departments": "authenticated",
    "POST /api/v1/departments": "org.manage",
    "PATCH /api/v1/departments/{pk}": "org.manage",
    "DELETE /api/v1/departments/{pk}": "org.manage",
    "GET /api/v1/users": "authenticated",
    "POST /api/v1/users": "org.manage",
    "GET /api/v1/users/{pk}": "authenticated",
    "PATCH /api/v1/users/{pk}": "authenticated",
    "POST /api/v1/users/{pk}/deactivate": "org.manage",
    "POST /api/v1/users/{pk}/activate": "org.manage",
    "GET /api/v1/teams": "authenticated",
    "POST /api/v1/teams": "org.manage",
    "GET /api/v1/grants": "authenticated",
    "POST /api/v1/grants": "grant.request",
    "POST /api/v1/grants/{pk}/approve": "grant.decide",
    "POST /api/v1/grants/{pk}/reject": "grant.decide",
    "POST /api/v1/grants/{pk}/revoke": "authenticated",
    "GET /api/v1/change-requests": "authenticated",
    "GET /api/v1/change-requests/{pk}": "authenticated",
    "POST /api/v1/change-requests/{pk}/approve": "authenticated",
    "POST /api/v1/change-requests/{pk}/reject": "authenticated",
    "POST /api/v1/change-requests/{pk}/cancel": "authenticated",
    "GET /api/v1/audit": "audit.view_all",
    "GET /api/v1/history/{record_type}/{pk}": "authenticated",
    "GET /api/v1/recycle-bin": "recycle.view",
    "POST /api/v1/recycle-bin/{record_type}/{pk}/restore": "recycle.view",
    "GET /api/v1/jobs/{job_id}": "authenticated",
    "GET /api/v1/notifications": "authenticated",
    "POST /api/v1/notifications/read": "authenticated",
    "GET /api/v1/accounts": "account.view",
    "POST /api/v1/accounts": "account.add",
    "GET /api/v1/accounts/{int:pk}": "account.view",
    "PATCH /api/v1/accounts/{int:pk}": "account.change",
    "DELETE /api/v1/accounts/{int:pk}": "account.delete",
    "POST /api/v1/accounts/{int:pk}/approve": "account.approve",
    "POST /api/v1/accounts/export": "account.export",
    "GET /api/v1/approval-policies": "authenticated",
    "GET /api/v1/contacts": "contact.view",
    "POST /api/v1/contacts": "contact.add",
    "GET /api/v1/contacts/{int:pk}": "contact.view",
    "PATCH /api/v1/contacts/{int:pk}": "contact.change",
    "DELETE /api/v1/contacts/{int:pk}": "contact.delete",
    "customers:contact-create": "contact.add",
    "customers:contact-detail": "contact.view",
    "customers:contact-edit": "contact.change",
    "customers:contact-delete": "contact.delete",
    "PUT /api/v1/approval-policies/{model}": "approvalpolicy.manage",
    "core:org-policies": "approvalpolicy.manage",
    # --- customers: classification (categories, tags, grades, factors, ratings) ---
    "customers:rating-rate": "account.rate",
    "customers:rating-factor-scores": "account.rate",
    "customers:category-list": "category.manage",
    "customers:category-edit": "category.manage",
    "customers:grade-list": "rating.manage",
    "customers:grade-edit": "rating.manage",
    "customers:rerate-all": "rating.manage",
    "customers:factor-list": "rating.manage",
    "customers:factor-edit": "rating.manage",
    "GET /api/v1/categories": "account.view",
    "POST /api/v1/categories": "category.manage",
    "PATCH /api/v1/categories/{int:pk}": "category.manage",
    "GET /api/v1/grades": "account.view",
    "PATCH /api/v1/grades/{int:pk}": "rating.manage",
    "GET /api/v1/rating-factors": "account.view",
    "PATCH /api/v1/rating-factors/{int:pk}": "rating.manage",
    "GET /api/v1/accounts/{int:pk}/ratings": "account.view",
    "POST /api/v1/accounts/{int:pk}/ratings": "account.rate",
    "PUT /api/v1/accounts/{int:pk}/factor-scores/{factor_key}": "account.rate",
    "POST /api/v1/ratings/rerate-all": "rating.manage",
    # --- customers: pool (pool, claims, release, reassignment, ownership history) ---
    "customers:pool-list": "pool.view",
    "customers:pool-claim": "pool.claim",
    "customers:pool-settings": "pool.manage",
    "customers:book-reassign": "account.reassign",
    "customers:account-release": "pool.release",
    "customers:account-reassign": "account.reassign",
    "POST /api/v1/accounts/{int:pk}/reassign": "account.reassign",
    "POST /api/v1/accounts/reassign": "account.reassign",
    "GET /api/v1/books/{int:user_id}/preview": "account.reassign",
    "POST /api/v1/books/{int:user_id}/reassign": "account.reassign",
    "GET /api/v1/pool": "pool.view",
    "POST /api/v1/pool/{int:pk}/claim": "pool.claim",
    "POST /api/v1/accounts/{int:pk}/release": "pool.release",
    "GET /api/v1/accounts/{int:pk}/ownership": "account.view",
    "GET /api/v1/pool/settings": "pool.view",
    "PUT /api/v1/pool/settings": "pool.manage",
    # --- customers: imports ---
    "customers:import-upload": "account.import",
    "customers:import-result": "account.import",
    "customers:import-mapping": "account.import",
    "customers:import-preview": "account.import",
    "customers:import-start": "account.import",
    "customers:import-resume": "account.import",
    "customers:import-errors": "account.import",
    "customers:import-cards": "account.add",
    "POST /api/v1/imports": "account.import",
    "GET /api/v1/imports/{int:pk}": "account.import",
    "POST /api/v1/imports/{int:pk}/mapping": "account.import",
    "GET /api/v1/imports/{int:pk}/preview": "account.import",
    "POST /api/v1/imports/{int:pk}/start": "account.import",
    "GET /api/v1/imports/{int:pk}/errors": "account.import",
    "GET /api/v1/import-mappings": "account.import",
    "POST /api/v1/import-mappings": "account.import",
    # --- customers: merge ---
    "customers:duplicates": "account.merge",
    "customers:merge-pick": "account.merge",
    "customers:merge-compare": "account.merge",
    "customers:merge-undo": "account.merge",
    "customers:contact-merge-pick": "account.merge",
    "customers:contact-merge-compare": "account.merge",
    "POST /api/v1/accounts/{int:pk}/merge": "account.merge",
    "POST /api/v1/contacts/{int:pk}/merge": "account.merge",
    "GET /api/v1/merges": "account.view",
    "POST /api/v1/merges/{int:pk}/undo": "account.merge",
    "GET /api/v1/accounts/{int:pk}/duplicates": "account.view",
    # --- customers: lists (filters, saved views, bulk edit, custom fields, attachments, exports) ---
    "customers:saved-view-create": "account.view",
    "customers:saved-view-delete": "account.view",
    "customers:account-bulk": "account.change",
    "customers:account-row": "account.view",
    "customers:account-inline": "account.change",
    "customers:customfield-list": "customfield.manage",
    "customers:customfield-create": "customfield.manage",
    "customers:customfield-edit": "customfield.manage",
    "customers:attachment-upload": "account.change",
    "customers:attachment-download": "account.view",
    "customers:attachment-delete": "account.delete",
    "customers:contact-list": "contact.view",
    "GET /api/v1/saved-views": "account.view",
    "POST /api/v1/saved-views": "account.view",
    "DELETE /api/v1/saved-views/{int:pk}": "account.view",
    "POST /api/v1/accounts/bulk-update": "account.change",
    "GET /api/v1/custom-fields": "account.view",
    "GET /api/v1/accounts/{int:pk}/attachments": "account.view",
    "POST /api/v1/accounts/{int:pk}/attachments": "account.change",
    "GET /api/v1/attachments/{int:pk}/download": "account.view",
    "DELETE /api/v1/attachments/{int:pk}": "account.delete",
    # --- activities: interactions ---
    "activities:interaction-list": "interaction.view",
    "activities:interaction-create": "interaction.add",
    "activities:interaction-detail": "interaction.view",
    "activities:interaction-edit": "interaction.change",
    "activities:interaction-delete": "interaction.delete",
    "GET /api/v1/interactions": "interaction.view",
    "POST /api/v1/interactions": "interaction.add",
    "GET /api/v1/interactions/{int:pk}": "interaction.view",
    "PATCH /api/v1/interactions/{int:pk}": "interaction.change",
    "DELETE /api/v1/interactions/{int:pk}": "interaction.delete",
    # --- activities: follow-ups and cadence rules ---
    "activities:followup-list": "followup.view",
    "activities:followup-create": "followup.add",
    "activities:followup-detail": "followup.view",
    "activities:followup-edit": "followup.change",
    "activities:followup-complete": "followup.change",
    "activities:followup-reschedule": "followup.change",
    "activities:followup-reassign": "followup.change",
    "activities:followup-cancel": "followup.change",
    "activities:cadence-list": "cadence.manage",
    "activities:cadence-create": "cadence.manage",
    "activities:cadence-edit": "cadence.manage",
    "GET /api/v1/followups": "followup.view",
    "POST /api/v1/followups": "followup.add",
    "GET /api/v1/followups/{int:pk}": "followup.view",
    "PATCH /api/v1/followups/{int:pk}": "followup.change",
    "DELETE /api/v1/followups/{int:pk}": "followup.delete",
    "POST /api/v1/followups/{int:pk}/complete": "followup.change",
    "POST /api/v1/followups/{int:pk}/reschedule": "followup.change",
    "POST /api/v1/followups/{int:pk}/reassign": "followup.change",
    "POST /api/v1/followups/{int:pk}/cancel": "followup.change",
    "GET /api/v1/cadence-rules": "cadence.manage",
    "POST /api/v1/cadence-rules": "cadence.manage",
    "PATCH /api/v1/cadence-rules/{int:pk}": "cadence.manage",
    # --- activities: desk, notifications and digest ---
    "activities:desk-followup-done": "followup.change",
    "activities:desk-followup-snooze": "followup.change",
    "activities:desk-digest": "authenticated",
    # --- activities: care, support and calendar feed ---
    "activities:care-calendar": "care.view",
    "activities:care-plan-create": "care.add",
    "activities:care-plan-edit": "care.view",
    "activities:care-plan-sent": "care.change",
    "activities:care-plan-cancel": "care.change",
    "activities:care-festival": "care.add",
    "activities:greeting-list": "greeting.manage",
    "activities:greeting-create": "greeting.manage",
    "activities:greeting-edit": "greeting.manage",
    "activities:greeting-delete": "greeting.manage",
    "activities:account-care": "care.view",
    "activities:support-list": "care.view",
    "activities:support-edit": "care.change",
    "activities:support-delete": "care.delete",
    "activities:calendar-feed": "authenticated",
    "activities:calendar-feed-create": "authenticated",
    "activities:calendar-feed-revoke": "authenticated",
    "activities:calendar-feed-ics": "public",  # the key in the URL is the credential (R13.4)
    "GET /api/v1/care-events": "care.view",
    "GET /api/v1/care-plans": "care.view",
    "POST /api/v1/care-plans": "care.add",
    "GET /api/v1/care-plans/{int:pk}": "care.view",
    "PATCH /api/v1/care-plans/{int:pk}": "care.change",
    "DELETE /api/v1/care-plans/{int:pk}": "care.delete",
    "POST /api/v1/care-plans/{int:pk}/sent": "care.change",
    "GET /api/v1/support": "care.view",
    "POST /api/v1/support": "care.add",
    "GET /api/v1/support/{int:pk}": "care.view",
    "PATCH /api/v1/support/{int:pk}": "care.change",
    "DELETE /api/v1/support/{int:pk}": "care.delete",
    "GET /api/v1/greeting-templates": "care.view",
    "POST /api/v1/greeting-templates": "greeting.manage",
    "PATCH /api/v1/greeting-templates/{int:pk}": "greeting.manage",
    "GET /api/v1/calendar-feeds": "authenticated",
    "POST /api/v1/calendar-feeds": "authenticated",
    "DELETE /api/v1/calendar-feeds/{int:pk}": "authenticated",
    # --- activities: projects and cost approval ---
    "activities:project-list": "project.view",
    "activities:project-create": "project.add",
    "activities:project-detail": "project.view",
    "activities:project-edit": "project.change",
    "activities:project-state": "project.change",
    "activities:project-delete": "project.delete",
    "activities:phase-create": "project.change",
    "activities:phase-edit": "project.change",
    "activities:phase-move": "project.change",
    "activities:phase-start": "project.change",
    "activities:phase-complete": "project.change",
    "activities:costchange-create": "project.change",
    "activities:costchange-link": "project.change",
    "activities:costchange-withdraw": "project.change",
    "activities:costchange-record": "project.change",
    "activities:cost-approval": "public",
    "activities:account-projects": "project.view",
    "GET /api/v1/projects": "project.view",
    "POST /api/v1/projects": "project.add",
    "GET /api/v1/projects/{int:pk}": "project.view",
    "PATCH /api/v1/projects/{int:pk}": "project.change",
    "DELETE /api/v1/projects/{int:pk}": "project.delete",
    "GET /api/v1/projects/{int:pk}/phases": "project.view",
    "POST /api/v1/projects/{int:pk}/phases": "project.change",
    "PATCH /api/v1/phases/{int:pk}": "project.change",
    "POST /api/v1/phases/{int:pk}/start": "project.change",
    "POST /api/v1/phases/{int:pk}/complete": "project.change",
    "GET /api/v1/phases/{int:pk}/cost-changes": "project.view",
    "POST /api/v1/phases/{int:pk}/cost-changes": "project.change",
    "POST /api/v1/cost-changes/{int:pk}/link": "project.change",
    "POST /api/v1/cost-changes/{int:pk}/withdraw": "project.change",
    "POST /api/v1/cost-changes/{int:pk}/record-decision": "project.change",
    # --- activities: written confirmation and weekly report ---
    "activities:interaction-confirmation-preview": "interaction.view",
    "activities:interaction-confirmation": "interaction.view",
    "activities:interaction-confirmation-eml": "interaction.view",
    "activities:account-weekly-report": "interaction.view",
    "activities:project-weekly-report": "project.view",
    "GET /api/v1/interactions/{int:pk}/confirmation.pdf": "interaction.view",
    "GET /api/v1/interactions/{int:pk}/confirmation.eml": "interaction.view",
    "GET /api/v1/accounts/{int:pk}/weekly-report": "interaction.view",
    "GET /api/v1/projects/{int:pk}/weekly-report": "project.view",
    # --- activities: business check ---
    "activities:check": "activity.check",
    "GET /api/v1/business-check": "activity.check",
}
# The sales app declares its routes area by area (tests/security/sales_routes/).
DECLARATIONS.update(SALES_ROUTES)
# The service and loyalty apps likewise (tests/security/service_routes/).
DECLARATIONS.update(SERVICE_ROUTES)


# --- Walking the configuration ---------------------------------------------------------------------
def walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yield (route, qualified name, callback) for every URL pattern, recursing into includes."""
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern, route, inner)
        else:
            assert isinstance(pattern, URLPattern)
            yield route, f"{namespace}{pattern.name}" if pattern.name else "", pattern.callback


def is_ninja(callback: Any) -> bool:
    target = callback.func if isinstance(callback, functools.partial) else callback
    return getattr(target, "__module__", "").startswith("ninja")


def django_routes() -> list[tuple[str, str, Any]]:
    return [r for r in walk(get_resolver()) if not is_ninja(r[2])]


def ninja_routes() -> list[tuple[str, str, Any]]:
    return [r for r in walk(get_resolver()) if is_ninja(r[2])]


def api_operations() -> Iterator[tuple[str, Any]]:
    """Yield ("METHOD /api/v1/path", operation) for every operation of every router."""
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                for method in op.methods:
                    yield f"{method} {API_PREFIX}{prefix}{path}", op


def live_declarations() -> dict[str, str | None]:
    live: dict[str, str | None] = {}
    for _route, name, callback in django_routes():
        live[name] = getattr(callback, "guanxi_permission", None)
    for key, op in api_operations():
        live[key] = getattr(op.view_func, "guanxi_permission", None)
    return live


KNOWN_PERMISSIONS = {PUBLIC, AUTHENTICATED}.union(*ROLE_PERMISSIONS.values())


# --- Tests ------------------------------------------------------------------------------------------
def test_every_django_view_declares_its_permission() -> None:
    undeclared = [f"{route} ({name or 'unnamed'})" for route, name, cb in django_routes()
                  if not hasattr(cb, "guanxi_permission")]
    assert not undeclared, f"routes open by omission: {undeclared}"


def test_every_django_route_has_a_unique_name() -> None:
    names = [name for _route, name, _cb in django_routes()]
    assert all(names), "an unnamed route cannot be kept in the snapshot"
    assert len(names) == len(set(names))


def test_every_api_operation_declares_its_permission() -> None:
    undeclared = [key for key, op in api_operations() if not hasattr(op.view_func, "guanxi_permission")]
    assert not undeclared, f"API operations open by omission: {undeclared}"


def test_only_ninjas_own_views_sit_outside_the_routers() -> None:
    """The API mount holds router operations plus ninja's schema, docs and root, nothing else."""
    operation_names = {getattr(op, "url_name", None) or op.view_func.__name__ for _key, op in api_operations()}
    for route, name, callback in ninja_routes():
        assert route.startswith(API_PREFIX.lstrip("/") + "/"), f"a second ninja mount at {route}"
        short = name.split(":")[-1]
        if isinstance(callback, functools.partial):
            assert short in NINJA_OWN_VIEWS, f"unexpected ninja view {name} at {route}"
        else:
            assert short in operation_names, f"ninja route {name} at {route} is not in any router"


@pytest.mark.django_db
@pytest.mark.parametrize("name,status", NINJA_OWN_VIEWS.items())
def test_ninjas_own_views_are_public_on_purpose(name: str, status: int, client: Any) -> None:
    from django.urls import reverse

    response = client.get(reverse(f"api:{name}"))
    assert response.status_code == status
    if name == "openapi-json":
        assert f"{API_PREFIX}/accounts" in response.json()["paths"]


def test_declarations_match_the_reviewed_snapshot() -> None:
    assert live_declarations() == DECLARATIONS


def test_every_declared_permission_exists() -> None:
    """A typo in a declaration would lock everyone out (or, worse, hide a missing right)."""
    unknown = {key: perm for key, perm in DECLARATIONS.items() if perm not in KNOWN_PERMISSIONS}
    assert not unknown
