"""HTML views of contact and follow-up: follow-ups (R3.2) and cadence rules.

Follow-ups: my list (or a colleague's I manage), detail, plan one, edit, and the four
actions — done (with the outcome and an optional next step), reschedule, reassign,
cancel — which the account page's tab posts to as well (``next`` brings the user back).
Cadence rules: the administration page of how often each grade × urgency is contacted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.activities import selectors, services
from guanxi.activities.models import CadenceRule, FollowUp
from guanxi.activities.views.interactions import (
    datetime_widget,
    error_text,
    local_input,
    safe_next,
    set_choices,
    styled,
    visible_account,
)
from guanxi.core import selectors as core_selectors
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.views import form_errors, posted_version
from guanxi.customers.models import Account, Contact, Grade

PAGE_SIZE = 50


def _followup(request: HttpRequest, pk: int) -> FollowUp:
    return selectors.get_one(selectors.followup_scope, request.user, pk,  # type: ignore[no-any-return]
                             "account", "owner", "contact")


def _detail_url(followup: FollowUp) -> str:
    return reverse("activities:followup-detail", args=[followup.pk])


# --- Forms --------------------------------------------------------------------------------------
class FollowUpForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Next step"), max_length=200)
    due_at = forms.DateTimeField(label=gettext_lazy("Due"), widget=datetime_widget())
    contact = forms.ChoiceField(label=gettext_lazy("Contact"), required=False)
    owner = forms.ChoiceField(label=gettext_lazy("Owner"))
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        contacts = Contact.objects.filter(account=account).order_by("name").values_list("id", "name")[:200]
        set_choices(self, "contact", [("", "—"), *[(str(pk), name) for pk, name in contacts]])
        set_choices(self, "owner", [(str(pk), label) for pk, label in selectors.assignee_choices(account)])
        styled(self)


class FollowUpEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    title = forms.CharField(label=gettext_lazy("Next step"), max_length=200)
    contact = forms.ChoiceField(label=gettext_lazy("Contact"), required=False)
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, account_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        contacts = Contact.objects.filter(account_id=account_id).order_by("name").values_list("id", "name")[:200]
        set_choices(self, "contact", [("", "—"), *[(str(pk), name) for pk, name in contacts]])
        styled(self)


# --- List and detail ----------------------------------------------------------------------------
@requires("followup.view")
def followup_list(request: HttpRequest) -> HttpResponse:
    """Mine by default; ``owner`` (a colleague I manage, or ``all``), ``state``, ``due_from``,
    ``due_to``, ``overdue``, ``account``."""
    user: Any = request.user
    status = 200
    try:
        qs = selectors.followup_list_for(user, request.GET)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        qs, status = FollowUp.objects.none(), exc.status
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    people = selectors.people_i_manage(user)
    return render(request, "activities/followup_list.html", {
        "page": page, "people": people if len(people) > 1 else [], "f": request.GET,
        "states": [("open", _("Open")), ("done", _("Done")), ("cancelled", _("Cancelled")), ("all", _("All"))],
        "now": timezone.now(),
    }, status=status)


@requires("followup.view")
def followup_detail(request: HttpRequest, pk: int) -> HttpResponse:
    followup = _followup(request, pk)
    return render(request, "activities/followup_detail.html", {
        "followup": followup, "now": timezone.now(),
        "history": core_selectors.history_for(followup)[:20],
        "assignees": selectors.assignee_choices(followup.account, exclude=followup.owner_id)
        if followup.state == FollowUp.State.OPEN else [],
        "due_input": local_input(followup.due_at),
    })


@requires("followup.add")
def followup_create(request: HttpRequest) -> HttpResponse:
    """Plan a next step on ``?account=<id>`` (owner: the account's owner unless chosen)."""
    user: Any = request.user
    params = request.POST if request.method == "POST" else request.GET
    account = visible_account(user, params.get("account"))
    form = FollowUpForm(request.POST or None, account=account,
                        initial={"owner": str(account.owner_id or user.pk),
                                 "due_at": local_input(timezone.now() + dt.timedelta(days=1))})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                followup = services.followup_create(
                    actor=user, account=account, title=data["title"], due_at=data["due_at"],
                    owner=int(data["owner"]), contact=int(data["contact"]) if data["contact"] else None,
                    notes=data["notes"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Follow-up planned: %(title)s.") % {"title": followup.title})
                return redirect(safe_next(request, _detail_url(followup)))
        else:
            status = 422
    return render(request, "activities/followup_form.html", {
        "form": form, "account": account, "title": _("Plan a follow-up for %(account)s") % {"account": account},
        "next": safe_next(request, ""),
    }, status=status)


@requires("followup.change")
def followup_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    followup = _followup(request, pk)
    form = FollowUpEditForm(request.POST or None, account_id=followup.account_id, initial={
        "version": followup.version, "title": followup.title, "notes": followup.notes,
        "contact": str(followup.contact_id or "")})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            changes = {"title": data["title"], "notes": data["notes"],
                       "contact": int(data["contact"]) if data["contact"] else None}
            try:
                services.followup_update(actor=user, followup=followup, changes=changes,
                                         expected_version=data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Saved."))
                return redirect(_detail_url(followup))
        else:
            status = 422
    return render(request, "activities/followup_form.html", {
        "form": form, "account": followup.account, "followup": followup,
        "title": _("Edit %(name)s") % {"name": followup}, "next": "",
    }, status=status)


# --- The four actions ---------------------------------------------------------------------------
def _act(request: HttpRequest, followup: FollowUp, action: Any, done: str) -> HttpResponse:
    """Run one action; success or failure is a message on the page the user came from."""
    try:
        action()
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done)
    return redirect(safe_next(request, _detail_url(followup)))


@requires("followup.change")
@require_POST
def followup_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """Done, with ``outcome``; ``next_title`` and ``next_due`` plan the next step."""
    followup = _followup(request, pk)
    title = request.POST.get("next_title", "").strip()
    next_step = {"title": title, "due_at": request.POST.get("next_due", "")} if title else None
    return _act(request, followup, lambda: services.followup_complete(
        actor=request.user, followup=followup, outcome=request.POST.get("outcome", ""),
        expected_version=posted_version(request), next_step=next_step),
        _("Done: %(title)s.") % {"title": followup.title})


@requires("followup.change")
@require_POST
def followup_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    followup = _followup(request, pk)
    return _act(request, followup, lambda: services.followup_reschedule(
        actor=request.user, followup=followup, due_at=request.POST.get("due_at", ""),
        expected_version=posted_version(request), note=request.POST.get("note", "")),
        _("Rescheduled: %(title)s.") % {"title": followup.title})


@requires("followup.change")
def followup_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the form (only the form for htmx: the account page loads it on demand, the list
    of colleagues who see the account costs a few queries). POST: hand it over."""
    followup = _followup(request, pk)
    if request.method != "POST":
        context = {"followup": followup, "next": safe_next(request, _detail_url(followup)),
                   "assignees": selectors.assignee_choices(followup.account, exclude=followup.owner_id)}
        template = "activities/followup_reassign_form.html" if request.htmx else "activities/followup_reassign.html"  # type: ignore[attr-defined]
        return render(request, template, context)
    owner = request.POST.get("owner", "")
    return _act(request, followup, lambda: services.followup_reassign(
        actor=request.user, followup=followup, owner=int(owner) if owner.isdigit() else None,
        expected_version=posted_version(request), note=request.POST.get("note", "")),
        _("Reassigned: %(title)s.") % {"title": followup.title})


@requires("followup.change")
@require_POST
def followup_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    followup = _followup(request, pk)
    return _act(request, followup, lambda: services.followup_cancel(
        actor=request.user, followup=followup, expected_version=posted_version(request),
        note=request.POST.get("note", "")),
        _("Cancelled: %(title)s.") % {"title": followup.title})


# --- Cadence rules ------------------------------------------------------------------------------
def grade_choices() -> list[tuple[str, str]]:
    rows = Grade.objects.order_by("-min_score").values_list("code", "name")
    return [("", _("Any grade")), *[(code, f"{code} · {name}") for code, name in rows]]


class CadenceRuleForm(forms.Form):
    grade = forms.ChoiceField(label=gettext_lazy("Grade"), required=False)
    urgency = forms.ChoiceField(label=gettext_lazy("Follow-up urgency"), required=False,
                                choices=[("", gettext_lazy("Any urgency")), *Account.Urgency.choices])
    interval_days = forms.IntegerField(label=gettext_lazy("Every (days)"), min_value=1, max_value=366)
    title = forms.CharField(label=gettext_lazy("Follow-up title"), max_length=200, required=False,
                            help_text=gettext_lazy("Empty: “Keep in touch (every N days)”."))
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, rule: CadenceRule | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_choices(self, "grade", grade_choices())
        if rule is not None:
            # Which accounts a rule covers is its identity: to change it, add another rule.
            for name in ("grade", "urgency"):
                self.fields[name].disabled = True
            self.fields["version"] = forms.IntegerField(widget=forms.HiddenInput)
        styled(self)


@requires("cadence.manage")
def cadence_list(request: HttpRequest) -> HttpResponse:
    return render(request, "activities/cadence_list.html", {"rules": list(CadenceRule.objects.all())})


@requires("cadence.manage")
def cadence_create(request: HttpRequest) -> HttpResponse:
    form = CadenceRuleForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.cadence_rule_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Saved."))
                return redirect("activities:cadence-list")
        else:
            status = 422
    return render(request, "activities/cadence_form.html", {"form": form, "title": _("New cadence rule")},
                  status=status)


@requires("cadence.manage")
def cadence_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = CadenceRule.objects.filter(pk=pk).first()
    if rule is None:
        raise NotFound()
    form = CadenceRuleForm(request.POST or None, rule=rule, initial={
        "grade": rule.grade, "urgency": rule.urgency, "interval_days": rule.interval_days, "title": rule.title,
        "active": rule.active, "version": rule.version})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.cadence_rule_update(actor=request.user, rule=rule, expected_version=data["version"],
                                             changes={k: data[k] for k in ("interval_days", "title", "active")})
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Saved."))
                return redirect("activities:cadence-list")
        else:
            status = 422
    return render(request, "activities/cadence_form.html", {"form": form, "rule": rule,
                                                             "title": _("Edit cadence rule %(rule)s") % {"rule": rule}},
                  status=status)


urlpatterns: list[URLPattern] = [
    path("followups/", followup_list, name="followup-list"),
    path("followups/new/", followup_create, name="followup-create"),
    path("followups/<int:pk>/", followup_detail, name="followup-detail"),
    path("followups/<int:pk>/edit/", followup_edit, name="followup-edit"),
    path("followups/<int:pk>/done/", followup_complete, name="followup-complete"),
    path("followups/<int:pk>/reschedule/", followup_reschedule, name="followup-reschedule"),
    path("followups/<int:pk>/reassign/", followup_reassign, name="followup-reassign"),
    path("followups/<int:pk>/cancel/", followup_cancel, name="followup-cancel"),
    path("cadence/", cadence_list, name="cadence-list"),
    path("cadence/new/", cadence_create, name="cadence-create"),
    path("cadence/<int:pk>/edit/", cadence_edit, name="cadence-edit"),
]
