"""HTML views of care (R3.5, R3.6): the care calendar, care plans, festival greetings,
greeting templates and support given. Thin: parse → scoped read → service → render."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import groupby
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

from guanxi.activities.models import CarePlan, GreetingTemplate, Interaction, Occasion, Support
from guanxi.activities.selectors import care as reads
from guanxi.activities.selectors import care_scope, get_one, support_scope
from guanxi.activities.services import care as services
from guanxi.core.errors import Forbidden, NotFound, ServiceError
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.views import error_text, form_errors, style_form
from guanxi.customers import account_page
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import contact_scope

# Birthdays and plans shown per month: enough for a salesperson's book; a manager who sees
# more narrows the page to their own accounts.
MONTH_LIMIT = 300
SEND_KINDS = [(k, label) for k, label in Interaction.Kind.choices
              if k in (Interaction.Kind.MESSAGE, Interaction.Kind.VISIT, Interaction.Kind.CALL,
                       Interaction.Kind.EMAIL, Interaction.Kind.MEETING)]


# --- The care calendar ---------------------------------------------------------------------------
def _month(value: str) -> dt.date:
    try:
        year, month = (int(part) for part in value.split("-"))
        return dt.date(year, month, 1)
    except (ValueError, TypeError):
        return timezone.localdate().replace(day=1)


@requires("care.view")
def care_calendar(request: HttpRequest) -> HttpResponse:
    """A month of festivals, birthdays and care plans, day by day (a list: it reads on a phone)."""
    first = _month(request.GET.get("month", ""))
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    mine = request.GET.get("mine") == "1"
    events = reads.care_events(request.user, first, last, mine=mine, limit=MONTH_LIMIT)
    birthdays = {e.contact_id for e in events if e.kind == "birthday"}
    days = [(day, list(items)) for day, items in groupby(events, key=lambda e: e.date)]
    return render(request, "activities/care_calendar.html", {
        "days": days, "month": first, "mine": mine, "today": timezone.localdate(),
        "previous": (first - dt.timedelta(days=1)).strftime("%Y-%m"), "next": (last + dt.timedelta(days=1)).strftime("%Y-%m"),
        "capped": len(birthdays) >= MONTH_LIMIT,
    })


# --- Care plans ----------------------------------------------------------------------------------
class CarePlanForm(forms.Form):
    occasion = forms.ChoiceField(label=gettext_lazy("Occasion"), choices=Occasion.choices)
    date = forms.DateField(label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    contact = forms.ChoiceField(label=gettext_lazy("Person"), required=False)
    message = forms.CharField(label=gettext_lazy("Greeting"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    gift = forms.CharField(label=gettext_lazy("Gift"), required=False, max_length=200)
    gift_value = forms.DecimalField(label=gettext_lazy("Gift value (CNY)"), required=False, min_value=0,
                                    max_digits=12, decimal_places=2)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, people: Iterable[Contact] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["contact"].choices = [("", _("(the account as a whole)")),  # type: ignore[attr-defined]
                                          *[(str(c.pk), c.name + (f" · {c.title}" if c.title else "")) for c in people]]
        style_form(self)


def _people(account_id: int) -> list[Contact]:
    return list(Contact.objects.filter(account_id=account_id).order_by("name", "id")[:200])


@requires("care.add")
def care_plan_create(request: HttpRequest) -> HttpResponse:
    """Plan a greeting or gift: from a birthday (``?contact=``) or for an account (``?account=``)."""
    user: Any = request.user
    contact: Contact | None = None
    if request.GET.get("contact"):
        contact = get_one(contact_scope, user, request.GET["contact"], "account")
        assert contact is not None
        account = contact.account
    else:
        account = records.get_visible(user, Account, request.GET.get("account"))
    occasion = request.GET.get("occasion", Occasion.BIRTHDAY if contact else Occasion.OTHER)
    if occasion not in Occasion.values:
        occasion = Occasion.OTHER
    initial = {"occasion": occasion, "date": request.GET.get("date") or timezone.localdate(),
               "contact": str(contact.pk) if contact else ""}
    if contact is not None:
        initial["message"] = reads.greeting_for(contact, occasion, me=user)
    form = CarePlanForm(request.POST or None, initial=initial, people=_people(account.pk))
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            plan = services.care_plan_create(actor=user, account=account, **data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Planned: %(plan)s.") % {"plan": plan})
            return redirect(reverse("activities:care-calendar") + f"?month={plan.date:%Y-%m}")
    return render(request, "activities/care_plan_form.html", {
        "form": form, "account": account, "contact": contact, "plan": None,
        "title": _("Plan a greeting or gift")})


def _plan(request: HttpRequest, pk: int) -> CarePlan:
    plan: CarePlan = get_one(care_scope, request.user, pk, "account", "contact", "owner")
    return plan


@requires("care.view")
def care_plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A care plan: while planned, its form (for those who may change it); then what was sent."""
    plan = _plan(request, pk)
    editable = plan.state == CarePlan.State.PLANNED and has_perm(request.user, "care.change")
    initial = {"occasion": plan.occasion, "date": plan.date, "contact": str(plan.contact_id or ""),
               "message": plan.message, "gift": plan.gift, "gift_value": plan.gift_value, "version": plan.version}
    form = CarePlanForm(request.POST or None, initial=initial, people=_people(plan.account_id))
    if request.method == "POST":
        if not has_perm(request.user, "care.change"):
            raise Forbidden()
        if not editable:
            messages.error(request, _("Only a greeting that is still planned can be changed."))
            return redirect("activities:care-plan-edit", pk=plan.pk)
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
            data["contact"] = data["contact"] or None
            try:
                services.care_plan_update(actor=request.user, plan=plan, changes=data,
                                          expected_version=form.cleaned_data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(reverse("activities:care-calendar") + f"?month={plan.date:%Y-%m}")
    return render(request, "activities/care_plan_form.html", {
        "form": form, "account": plan.account, "contact": plan.contact, "plan": plan, "editable": editable,
        "title": str(plan)})


class SentForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Sent as"), choices=SEND_KINDS, initial=Interaction.Kind.MESSAGE)
    occurred_at = forms.DateTimeField(label=gettext_lazy("When"), required=False,
                                      widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                 format="%Y-%m-%dT%H:%M"))
    message = forms.CharField(label=gettext_lazy("Greeting"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    gift = forms.CharField(label=gettext_lazy("Gift"), required=False, max_length=200)
    gift_value = forms.DecimalField(label=gettext_lazy("Gift value (CNY)"), required=False, min_value=0,
                                    max_digits=12, decimal_places=2)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


@requires("care.change")
def care_plan_sent(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a planned greeting or gift as sent: logs the contact (purpose care) on the account."""
    plan = _plan(request, pk)
    initial = {"kind": Interaction.Kind.MESSAGE, "occurred_at": timezone.localtime().replace(second=0, microsecond=0),
               "message": plan.message, "gift": plan.gift, "gift_value": plan.gift_value, "version": plan.version}
    form = SentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.care_plan_mark_sent(actor=request.user, plan=plan, kind=data["kind"],
                                         occurred_at=data["occurred_at"], message=data["message"], gift=data["gift"],
                                         gift_value=data["gift_value"], expected_version=data["version"])
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Recorded as sent; the contact is on the account's timeline."))
            return redirect(reverse("activities:care-calendar") + f"?month={plan.date:%Y-%m}")
    return render(request, "activities/care_plan_sent.html", {"form": form, "plan": plan})


@requires("care.change")
@require_POST
def care_plan_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    plan = _plan(request, pk)
    version = request.POST.get("version", "")
    try:
        services.care_plan_cancel(actor=request.user, plan=plan,
                                  expected_version=int(version) if version.isdigit() else None)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Cancelled."))
    return redirect(reverse("activities:care-calendar") + f"?month={plan.date:%Y-%m}")


@requires("care.add")
def care_festival(request: HttpRequest) -> HttpResponse:
    """Plan a festival's greeting for many of one's own contacts at once, each worded for
    how close we are to them."""
    user: Any = request.user
    source = request.POST if request.method == "POST" else request.GET
    occasion = source.get("occasion", "")
    try:
        day = dt.date.fromisoformat(source.get("date", ""))
    except ValueError:
        raise NotFound() from None
    if occasion not in services.FESTIVAL_OCCASIONS or reads.festival_date(occasion, day.year) != day:
        raise NotFound()
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("contacts") if i.isdigit()]
        chosen = list(contact_scope(user).filter(account__owner_id=user.pk, pk__in=ids).select_related("account"))
        try:
            created = services.care_plans_for_festival(actor=user, occasion=occasion, date=day, contacts=chosen)
        except ServiceError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("%(n)d greetings planned.") % {"n": len(created)})
            return redirect(reverse("activities:care-calendar") + f"?month={day:%Y-%m}")
    templates = reads.greeting_templates()
    planned = set(care_scope(user).filter(occasion=occasion, date=day).exclude(state=CarePlan.State.CANCELLED)
                  .values_list("contact_id", flat=True))
    rows = [(c, reads.greeting_for(c, occasion, me=user, templates=templates), c.pk in planned)
            for c in reads.festival_contacts(user)]
    return render(request, "activities/care_festival.html", {
        "rows": rows, "occasion": occasion, "label": Occasion(occasion).label, "day": day,
        "warm": reads.WARM_DEPTHS})


# --- Greeting templates (greeting.manage) -----------------------------------------------------------
class GreetingForm(forms.Form):
    occasion = forms.ChoiceField(label=gettext_lazy("Occasion"), choices=Occasion.choices)
    depth = forms.ChoiceField(label=gettext_lazy("Relationship depth"), required=False,
                              choices=[("", gettext_lazy("(any depth)")), *Contact.Depth.choices])
    body = forms.CharField(label=gettext_lazy("Greeting"), widget=forms.Textarea(attrs={"rows": 5}),
                           help_text=gettext_lazy("Placeholders: {name} the person's name, {title} their job title, "
                                                  "{company} their account, {me} your name."))
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


@requires("greeting.manage")
def greeting_list(request: HttpRequest) -> HttpResponse:
    """Every occasion × depth with the wording it gets and where that comes from."""
    saved = {(t.occasion, t.depth): t for t in GreetingTemplate.objects.all()}
    texts = {key: t.body for key, t in saved.items()}
    rows = []
    for occasion, occasion_label in Occasion.choices:
        for depth, depth_label in [("", _("(any depth)")), *Contact.Depth.choices]:
            template = saved.get((occasion, depth))
            rows.append({"occasion": occasion, "occasion_label": occasion_label, "depth": depth,
                         "depth_label": depth_label, "template": template,
                         "text": reads.greeting_text(occasion, depth, texts)})
    return render(request, "activities/care_greetings.html", {"rows": rows})


@requires("greeting.manage")
def greeting_create(request: HttpRequest) -> HttpResponse:
    occasion = request.GET.get("occasion", "")
    depth = request.GET.get("depth", "")
    initial = {"occasion": occasion, "depth": depth,
               "body": reads.builtin_greeting(occasion, depth) if occasion in Occasion.values else ""}
    form = GreetingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.greeting_template_create(actor=request.user, occasion=data["occasion"], depth=data["depth"],
                                              body=data["body"])
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("activities:greeting-list")
    return render(request, "activities/care_greeting_form.html", {"form": form, "template": None,
                                                                  "title": _("New greeting")})


def _template(pk: int) -> GreetingTemplate:
    template = GreetingTemplate.objects.filter(pk=pk).first()
    if template is None:
        raise NotFound()
    return template


@requires("greeting.manage")
def greeting_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = _template(pk)
    initial = {"occasion": template.occasion, "depth": template.depth, "body": template.body,
               "version": template.version}
    form = GreetingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            services.greeting_template_update(actor=request.user, template=template, changes=data,
                                              expected_version=form.cleaned_data["version"])
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("activities:greeting-list")
    return render(request, "activities/care_greeting_form.html", {"form": form, "template": template,
                                                                  "title": str(template)})


@requires("greeting.manage")
@require_POST
def greeting_delete(request: HttpRequest, pk: int) -> HttpResponse:
    services.greeting_template_delete(actor=request.user, template=_template(pk))
    messages.success(request, _("Removed; the built-in wording applies again."))
    return redirect("activities:greeting-list")


# --- Support given (R3.6) ------------------------------------------------------------------------
class SupportForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Support.Kind.choices)
    description = forms.CharField(label=gettext_lazy("What was given"), widget=forms.Textarea(attrs={"rows": 3}))
    value = forms.DecimalField(label=gettext_lazy("Value (CNY)"), required=False, min_value=0, max_digits=14,
                               decimal_places=2)
    given_on = forms.DateField(label=gettext_lazy("Given on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    outcome = forms.CharField(label=gettext_lazy("Outcome"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


@requires("care.view")
def support_list(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The support given to one account, with the form to record more."""
    account = records.get_visible(request.user, Account, account_pk)
    form = SupportForm(request.POST or None, initial={"given_on": timezone.localdate()})
    if request.method == "POST":
        if not has_perm(request.user, "care.add"):
            raise Forbidden()
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
            try:
                services.support_create(actor=request.user, account=account, **data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Support recorded."))
                return redirect("activities:support-list", account_pk=account.pk)
    rows = reads.support_of(request.user, account.pk)
    total = sum((r.value for r in rows if r.value is not None), start=0)
    return render(request, "activities/care_support.html", {"account": account, "rows": rows, "form": form,
                                                            "total": total})


def _support(request: HttpRequest, pk: int) -> Support:
    support: Support = get_one(support_scope, request.user, pk, "account")
    return support


@requires("care.change")
def support_edit(request: HttpRequest, pk: int) -> HttpResponse:
    support = _support(request, pk)
    initial = {k: getattr(support, k) for k in services.SUPPORT_EDITABLE}
    form = SupportForm(request.POST or None, initial={**initial, "version": support.version})
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        try:
            services.support_update(actor=request.user, support=support, changes=data,
                                    expected_version=form.cleaned_data["version"])
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("activities:support-list", account_pk=support.account_id)
    return render(request, "activities/care_support_form.html", {
        "form": form, "support": support, "account": support.account,
        "can_delete": has_perm(request.user, "care.delete")})


@requires("care.delete")
@require_POST
def support_delete(request: HttpRequest, pk: int) -> HttpResponse:
    support = _support(request, pk)
    try:
        services.support_delete(actor=request.user, support=support)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Moved to the recycle bin."))
    return redirect("activities:support-list", account_pk=support.account_id)


# --- The account page's "Care & support" tab ----------------------------------------------------------
PANEL_ROWS = 10


@requires("care.view")
def account_care(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The tab's content, fetched when the tab is opened (the page itself pays no query)."""
    account = records.get_visible(request.user, Account, account_pk)
    return render(request, "activities/care_account_panel.html", {
        "account": account, "plans": reads.care_plans_of(request.user, account.pk, limit=PANEL_ROWS),
        "support": reads.support_of(request.user, account.pk, limit=PANEL_ROWS)})


account_page.register(account_page.Tab(
    key="care", label=gettext_lazy("Care & support"), template="activities/care_account_tab.html",
    perm="care.view", order=60,
))

urlpatterns: list[URLPattern] = [
    path("care/", care_calendar, name="care-calendar"),
    path("care/plans/new/", care_plan_create, name="care-plan-create"),
    path("care/plans/<int:pk>/", care_plan_edit, name="care-plan-edit"),
    path("care/plans/<int:pk>/sent/", care_plan_sent, name="care-plan-sent"),
    path("care/plans/<int:pk>/cancel/", care_plan_cancel, name="care-plan-cancel"),
    path("care/festival/", care_festival, name="care-festival"),
    path("care/greetings/", greeting_list, name="greeting-list"),
    path("care/greetings/new/", greeting_create, name="greeting-create"),
    path("care/greetings/<int:pk>/", greeting_edit, name="greeting-edit"),
    path("care/greetings/<int:pk>/delete/", greeting_delete, name="greeting-delete"),
    path("accounts/<int:account_pk>/care/", account_care, name="account-care"),
    path("accounts/<int:account_pk>/support/", support_list, name="support-list"),
    path("support/<int:pk>/", support_edit, name="support-edit"),
    path("support/<int:pk>/delete/", support_delete, name="support-delete"),
]
