"""HTML views: field visits (service tickets) and product improvements.

Phone first: a technician on site opens today's visit from the agenda, writes the report and
hands the phone to the customer to sign (or lets them scan the link's QR code). Thin views:
parse → scoped read → service → render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from guanxi.core import desk
from guanxi.core import selectors as core_selectors
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import PUBLIC, has_perm
from guanxi.core.permissions import declare as requires
from guanxi.core.public import company_name
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.sales.models import Product
from guanxi.sales.views.common import act, save_edit
from guanxi.service.models import Case, Improvement, Visit
from guanxi.service.selectors import visits as reads
from guanxi.service.selectors.scope import case_scope, get_one, improvement_scope, visit_scope
from guanxi.service.services import improvements as improvement_services
from guanxi.service.services import visits as services

PAGE_SIZE = 50
LINK_SESSION_KEY = "service-visit-link-%d"
SURVEY_SESSION_KEY = "service-visit-survey-%d"


def optional_url(name: str, *args: Any) -> str:
    """A URL of another service area, or "" while that area is not installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _moment() -> forms.DateTimeField:
    return forms.DateTimeField(widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}))


def _local_input(moment: dt.datetime | None) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%dT%H:%M}" if moment else ""


# --- Forms -----------------------------------------------------------------------------------------
class VisitForm(forms.Form):
    purpose = forms.ChoiceField(label=gettext_lazy("Purpose"), choices=Case.TicketType.choices)
    technician = forms.ChoiceField(label=gettext_lazy("Technician"))
    start = _moment()
    end = _moment()
    address = forms.CharField(label=gettext_lazy("Address"), max_length=300, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = [(str(u.pk), f"{u.name or u.username}") for u in services.technicians()[:500]]
        field = self.fields["technician"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "—"), *people]
        self.fields["start"].label = gettext_lazy("Starts at")
        self.fields["end"].label = gettext_lazy("Ends at")
        self.fields["address"].help_text = gettext_lazy("Empty: the customer's address.")
        style_form(self)


