"""HTML views: the customer pool, its settings, release and reassignment of accounts and books."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.core.views import form_errors
from guanxi.customers.models import Account, Grade, PoolSettings
from guanxi.customers.selectors import account_scope
from guanxi.customers.selectors import pool as reads
from guanxi.customers.services import pool as services

PAGE_SIZE = 50


@requires("pool.view")
def pool_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    q, region, grade = (request.GET.get(k, "").strip() for k in ("q", "region", "grade"))
    page = CappedPaginator(reads.pool_list_for(user, q=q, region=region, grade=grade), PAGE_SIZE).get_page(
        request.GET.get("page"))
    page.object_list = reads.with_last_owners(list(page.object_list))
    return render(request, "customers/pool_list.html", {
        "page": page, "q": q, "region": region, "grade": grade, "regions": reads.pool_regions(),
        "grades": Grade.objects.order_by("-min_score"), "claimed": services.claim_count(user),
        "cap": PoolSettings.current().claim_cap,
    })


@requires("pool.claim")
@require_POST
def pool_claim(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        account = services.pool_claim(actor=request.user, account=reads.pool_get(request.user, pk))
    except NotFound:
        messages.error(request, _("This account is no longer in the pool."))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(name)s is now yours.") % {"name": account})
        return redirect("customers:account-detail", pk=account.pk)
    return redirect("customers:pool-list")


@requires("pool.release")
@require_POST
def account_release(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    try:
        services.pool_release(actor=request.user, account=account, reason=request.POST.get("reason", ""))
    except ServiceError as exc:
        messages.error(request, " ".join([exc.message, *[m for ms in exc.errors.values() for m in ms]]))
        return redirect("customers:account-detail", pk=pk)
    messages.success(request, _("%(name)s was released to the customer pool.") % {"name": account})
    return redirect("customers:account-list")


@requires("account.reassign")
@require_POST
def account_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, pk)
    to_user = reads.managed_users(request.user).filter(pk=request.POST.get("to_user") or 0).first()
    try:
        services.account_reassign(actor=request.user, accounts=[account], to_user=to_user,
                                  reason=request.POST.get("reason", ""))
    except ServiceError as exc:
        messages.error(request, " ".join([exc.message, *[m for ms in exc.errors.values() for m in ms]]))
        return redirect("customers:account-detail", pk=pk)
    messages.success(request, _("%(name)s now belongs to %(user)s.") % {"name": account, "user": to_user})
    if account_scope(request.user).filter(pk=pk).exists():
        return redirect("customers:account-detail", pk=pk)
    return redirect("customers:account-list")


class PoolSettingsForm(forms.Form):
    claim_cap = forms.IntegerField(label=gettext_lazy("Most accounts one salesperson may hold from the pool"),
                                   min_value=0)
    default_return_days = forms.IntegerField(label=gettext_lazy("Days without a follow-up or deal before return"),
                                             min_value=1,
                                             help_text=gettext_lazy("A grade can set its own number of days."))
    notice_days = forms.IntegerField(label=gettext_lazy("Days of advance notice to the owner"), min_value=0)
    auto_return = forms.BooleanField(label=gettext_lazy("Return idle accounts to the pool automatically"),
                                     required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)


@requires("pool.manage")
def pool_settings(request: HttpRequest) -> HttpResponse:
    current = PoolSettings.current()
    initial = {f: getattr(current, f) for f in ("claim_cap", "default_return_days", "notice_days", "auto_return")}
    form = PoolSettingsForm(request.POST or None, initial={**initial, "version": current.version})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.pool_settings_update(actor=request.user, expected_version=version, **data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("customers:pool-settings")
    return render(request, "core/form.html", {"form": form, "title": _("Customer pool settings")})


def _users(actor: Any, ids: list[str], *, active_only: bool) -> list[User | None]:
    """Resolve ids among the people the actor manages; an unknown one becomes None (refused by the service)."""
    found = {str(u.pk): u for u in reads.managed_users(actor, active_only=active_only).filter(
        pk__in=[i for i in ids if i.isdigit()])}
    return [found.get(i) for i in ids if i]


@requires("account.reassign")
def book_reassign(request: HttpRequest) -> HttpResponse:
    """Choose a person (deactivated ones too) → preview what moves and to whom → confirm."""
    actor: Any = request.user
    data = request.POST if request.method == "POST" else request.GET
    owners = reads.managed_users(actor, active_only=False)
    context: dict[str, Any] = {"owners": owners, "colleagues": reads.managed_users(actor),
                               "strategies": [("round_robin", _("Share out in turn")),
                                              ("all_to_first", _("All to the first colleague chosen"))]}
    from_user = owners.filter(pk=data.get("from_user") or 0).first() if str(data.get("from_user", "")).isdigit() else None
    targets = _users(actor, data.getlist("to_users"), active_only=True)
    strategy = data.get("strategy", "round_robin")
    reason = data.get("reason", "")
    context.update(from_user=from_user, chosen=[str(t.pk) for t in targets if t], strategy=strategy, reason=reason)
    if from_user is not None:
        try:
            if request.method == "POST":
                result = services.book_reassign(actor=actor, from_user=from_user, to_users=targets, reason=reason,
                                                strategy=strategy)
                messages.success(request, _("%(count)d accounts of %(user)s were reassigned.") % {
                    "count": result.moved, "user": from_user})
                return redirect(f"{request.path}?from_user={from_user.pk}")
            context["preview"] = services.book_reassign_preview(actor=actor, from_user=from_user, to_users=targets,
                                                                strategy=strategy)
        except ServiceError as exc:
            context["errors"] = [exc.message] if not exc.errors else [m for ms in exc.errors.values() for m in ms]
            if request.method == "POST" or targets:
                context["preview"] = services.book_reassign_preview(actor=actor, from_user=from_user)
    return render(request, "customers/reassign_book.html", context)


urlpatterns: list[URLPattern] = [
    path("pool/", pool_list, name="pool-list"),
    path("pool/<int:pk>/claim/", pool_claim, name="pool-claim"),
    path("pool/settings/", pool_settings, name="pool-settings"),
    path("reassign/", book_reassign, name="book-reassign"),
    path("<int:pk>/release/", account_release, name="account-release"),
    path("<int:pk>/reassign/", account_reassign, name="account-reassign"),
]
