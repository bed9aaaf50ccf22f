"""HTML views: merge — pick the other record, compare side by side, merge, undo; duplicates."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.errors import ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers import selectors
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import merge as reads
from guanxi.customers.services import merge as services

PICK_LIMIT = 20


def _display(obj: Any, name: str) -> Any:
    field = obj._meta.get_field(name)
    if field.choices:
        return getattr(obj, f"get_{name}_display")()
    value = getattr(obj, name)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return value if value not in (None, "") else ""


def _rows(kept: Any, merged: Any, names: tuple[str, ...], chosen: dict[str, str]) -> list[dict[str, Any]]:
    """One row per field: both values, and (where they differ) which side is selected."""
    differing = set(services.differing_fields(kept, merged, names))
    rows = []
    for name in names:
        rows.append({"name": name, "label": kept._meta.get_field(name).verbose_name,
                     "kept": _display(kept, name), "merged": _display(merged, name),
                     "differs": name in differing, "choice": chosen.get(name, services.KEPT)})
    for key in services.custom_clashes(kept, merged):
        name = f"custom.{key}"
        rows.append({"name": name, "label": key, "kept": kept.custom[key], "merged": merged.custom[key],
                     "differs": True, "choice": chosen.get(name, services.KEPT)})
    return rows


def _posted_choices(request: HttpRequest) -> dict[str, str]:
    return {key[len("choice-"):]: str(request.POST.get(key, "")) for key in request.POST if key.startswith("choice-")}


def _compare(request: HttpRequest, *, target: str, kept: Any, merged: Any) -> HttpResponse:
    names = services.ACCOUNT_FIELDS if target == "account" else services.CONTACT_FIELDS
    chosen = services.default_choices(kept, merged, names)
    error = ""
    if request.method == "POST":
        chosen.update(_posted_choices(request))
        versions = {"kept": request.POST.get("kept_version") or None,
                    "merged": request.POST.get("merged_version") or None}
        merge = services.account_merge if target == "account" else services.contact_merge
        try:
            merge(actor=request.user, kept=kept, merged=merged, choices=_posted_choices(request),
                  expected_versions=versions)
        except ServiceError as exc:
            error = exc.message + "".join(f" {k}: {' '.join(v)}" for k, v in exc.errors.items())
        else:
            messages.success(request, _("%(merged)s was merged into %(kept)s. You can undo it from the history.")
                             % {"merged": merged, "kept": kept})
            if target == "account":
                return redirect("customers:account-detail", pk=kept.pk)
            return redirect("customers:contact-detail", pk=kept.pk)
    counts = [(rel.verbose, n) for rel, n in services.related_counts(target, merged)]
    return render(request, "customers/merge_compare.html", {
        "target": target, "kept": kept, "merged": merged, "rows": _rows(kept, merged, names, chosen),
        "counts": counts, "error": error,
        "swap_url": reverse("customers:merge-compare" if target == "account" else "customers:contact-merge-compare",
                            args=[merged.pk, kept.pk]),
        "back_url": reverse("customers:account-detail" if target == "account" else "customers:contact-detail",
                            args=[kept.pk]),
    }, status=422 if error else 200)


@requires("account.merge")
def merge_pick(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    q = request.GET.get("q", "").strip()
    results = list(selectors.account_list_for(request.user, q=q).exclude(pk=pk)[:PICK_LIMIT]) if q else []
    return render(request, "customers/merge_pick.html", {
        "target": "account", "record": account, "q": q, "results": results,
        "candidates": reads.duplicate_candidates_for(request.user, account),
        "history": [], "compare_name": "customers:merge-compare",
    })


@requires("account.merge")
def merge_compare(request: HttpRequest, pk: int, other: int) -> HttpResponse:
    kept = records.get_visible(request.user, Account, pk)
    merged = records.get_visible(request.user, Account, other)
    if kept.pk == merged.pk:
        messages.error(request, _("A record cannot be merged with itself."))
        return redirect("customers:merge-pick", pk=pk)
    return _compare(request, target="account", kept=kept, merged=merged)


@requires("account.merge")
@require_POST
def merge_undo(request: HttpRequest, merge_id: int) -> HttpResponse:
    record = reads.merge_get_for(request.user, merge_id)
    kept_url = reverse("customers:account-detail" if record.target == "account" else "customers:contact-detail",
                       args=[record.kept_id])
    try:
        services.merge_undo(actor=request.user, record=record)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The merge was undone: %(name)s is back.") % {"name": record.before.get("name", "")})
    return redirect(kept_url)


@requires("account.merge")
def duplicates(request: HttpRequest) -> HttpResponse:
    return render(request, "customers/merge_duplicates.html",
                  {"groups": reads.duplicate_groups_for(request.user)})


@requires("account.merge")
def contact_merge_pick(request: HttpRequest, pk: int) -> HttpResponse:
    contact = records.get_visible(request.user, Contact, pk)
    q = request.GET.get("q", "").strip()
    return render(request, "customers/merge_pick.html", {
        "target": "contact", "record": contact, "q": q,
        "results": reads.contact_search_for(request.user, contact, q) if q else [],
        "candidates": [reads.Candidate(c, ["name"]) for c in reads.contact_candidates_for(request.user, contact)],
        "history": _with_undo(reads.merges_for(request.user, target="contact", record_id=contact.pk)[:20], contact),
        "compare_name": "customers:contact-merge-compare",
    })


def _with_undo(rows: Any, record: models.Model) -> list[Any]:
    out = list(rows)
    for row in out:
        row.undo_safe = row.undone_at is None and row.before.get("version") == getattr(record, "version", None)
    return out


@requires("account.merge")
def contact_merge_compare(request: HttpRequest, pk: int, other: int) -> HttpResponse:
    kept = records.get_visible(request.user, Contact, pk)
    merged = records.get_visible(request.user, Contact, other)
    if kept.pk == merged.pk:
        messages.error(request, _("A record cannot be merged with itself."))
        return redirect("customers:contact-merge-pick", pk=pk)
    return _compare(request, target="contact", kept=kept, merged=merged)


urlpatterns: list[URLPattern] = [
    path("duplicates/", duplicates, name="duplicates"),
    path("<int:pk>/merge/", merge_pick, name="merge-pick"),
    path("<int:pk>/merge/<int:other>/", merge_compare, name="merge-compare"),
    path("merges/<int:merge_id>/undo/", merge_undo, name="merge-undo"),
    path("contacts/<int:pk>/merge/", contact_merge_pick, name="contact-merge-pick"),
    path("contacts/<int:pk>/merge/<int:other>/", contact_merge_compare, name="contact-merge-compare"),
]