class VisitEditForm(VisitForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class ReportForm(forms.Form):
    report = forms.CharField(label=gettext_lazy("What was done"), widget=forms.Textarea(attrs={"rows": 6}),
                             max_length=services.REPORT_MAX)
    parts = forms.CharField(label=gettext_lazy("Parts used"), widget=forms.Textarea(attrs={"rows": 2}),
                            required=False, max_length=services.PARTS_MAX)
    arrived_at = _moment()
    finished_at = _moment()
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["arrived_at"].label = gettext_lazy("Arrived at")
        self.fields["finished_at"].label = gettext_lazy("Finished at")
        style_form(self)


class SignForm(forms.Form):
    signed_by = forms.CharField(label=gettext_lazy("Customer's name (signature)"), max_length=services.NAME_MAX)
    comment = forms.CharField(label=gettext_lazy("Comment"), widget=forms.Textarea(attrs={"rows": 3}),
                              required=False, max_length=services.NOTE_MAX)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["signed_by"].widget.attrs.update({"autocomplete": "name", "autocapitalize": "words"})
        style_form(self)


class OnSiteForm(SignForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class ImprovementForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=improvement_services.TITLE_MAX)
    description = forms.CharField(label=gettext_lazy("Description"), widget=forms.Textarea(attrs={"rows": 5}),
                                  required=False)
    product = forms.ChoiceField(label=gettext_lazy("Product"), required=False)
    owner = forms.ChoiceField(label=gettext_lazy("Owner"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        product = self.fields["product"]
        owner = self.fields["owner"]
        assert isinstance(product, forms.ChoiceField) and isinstance(owner, forms.ChoiceField)
        product.choices = [("", "—"), *((str(p.pk), f"{p.name} ({p.code})")
                                        for p in Product.objects.order_by("name").only("id", "name", "code")[:1000])]
        people = User.objects.filter(is_active=True).order_by("name", "id").only("id", "name", "username")
        owner.choices = [(str(u.pk), u.name or u.username) for u in people[:1000]
                         if has_perm(u, "improvement.view")]
        style_form(self)


class ImprovementEditForm(ImprovementForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class ShipForm(forms.Form):
    release_note = forms.CharField(label=gettext_lazy("What changed (told to the customers)"),
                                   widget=forms.Textarea(attrs={"rows": 6}))
    shipped_on = forms.DateField(label=gettext_lazy("Shipped on"),
                                 widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


# --- The agenda ----------------------------------------------------------------------------------------
@requires("visit.view")
def visit_list(request: HttpRequest) -> HttpResponse:
    """A day or a week per technician; "my visits" for technicians, today's first."""
    user: Any = request.user
    agenda = reads.agenda(user, request.GET)
    today = timezone.localdate()
    base = {"span": agenda.span, "who": "mine" if agenda.mine else "all"}
    if agenda.technician:
        base["technician"] = str(agenda.technician)
    if agenda.state:
        base["state"] = agenda.state

    def link(**changes: Any) -> str:
        from urllib.parse import urlencode

        return "?" + urlencode({**base, **{k: str(v) for k, v in changes.items()}})

    return render(request, "service/visits_agenda.html", {
        "agenda": agenda, "today": today, "mine_today": reads.today_for(user) if agenda.mine else [],
        "technicians": services.technicians() if not agenda.mine else [],
        "states": Visit.State.choices,
        "prev_url": link(day=agenda.previous.isoformat()), "next_url": link(day=agenda.next.isoformat()),
        "today_url": link(day=today.isoformat()),
        "day_url": link(span="day", day=agenda.first.isoformat()),
        "week_url": link(span="week", day=agenda.first.isoformat()),
        "mine_url": f"?who=mine&span={agenda.span}&day={agenda.first.isoformat()}",
        "all_url": f"?who=all&span={agenda.span}&day={agenda.first.isoformat()}",
        "is_technician": has_perm(user, "visit.change"), "show_technician": not agenda.mine,
    })


@desk.register("service.visits-today", template="service/visits_desk.html", order=10, width="half")
def visits_today_panel(user: Any, now: dt.datetime) -> dict[str, Any] | None:
    """A technician's visits today on the desk (none: no panel)."""
    if not has_perm(user, "visit.change"):
        return None
    rows = reads.today_for(user, today=timezone.localtime(now).date())[:10]
    return {"visits": rows, "list_url": reverse("service:visit-list") + "?who=mine&span=day"} if rows else None


# --- Scheduling from a case ------------------------------------------------------------------------------
def _default_slot() -> tuple[dt.datetime, dt.datetime]:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    start = timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(9, 0)))
    return start, start + dt.timedelta(hours=2)


@requires("visit.add")
def visit_create(request: HttpRequest, case_pk: int) -> HttpResponse:
    user: Any = request.user
    case = get_one(case_scope, user, case_pk, "account")
    back = services.case_url(case)
    if not services.can_schedule(user, case):
        messages.error(request, _("Only the case's owner or a service manager can plan its visits."))
        return redirect(back or "service:visit-list")
    start, end = _default_slot()
    initial = {"purpose": case.ticket_type or Case.TicketType.REPAIR,
               "technician": str(user.pk) if has_perm(user, "visit.change") else "",
               "start": _local_input(start), "end": _local_input(end),
               "address": case.account.address if case.account else ""}
    form = VisitForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                visit = services.visit_schedule(actor=user, case=case, purpose=data["purpose"],
                                                technician=data["technician"], start=data["start"],
                                                end=data["end"], address=data["address"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Visit scheduled: %(visit)s.") % {"visit": services.visit_label(visit,
                                                                                                         case)})
                return redirect(back or reverse("service:visit-detail", args=[visit.pk]))
        else:
            status = 422
    return render(request, "service/visits_form.html", {
        "form": form, "case": case, "case_url": back,
        "title": _("Plan a visit for %(case)s") % {"case": case.code}}, status=status)


# --- One visit -----------------------------------------------------------------------------------------
def _visit(request: HttpRequest, pk: int) -> Visit:
    return get_one(visit_scope, request.user, pk, "technician", "case", "case__account",  # type: ignore[no-any-return]
                   "case__contact")


def _flash_link(request: HttpRequest, visit: Visit, link: str) -> None:
    request.session[LINK_SESSION_KEY % visit.pk] = link


def qr_data_uri(link: str) -> str:
    import segno

    return str(segno.make(link, error="m").svg_data_uri(scale=5, border=2))


@requires("visit.view")
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    visit = _visit(request, pk)
    case = visit.case
    link = request.session.pop(LINK_SESSION_KEY % visit.pk, "") if visit.state == Visit.State.DONE else ""
    survey = request.session.pop(SURVEY_SESSION_KEY % visit.pk, "")
    case_visible = case_scope(user).filter(pk=case.pk).exists()
    return render(request, "service/visits_detail.html", {
        "visit": visit, "case": case, "case_url": services.case_url(case) if case_visible else "",
        "can_manage": visit.state == Visit.State.SCHEDULED and services.can_manage(user, visit, case),
        "can_report": services.can_report(user, visit, case),
        "link": link, "qr": qr_data_uri(link) if link else "", "survey_link": survey,
        "phone": case.sender_phone or (case.contact.mobile or case.contact.phone if case.contact else ""),
        "history": core_selectors.history_for(visit)[:50],
    })


@requires("visit.change")
def visit_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    visit = _visit(request, pk)
    if not (visit.state == Visit.State.SCHEDULED and services.can_manage(user, visit, visit.case)):
        messages.error(request, _("Only the case's owner or a service manager can change a scheduled visit."))
        return redirect("service:visit-detail", pk=pk)
    form = VisitEditForm(request.POST or None, initial={
        "purpose": visit.purpose, "technician": str(visit.technician_id), "start": _local_input(visit.scheduled_start),
        "end": _local_input(visit.scheduled_end), "address": visit.address, "version": visit.version})
    status = save_edit(request, form, lambda changes, version: services.visit_update(
        actor=user, visit=visit, changes=changes, expected_version=version))
    if status is None:
        return redirect("service:visit-detail", pk=pk)
    return render(request, "service/visits_form.html", {
        "form": form, "case": visit.case, "visit": visit,
        "title": _("Change the visit %(visit)s") % {"visit": services.visit_label(visit, visit.case)}}, status=status)


@requires("visit.change")
@require_POST
def visit_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    visit = _visit(request, pk)
    return act(request, lambda: services.visit_cancel(actor=request.user, visit=visit,
                                                      reason=request.POST.get("reason", ""),
                                                      expected_version=posted_version(request)),
               _("The visit was cancelled."), reverse("service:visit-detail", args=[pk]))


@requires("visit.change")
def visit_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The technician's report, on the phone: what was done, parts, arrival and finish."""
    user: Any = request.user
    visit = _visit(request, pk)
    if visit.state != Visit.State.SCHEDULED or not services.can_report(user, visit, visit.case):
        messages.error(request, _("Only the technician or the case's owner can report a scheduled visit."))
        return redirect("service:visit-detail", pk=pk)
    now = timezone.now()
    form = ReportForm(request.POST or None, initial={
        "version": visit.version, "arrived_at": _local_input(min(visit.scheduled_start, now)),
        "finished_at": _local_input(now)})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.visit_report(actor=user, visit=visit, report=data["report"], parts=data["parts"],
                                      arrived_at=data["arrived_at"], finished_at=data["finished_at"],
                                      expected_version=data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                _flash_link(request, visit, visit.confirm_link)  # type: ignore[attr-defined]
                if getattr(visit, "survey_link", ""):  # the survey sender's invitation, shown once too
                    request.session[SURVEY_SESSION_KEY % visit.pk] = visit.survey_link  # type: ignore[attr-defined]
                messages.success(request, _("Report saved. Now let the customer confirm the visit.")
                                 if not visit.confirm_mailed  # type: ignore[attr-defined]
                                 else _("Report saved; the confirmation link was e-mailed to the customer."))
                return redirect("service:visit-detail", pk=pk)
        else:
            status = 422
    return render(request, "service/visits_report.html", {"form": form, "visit": visit, "case": visit.case},
                  status=status)


@requires("visit.change")
def visit_sign(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer signs on the technician's phone: their name and a comment."""
    user: Any = request.user
    visit = _visit(request, pk)
    if visit.state != Visit.State.DONE or not services.can_report(user, visit, visit.case):
        messages.error(request, _("Only a done visit can be confirmed, by its technician or the case's owner."))
        return redirect("service:visit-detail", pk=pk)
    form = OnSiteForm(request.POST or None, initial={"version": visit.version})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.visit_confirm_on_site(actor=user, visit=visit, signed_by=data["signed_by"],
                                               comment=data["comment"], expected_version=data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Thank you: the visit is confirmed."))
                return redirect("service:visit-detail", pk=pk)
        else:
            status = 422
    return render(request, "service/visits_sign.html", {"form": form, "visit": visit, "case": visit.case},
                  status=status)


@requires("visit.change")
@require_POST
def visit_link(request: HttpRequest, pk: int) -> HttpResponse:
    visit = _visit(request, pk)
    try:
        link = services.visit_confirm_link(actor=request.user, visit=visit)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        _flash_link(request, visit, link)
        messages.success(request, _("A new link was made; the previous one no longer works."))
    return redirect("service:visit-detail", pk=pk)


# --- The customer's page (public, behind the link) ----------------------------------------------------------
def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "service/visits_public_gone.html", {"company": company_name()}, status=404)


@requires(PUBLIC)
@never_cache
def visit_confirm_public(request: HttpRequest, token: str) -> HttpResponse:
    """What the customer sees: the date, the technician, the report; they confirm with their name.
    Reading writes nothing (a GET may be repeated or prefetched); the POST confirms once."""
    try:
        visit = services.visit_for_token(token)
    except NotFound:
        return _gone(request)
    form = SignForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                done = services.customer_confirm(token=token, signed_by=form.cleaned_data["signed_by"],
                                                 comment=form.cleaned_data["comment"])
            except Invalid as exc:
                form_errors(form, exc)
            except NotFound:
                return _gone(request)
            else:
                return render(request, "service/visits_public_done.html", {"visit": done, "company": company_name()})
        status = 422
    case = Case.all_objects.only("code", "title").get(pk=visit.case_id)
    return render(request, "service/visits_public.html", {
        "visit": visit, "case": case, "form": form, "company": company_name(),
        "technician": visit.technician.name or visit.technician.username}, status=status)


# --- Improvements ------------------------------------------------------------------------------------------
@requires("improvement.view")
def improvement_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    state = str(request.GET.get("state") or "")
    q = str(request.GET.get("q") or "").strip()[:100]
    deleted = request.GET.get("deleted") == "1" and has_perm(user, "improvement.manage")
    qs = improvement_services.improvement_list_for(user, state=state, q=q, deleted=deleted)
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page:
        row.state_label = improvement_services.state_label(row.state)
    return render(request, "service/improvements_list.html", {
        "page": page, "state": state, "q": q, "deleted": deleted,
        "states": [(value, str(label)) for value, label in improvement_services.STATE_LABELS.items()],
        "can_manage": has_perm(user, "improvement.manage")})


@requires("improvement.manage")
def improvement_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = ImprovementForm(request.POST or None, initial={"owner": str(user.pk)})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                improvement = improvement_services.improvement_create(actor=user, **{
                    **form.cleaned_data, "product": form.cleaned_data["product"] or None})
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Improvement %(code)s created.") % {"code": improvement.code})
                return redirect("service:improvement-detail", pk=improvement.pk)
        else:
            status = 422
    return render(request, "service/improvements_form.html", {"form": form, "title": _("New improvement")},
                  status=status)


def _improvement(request: HttpRequest, pk: int) -> Improvement:
    return get_one(improvement_scope, request.user, pk, "owner", "product")  # type: ignore[no-any-return]


@requires("improvement.view")
def improvement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    improvement = _improvement(request, pk)
    cases = list(improvement_services.linked_cases(user, improvement)[:500])
    for case in cases:
        case.url = services.case_url(case)  # type: ignore[attr-defined]
        case.unlinkable = improvement_services.can_link(user, case)  # type: ignore[attr-defined]
    manage = has_perm(user, "improvement.manage")
    open_ = improvement.state in improvement_services.SHIPPABLE
    return render(request, "service/improvements_detail.html", {
        "improvement": improvement, "cases": cases, "can_manage": manage,
        "state_label": improvement_services.state_label(improvement.state),
        "total_cases": Case.objects.filter(improvement=improvement).count(),
        "moves": [to for to, sources in improvement_services.MOVES.items() if improvement.state in sources]
        if manage else [],
        "can_ship": manage and open_, "can_link": open_,
        "recipients": len(improvement_services.recipients(improvement)) if manage else 0,
        "history": core_selectors.history_for(improvement)[:50],
    })


@requires("improvement.manage")
def improvement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    improvement = _improvement(request, pk)
    form = ImprovementEditForm(request.POST or None, initial={
        "title": improvement.title, "description": improvement.description,
        "product": str(improvement.product_id or ""), "owner": str(improvement.owner_id),
        "version": improvement.version})
    status = save_edit(request, form, lambda changes, version: improvement_services.improvement_update(
        actor=user, improvement=improvement, changes={**changes, "product": changes["product"] or None},
        expected_version=version))
    if status is None:
        return redirect("service:improvement-detail", pk=pk)
    return render(request, "service/improvements_form.html", {
        "form": form, "improvement": improvement,
        "title": _("Edit improvement %(code)s") % {"code": improvement.code}}, status=status)


@requires("improvement.manage")
@require_POST
def improvement_state(request: HttpRequest, pk: int) -> HttpResponse:
    improvement = _improvement(request, pk)
    to = request.POST.get("to", "")
    if to not in improvement_services.MOVES:
        raise NotFound()
    return act(request, lambda: improvement_services.improvement_move(
        actor=request.user, improvement=improvement, to=to, note=request.POST.get("note", ""),
        expected_version=posted_version(request)),
        lambda: _("%(code)s is now %(state)s.") % {"code": improvement.code,
                                                   "state": improvement_services.state_label(improvement.state)},
        reverse("service:improvement-detail", args=[pk]))


@requires("improvement.manage")
def improvement_ship(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    improvement = _improvement(request, pk)
    if improvement.state not in improvement_services.SHIPPABLE:
        messages.error(request, _("This improvement cannot ship any more."))
        return redirect("service:improvement-detail", pk=pk)
    form = ShipForm(request.POST or None, initial={
        "version": improvement.version, "shipped_on": timezone.localdate(),
        "release_note": improvement.release_note})
    status = save_edit(request, form, lambda changes, version: improvement_services.improvement_ship(
        actor=user, improvement=improvement, expected_version=version, **changes))
    if status is None:
        return redirect("service:improvement-detail", pk=pk)
    return render(request, "service/improvements_ship.html", {
        "form": form, "improvement": improvement, "cases": improvement_services.linked_cases(user, improvement)
        .count(), "recipients": len(improvement_services.recipients(improvement))}, status=status)


@requires("improvement.view")
@require_POST
def improvement_link(request: HttpRequest, pk: int) -> HttpResponse:
    improvement = _improvement(request, pk)
    holder: dict[str, Case] = {}

    def link() -> None:
        holder["case"] = improvement_services.case_by_code(request.user, request.POST.get("case", ""))
        improvement_services.improvement_link(actor=request.user, improvement=improvement, case=holder["case"])

    return act(request, link, lambda: _("%(case)s is linked.") % {"case": holder["case"].code},
               reverse("service:improvement-detail", args=[pk]))


@requires("improvement.view")
@require_POST
def improvement_unlink(request: HttpRequest, pk: int, case_pk: int) -> HttpResponse:
    improvement = _improvement(request, pk)
    case = get_one(case_scope, request.user, case_pk)
    return act(request, lambda: improvement_services.improvement_unlink(
        actor=request.user, improvement=improvement, case=case),
        _("%(case)s is no longer linked.") % {"case": case.code}, reverse("service:improvement-detail", args=[pk]))


@requires("improvement.manage")
@require_POST
def improvement_delete(request: HttpRequest, pk: int) -> HttpResponse:
    improvement = _improvement(request, pk)
    return act(request, lambda: improvement_services.improvement_delete(
        actor=request.user, improvement=improvement, expected_version=posted_version(request)),
        _("%(code)s was moved to the recycle bin.") % {"code": improvement.code}, "service:improvement-list",
        failed_to=reverse("service:improvement-detail", args=[pk]))


@requires("improvement.manage")
@require_POST
def improvement_restore(request: HttpRequest, pk: int) -> HttpResponse:
    improvement = get_one(lambda user: improvement_scope(user, Improvement.all_objects.all()), request.user, pk)
    return act(request, lambda: improvement_services.improvement_restore(actor=request.user, improvement=improvement),
               _("%(code)s was restored.") % {"code": improvement.code},
               reverse("service:improvement-detail", args=[pk]))


urlpatterns: list[URLPattern] = [
    path("visits/", visit_list, name="visit-list"),
    path("visits/<int:pk>/", visit_detail, name="visit-detail"),
    path("visits/<int:pk>/edit/", visit_edit, name="visit-edit"),
    path("visits/<int:pk>/cancel/", visit_cancel, name="visit-cancel"),
    path("visits/<int:pk>/report/", visit_report, name="visit-report"),
    path("visits/<int:pk>/confirm/", visit_sign, name="visit-sign"),
    path("visits/<int:pk>/link/", visit_link, name="visit-link"),
    path("cases/<int:case_pk>/visits/new/", visit_create, name="visit-create"),
    path("improvements/", improvement_list, name="improvement-list"),
    path("improvements/new/", improvement_create, name="improvement-create"),
    path("improvements/<int:pk>/", improvement_detail, name="improvement-detail"),
    path("improvements/<int:pk>/edit/", improvement_edit, name="improvement-edit"),
    path("improvements/<int:pk>/state/", improvement_state, name="improvement-state"),
    path("improvements/<int:pk>/ship/", improvement_ship, name="improvement-ship"),
    path("improvements/<int:pk>/link/", improvement_link, name="improvement-link"),
    path("improvements/<int:pk>/unlink/<int:case_pk>/", improvement_unlink, name="improvement-unlink"),
    path("improvements/<int:pk>/delete/", improvement_delete, name="improvement-delete"),
    path("improvements/<int:pk>/restore/", improvement_restore, name="improvement-restore"),
]
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = [
    path("visit/<str:token>/", visit_confirm_public, name="visit-confirm"),
]
