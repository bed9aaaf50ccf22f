"""HTML views of the service desk's configuration (``service.configure``), below
``/service/settings/``: case categories, SLA policies, business hours and holidays. Thin:
parse → service → render; the rules live in ``services.sla_setup`` and ``services.calendar``.
The SLA desk panel registers from ``views.sla_desk`` (imported here, so at start-up)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.permissions import ROLE_PERMISSIONS
from guanxi.core.permissions import declare as requires
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.sales.views.common import act
from guanxi.service.models import CaseCategory, Holiday, Kind, Severity, SlaPolicy
from guanxi.service.services import calendar as calendars
from guanxi.service.services import sla_setup as services
from guanxi.service.views import sla_desk  # noqa: F401  (registers the desk panel)

CONFIGURE = "service.configure"
WEEKDAY_CHOICES = [
    ("1", pgettext_lazy("weekday", "Mon")), ("2", pgettext_lazy("weekday", "Tue")),
    ("3", pgettext_lazy("weekday", "Wed")), ("4", pgettext_lazy("weekday", "Thu")),
    ("5", pgettext_lazy("weekday", "Fri")), ("6", pgettext_lazy("weekday", "Sat")),
    ("7", pgettext_lazy("weekday", "Sun")),
]


def responders() -> Any:
    """Active users who may handle cases (the roles holding ``case.change``)."""
    codes = [code for code, perms in ROLE_PERMISSIONS.items() if "case.change" in perms]
    return User.objects.filter(is_active=True, roles__code__in=codes).distinct().order_by("name", "username")


# --- Forms --------------------------------------------------------------------------------
class CategoryForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("For"), required=False,
                             choices=[("", gettext_lazy("Any kind of case")), *Kind.choices])
    needs_review = forms.BooleanField(label=gettext_lazy("The reply needs a supervisor's review"), required=False)
    responder = forms.ModelChoiceField(label=gettext_lazy("First responder"), queryset=User.objects.none(),
                                       required=False, empty_label=gettext_lazy("— a service manager —"),
                                       help_text=gettext_lazy("Receives cases of this category that arrive "
                                                              "without a person (public form, e-mail)."))
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    position = forms.IntegerField(label=pgettext_lazy("position in a list", "Order"), min_value=0, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["responder"].queryset = responders()  # type: ignore[attr-defined]
        style_form(self)


class CategoryEditForm(CategoryForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class PolicyForm(forms.Form):
    category = forms.ModelChoiceField(label=gettext_lazy("Category"), queryset=CaseCategory.objects.none(),
                                      required=False, empty_label=gettext_lazy("Default (categories without their "
                                                                               "own policy)"))
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=Severity.choices, initial=Severity.NORMAL)
    response_hours = forms.IntegerField(label=gettext_lazy("First response within: hours"), min_value=0,
                                        initial=0)
    response_minutes = forms.IntegerField(label=gettext_lazy("and minutes"), min_value=0, max_value=59, initial=0)
    resolution_hours = forms.IntegerField(label=gettext_lazy("Resolution within: hours"), min_value=0, initial=0)
    resolution_minutes = forms.IntegerField(label=gettext_lazy("and minutes"), min_value=0, max_value=59, initial=0)
    warn_percent = forms.IntegerField(
        label=gettext_lazy("Warn the owner when this percentage of the time has passed"), min_value=1,
        max_value=99, initial=75)
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, day_minutes: int = 540, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = CaseCategory.objects.order_by("position", "id")  # type: ignore[attr-defined]
        hint = _("Business time: a working day is %(day)s.") % {"day": calendars.format_minutes(day_minutes)}
        self.fields["resolution_hours"].help_text = hint
        style_form(self)

    def minutes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"category": data["category"], "severity": data["severity"],
                "first_response_minutes": data["response_hours"] * 60 + data["response_minutes"],
                "resolution_minutes": data["resolution_hours"] * 60 + data["resolution_minutes"],
                "warn_percent": data["warn_percent"], "active": data["active"]}


class PolicyEditForm(PolicyForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class HoursForm(forms.Form):
    day_start = forms.TimeField(label=gettext_lazy("Working day starts"),
                                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    day_end = forms.TimeField(label=gettext_lazy("Working day ends"),
                              widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    weekdays = forms.MultipleChoiceField(label=gettext_lazy("Working weekdays"), choices=WEEKDAY_CHOICES,
                                         widget=forms.CheckboxSelectMultiple, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


class HolidayForm(forms.Form):
    day = forms.DateField(label=gettext_lazy("Day"), widget=forms.DateInput(attrs={"type": "date"},
                                                                            format="%Y-%m-%d"))
    type = forms.ChoiceField(label=gettext_lazy("Type"), choices=Holiday.Type.choices, initial=Holiday.Type.HOLIDAY,
                             help_text=gettext_lazy("A public holiday is a day off on a working weekday; an "
                                                    "adjusted working day (调休) is a weekend day worked."))
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


class HolidayEditForm(HolidayForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


# --- Helpers ------------------------------------------------------------------------------
def _one(model: Any, pk: int) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


def _form_page(request: HttpRequest, form: forms.Form, title: str, status: int = 200, *,
               section: str, back: str, delete_url: str = "", version: int | None = None) -> HttpResponse:
    return render(request, "service/settings_form.html", {
        "form": form, "title": title, "section": section, "back": back, "delete_url": delete_url,
        "version": version}, status=status)


POLICY_FIELDS = {"first_response_minutes": "response_hours", "resolution_minutes": "resolution_hours"}


def _policy_errors(form: forms.Form, exc: ServiceError) -> None:
    """The service names minutes; the form asks hours and minutes: put the messages there."""
    exc.errors = {POLICY_FIELDS.get(name, name): msgs for name, msgs in exc.errors.items()}
    form_errors(form, exc)


def _save(request: HttpRequest, form: forms.Form, save: Any, *, on_error: Any = form_errors) -> int | None:
    """Validate the posted form and call ``save(cleaned_data)``; None once saved, else the status."""
    if request.method != "POST":
        return 200
    if not form.is_valid():
        return 422
    try:
        save(dict(form.cleaned_data))
    except ServiceError as exc:
        on_error(form, exc)
        return exc.status
    return None


def _year(request: HttpRequest) -> int:
    value = request.GET.get("year", "")
    if value.isdigit() and 1900 <= int(value) <= 2999:
        return int(value)
    return timezone.localdate().year


# --- Overview -----------------------------------------------------------------------------
@requires(CONFIGURE)
def settings_home(request: HttpRequest) -> HttpResponse:
    row = calendars.calendar_row()
    year = timezone.localdate().year
    holidays = calendars.holidays_of(year)
    return render(request, "service/settings_home.html", {
        "section": "home", "calendar": row, "weekdays": _weekday_labels(row.weekdays), "year": year,
        "holiday_count": sum(1 for h in holidays if h.type == Holiday.Type.HOLIDAY),
        "workday_count": sum(1 for h in holidays if h.type == Holiday.Type.WORKDAY),
        "categories": CaseCategory.objects.filter(active=True).count(),
        "policies": SlaPolicy.objects.filter(active=True).count()})


def _weekday_labels(weekdays: str) -> list[str]:
    names = dict(WEEKDAY_CHOICES)
    return [str(names[d]) for d in weekdays if d in names]


# --- Categories ---------------------------------------------------------------------------
@requires(CONFIGURE)
def category_list(request: HttpRequest) -> HttpResponse:
    categories = list(CaseCategory.objects.select_related("responder").order_by("position", "id"))
    used = services.categories_in_use()
    for category in categories:
        category.in_use = category.pk in used  # type: ignore[attr-defined]
    return render(request, "service/settings_categories.html", {"section": "categories", "categories": categories})


def _categories_url() -> str:
    return reverse("service:settings-categories")


@requires(CONFIGURE)
def category_create(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST or None)
    status = _save(request, form, lambda data: services.category_create(actor=request.user, **data))
    if status is None:
        messages.success(request, _("Category added."))
        return redirect(_categories_url())
    return _form_page(request, form, _("New case category"), status, section="categories", back=_categories_url())


@requires(CONFIGURE)
def category_edit(request: HttpRequest, pk: int) -> HttpResponse:
    category = _one(CaseCategory, pk)
    form = CategoryEditForm(request.POST or None, initial={
        "name": category.name, "kind": category.kind, "needs_review": category.needs_review,
        "responder": category.responder, "active": category.active, "position": category.position,
        "version": category.version})

    def save(data: dict[str, Any]) -> None:
        version = data.pop("version")
        services.category_update(actor=request.user, category=category, changes=data, expected_version=version)

    status = _save(request, form, save)
    if status is None:
        messages.success(request, _("Saved."))
        return redirect(_categories_url())
    delete_url = "" if services.category_in_use(category) else reverse("service:settings-category-delete",
                                                                       args=[category.pk])
    return _form_page(request, form, _("Edit category %(name)s") % {"name": category.name}, status,
                      section="categories", back=_categories_url(), delete_url=delete_url, version=category.version)


@requires(CONFIGURE)
@require_POST
def category_delete(request: HttpRequest, pk: int) -> HttpResponse:
    category = _one(CaseCategory, pk)
    return act(request, lambda: services.category_delete(actor=request.user, category=category,
                                                         expected_version=posted_version(request)),
               lambda: _("Category %(name)s deleted.") % {"name": category.name}, _categories_url())


# --- SLA policies -------------------------------------------------------------------------
@requires(CONFIGURE)
def policy_list(request: HttpRequest) -> HttpResponse:
    """A matrix: the default row and one row per category, a column per severity."""
    day = calendars.current().day_minutes
    policies = list(SlaPolicy.objects.select_related("category"))
    by_key = {(p.category_id, p.severity): p for p in policies}
    severities = list(reversed(Severity.choices))  # critical first
    categories = list(CaseCategory.objects.order_by("position", "id"))

    def cells(category_id: int | None) -> list[dict[str, Any]]:
        out = []
        for value, _label in severities:
            policy = by_key.get((category_id, value))
            out.append({"severity": value, "policy": policy,
                        "response": calendars.format_minutes(policy.first_response_minutes, day_minutes=day)
                        if policy else "",
                        "resolution": calendars.format_minutes(policy.resolution_minutes, day_minutes=day)
                        if policy else ""})
        return out

    rows: list[dict[str, Any]] = [{"category": None, "cells": cells(None)}]
    rows += [{"category": c, "cells": cells(c.pk)} for c in categories]
    return render(request, "service/settings_sla.html", {
        "section": "sla", "rows": rows, "severities": severities,
        "day": calendars.format_minutes(day)})


def _policies_url() -> str:
    return reverse("service:settings-sla")


@requires(CONFIGURE)
def policy_create(request: HttpRequest) -> HttpResponse:
    day = calendars.current().day_minutes
    initial: dict[str, Any] = {}
    category_id = request.GET.get("category", "")
    if category_id.isdigit():
        initial["category"] = CaseCategory.objects.filter(pk=category_id).first()
    if request.GET.get("severity") in Severity.values:
        initial["severity"] = request.GET["severity"]
    form = PolicyForm(request.POST or None, initial=initial, day_minutes=day)
    status = _save(request, form, lambda data: services.policy_create(actor=request.user, **form.minutes()),
                   on_error=_policy_errors)
    if status is None:
        messages.success(request, _("SLA policy added."))
        return redirect(_policies_url())
    return _form_page(request, form, _("New SLA policy"), status, section="sla", back=_policies_url())


@requires(CONFIGURE)
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _one(SlaPolicy, pk)
    day = calendars.current().day_minutes
    form = PolicyEditForm(request.POST or None, day_minutes=day, initial={
        "category": policy.category, "severity": policy.severity,
        "response_hours": policy.first_response_minutes // 60, "response_minutes": policy.first_response_minutes % 60,
        "resolution_hours": policy.resolution_minutes // 60, "resolution_minutes": policy.resolution_minutes % 60,
        "warn_percent": policy.warn_percent, "active": policy.active, "version": policy.version})

    def save(data: dict[str, Any]) -> None:
        services.policy_update(actor=request.user, policy=policy, changes=form.minutes(),
                               expected_version=data["version"])

    status = _save(request, form, save, on_error=_policy_errors)
    if status is None:
        messages.success(request, _("Saved."))
        return redirect(_policies_url())
    return _form_page(request, form, _("Edit SLA policy %(name)s") % {"name": policy}, status, section="sla",
                      back=_policies_url(), delete_url=reverse("service:settings-sla-delete", args=[policy.pk]),
                      version=policy.version)


@requires(CONFIGURE)
@require_POST
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _one(SlaPolicy, pk)
    return act(request, lambda: services.policy_delete(actor=request.user, policy=policy,
                                                       expected_version=posted_version(request)),
               lambda: _("SLA policy deleted."), _policies_url())


# --- Business hours -----------------------------------------------------------------------
@requires(CONFIGURE)
def hours_edit(request: HttpRequest) -> HttpResponse:
    row = calendars.calendar_row()
    form = HoursForm(request.POST or None, initial={"day_start": row.day_start, "day_end": row.day_end,
                                                     "weekdays": list(row.weekdays), "version": row.version})

    def save(data: dict[str, Any]) -> None:
        version = data.pop("version")
        calendars.hours_update(actor=request.user, changes=data, expected_version=version)

    status = _save(request, form, save)
    if status is None:
        messages.success(request, _("Business hours saved. Cases received from now on are timed by them."))
        return redirect("service:settings-hours")
    return render(request, "service/settings_hours.html", {"form": form, "section": "hours", "calendar": row},
                  status=status)


# --- Holidays -----------------------------------------------------------------------------
def _holidays_url(year: int) -> str:
    return f"{reverse('service:settings-holidays')}?year={year}"


@requires(CONFIGURE)
def holiday_list(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    first, last = calendars.package_years()
    days = calendars.holidays_of(year)
    return render(request, "service/settings_holidays.html", {
        "section": "holidays", "year": year, "previous": year - 1, "next": year + 1,
        "holidays": [h for h in days if h.type == Holiday.Type.HOLIDAY],
        "workdays": [h for h in days if h.type == Holiday.Type.WORKDAY],
        "known": first <= year <= last, "first_known": first, "last_known": last})


@requires(CONFIGURE)
def holiday_create(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    form = HolidayForm(request.POST or None)
    saved: list[Holiday] = []
    status = _save(request, form, lambda data: saved.append(calendars.holiday_create(actor=request.user, **data)))
    if status is None:
        messages.success(request, _("Day added to the calendar."))
        return redirect(_holidays_url(saved[0].day.year))
    return _form_page(request, form, _("New holiday or adjusted working day"), status, section="holidays",
                      back=_holidays_url(year))


@requires(CONFIGURE)
def holiday_edit(request: HttpRequest, pk: int) -> HttpResponse:
    holiday = _one(Holiday, pk)
    form = HolidayEditForm(request.POST or None, initial={"day": holiday.day, "type": holiday.type,
                                                          "name": holiday.name, "version": holiday.version})

    def save(data: dict[str, Any]) -> None:
        version = data.pop("version")
        calendars.holiday_update(actor=request.user, holiday=holiday, changes=data, expected_version=version)

    status = _save(request, form, save)
    if status is None:
        messages.success(request, _("Saved."))
        return redirect(_holidays_url(holiday.day.year))
    return _form_page(request, form, _("Edit %(day)s") % {"day": holiday.day.isoformat()}, status,
                      section="holidays", back=_holidays_url(holiday.day.year),
                      delete_url=reverse("service:settings-holiday-delete", args=[holiday.pk]),
                      version=holiday.version)


@requires(CONFIGURE)
@require_POST
def holiday_delete(request: HttpRequest, pk: int) -> HttpResponse:
    holiday = _one(Holiday, pk)
    return act(request, lambda: calendars.holiday_delete(actor=request.user, holiday=holiday,
                                                         expected_version=posted_version(request)),
               lambda: _("%(day)s removed from the calendar.") % {"day": holiday.day.isoformat()},
               _holidays_url(holiday.day.year))


@requires(CONFIGURE)
@require_POST
def holidays_load(request: HttpRequest) -> HttpResponse:
    value = request.POST.get("year", "")
    year = int(value) if value.isdigit() and 1900 <= int(value) <= 2999 else timezone.localdate().year
    try:
        result = calendars.holidays_load(actor=request.user, year=value)
    except Invalid as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("China's public holidays for %(year)d loaded: %(created)d days added, "
                                    "%(updated)d corrected.") % result)
    return redirect(_holidays_url(year))


urlpatterns: list[URLPattern] = [
    path("settings/", settings_home, name="settings"),
    path("settings/categories/", category_list, name="settings-categories"),
    path("settings/categories/new/", category_create, name="settings-category-create"),
    path("settings/categories/<int:pk>/edit/", category_edit, name="settings-category-edit"),
    path("settings/categories/<int:pk>/delete/", category_delete, name="settings-category-delete"),
    path("settings/sla/", policy_list, name="settings-sla"),
    path("settings/sla/new/", policy_create, name="settings-sla-create"),
    path("settings/sla/<int:pk>/edit/", policy_edit, name="settings-sla-edit"),
    path("settings/sla/<int:pk>/delete/", policy_delete, name="settings-sla-delete"),
    path("settings/hours/", hours_edit, name="settings-hours"),
    path("settings/holidays/", holiday_list, name="settings-holidays"),
    path("settings/holidays/new/", holiday_create, name="settings-holiday-create"),
    path("settings/holidays/<int:pk>/edit/", holiday_edit, name="settings-holiday-edit"),
    path("settings/holidays/<int:pk>/delete/", holiday_delete, name="settings-holiday-delete"),
    path("settings/holidays/load/", holidays_load, name="settings-holidays-load"),
]
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
