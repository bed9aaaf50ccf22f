"""HTML views: case list and detail, workflow, handling steps, reply review, hand-overs, customer confirmation, account
tab, desk panels.

This module holds the pages (list, one case, edit, the recycle bin and the customer's public
confirmation page); the one-click actions on a case live in ``case_parts``. Thin: parse →
scoped read → service → render. Everyone who sees a case reads it; only its owner finds the
actions enabled (first-responder ownership, enforced again by the services).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import PUBLIC, has_perm
from guanxi.core.permissions import declare as requires
from guanxi.core.public import company_name
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.sales.models import Order, Product
from guanxi.sales.views.common import save_edit
from guanxi.service.models import Case, Channel, HandlingStep, Kind, Severity
from guanxi.service.selectors import cases as reads
from guanxi.service.selectors.scope import can_handle, case_scope
from guanxi.service.services import cases as services
from guanxi.service.services.cases import MOVES
from guanxi.service.views import case_parts

PAGE_SIZE = 50
PRODUCT_CHOICES = 300
TABS = (("complaint", gettext_lazy("Complaints")), ("suggestion", gettext_lazy("Suggestions")),
        ("ticket", gettext_lazy("Tickets")), ("", gettext_lazy("All")))
PLACEHOLDER = "987654321"


def optional_url(name: str, *args: Any) -> str:
    """A URL of another service area, or "" while that area is not installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


# --- The list --------------------------------------------------------------------------------
def _with(params: QueryDict, **values: str) -> str:
    query = params.copy()
    query.pop("page", None)
    for name, value in values.items():
        if value:
            query[name] = value
        else:
            query.pop(name, None)
    return query.urlencode()


@requires("case.view")
def case_list(request: HttpRequest) -> HttpResponse:
    """Complaints, suggestions, tickets or all, open ones by default; filters, sorting, pages."""
    user: Any = request.user
    filters = reads.parse_filters(user, request.GET)
    if "status" not in request.GET and "state" not in filters:
        filters["status"] = "open"
    page = CappedPaginator(reads.case_list_for(user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = reads.with_sla(list(page.object_list))
    params = request.GET.copy()
    if "status" not in params:
        params["status"] = filters.get("status", "")
    tabs = [{"kind": kind, "label": label, "active": filters.get("kind", "") == kind,
             "query": _with(params, kind=kind)} for kind, label in TABS]
    sorts = {name: _with(params, sort=name) for name in reads.SORTS}
    return render(request, "service/cases_list.html", {
        "page": page, "rows": rows, "filters": filters, "tabs": tabs, "sorts": sorts,
        "sort": filters.get("sort", reads.DEFAULT_SORT), "states": Case.State.choices, "severities": Severity.choices,
        "channels": Channel.choices,
        "categories": reads.categories(), "can_review": has_perm(user, "case.review"),
        "can_unmatched": has_perm(user, "case.unmatched"), "intake_url": optional_url("service:hotline"),
    })


# --- One case --------------------------------------------------------------------------------
def visits_block(request: HttpRequest, case: Case) -> str:
    """Field service's block for the case (rendered on its own), or "" while that area is absent."""
    try:
        from guanxi.service.services import visits  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return ""
    block_context = getattr(visits, "block_context", None)
    if block_context is None:
        return ""
    context = block_context(request.user, case)
    if context is None:
        return ""
    return render_to_string("service/visits_block.html", context, request=request)


def attachment_url(pk: int) -> str:
    url = optional_url("service:attachment-download", PLACEHOLDER)
    return url.replace(PLACEHOLDER, str(pk)) if url else ""


@requires("case.view")
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    case = reads.get_case(user, pk)
    context = reads.detail(user, case)
    for attachment in context["attachments"]:
        attachment.url = attachment_url(attachment.pk)
    owner = can_handle(user, case)
    from guanxi.service.services.attachments import may_attach

    return render(request, "service/cases_detail.html", {
        "case": case, **context, "is_owner": owner,
        "owner_hint": services.OWNER_ONLY["move"]() % {"owner": case.owner},
        "moves": [to for to, sources in MOVES.items() if case.state in sources],
        "can_review": services.can_review(user, case),
        "can_match": has_perm(user, "case.change") and (owner or has_perm(user, "case.unmatched")),
        "can_delete": has_perm(user, "case.delete"),
        "can_attach": may_attach(user, case) and case.state != Case.State.CLOSED,
        "is_recipient": bool(context["open_handover"] and context["open_handover"].to_user_id == user.pk),
        "colleagues": case_parts.colleagues(user, case) if owner and not context["open_handover"] else [],
        "step_choices": HandlingStep.Step.choices,
        "confirm_days": services.confirm_days(),
        "close_from": timezone.localtime(case.resolved_at + dt.timedelta(days=services.confirm_days()))
        if case.resolved_at else None,
        "visits_html": visits_block(request, case),
        "history": core_selectors.history_for(case)[:50],
        "account_url": optional_url("customers:account-detail", case.account_id) if case.account_id else "",
        "order_url": optional_url("sales:order-detail", case.order_id) if case.order_id else "",
    })


# --- Edit ---------------------------------------------------------------------------------------
class CaseEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Kind.choices)
    title = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    description = forms.CharField(label=gettext_lazy("What the customer said"),
                                  widget=forms.Textarea(attrs={"rows": 5}))
    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=Severity.choices)
    ticket_type = forms.ChoiceField(label=gettext_lazy("Ticket type"), required=False,
                                    choices=[("", "—"), *Case.TicketType.choices])
    product = forms.ChoiceField(label=gettext_lazy("Product"), required=False)
    order = forms.ChoiceField(label=gettext_lazy("Order"), required=False)
    sender_name = forms.CharField(label=gettext_lazy("Sender's name"), max_length=100, required=False)
    sender_company = forms.CharField(label=gettext_lazy("Sender's company"), max_length=200, required=False)
    sender_phone = forms.CharField(label=gettext_lazy("Sender's phone"), max_length=40, required=False)
    sender_email = forms.CharField(label=gettext_lazy("Sender's e-mail"), max_length=254, required=False)
    wants_reply = forms.BooleanField(label=gettext_lazy("Wants a reply"), required=False)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("category", [("", "—"), *((str(c.pk), c.name) for c in reads.categories())])
        products = Product.objects.order_by("code").only("id", "code", "name")[:PRODUCT_CHOICES]
        self._choices("product", [("", "—"), *((str(p.pk), f"{p.code} {p.name}") for p in products)])
        orders = Order.objects.filter(account_id=case.account_id).order_by("-order_date", "-id") \
            .only("id", "code", "order_date")[:100] if case.account_id else []
        self._choices("order", [("", "—"), *((str(o.pk), f"{o.code} ({o.order_date:%Y-%m-%d})") for o in orders)])
        style_form(self)

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


EDIT_FIELDS = ("kind", "title", "description", "category", "severity", "ticket_type", "product", "order",
               "sender_name", "sender_company", "sender_phone", "sender_email", "wants_reply")


@requires("case.change")
def case_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    case = reads.get_case(user, pk)
    if not can_handle(user, case):
        raise services_forbidden(case, "change")
    initial: dict[str, Any] = {name: getattr(case, name) for name in EDIT_FIELDS
                               if name not in ("category", "product", "order")}
    initial.update(category=case.category_id or "", product=case.product_id or "", order=case.order_id or "",
                   version=case.version)
    form = CaseEditForm(request.POST or None, case=case, initial=initial)
    status = save_edit(request, form, lambda changes, version: services.case_update(
        actor=user, case=case, expected_version=version,
        changes={k: (v or None) if k in ("category", "product", "order") else v for k, v in changes.items()}))
    if status is None:
        return redirect("service:case-detail", pk=pk)
    return render(request, "service/cases_form.html", {
        "form": form, "case": case, "title": _("Edit case %(code)s") % {"code": case.code}}, status=status)


def services_forbidden(case: Case, action: str) -> ServiceError:
    from guanxi.core.errors import Forbidden

    return Forbidden(services.OWNER_ONLY[action]() % {"owner": case.owner})


# --- Recycle bin ------------------------------------------------------------------------------
@requires("case.delete")
@require_POST
def case_delete(request: HttpRequest, pk: int) -> HttpResponse:
    case = reads.get_case(request.user, pk)
    try:
        services.case_delete(actor=request.user, case=case, expected_version=posted_version(request))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("service:case-detail", pk=pk)
    messages.success(request, _("%(code)s was moved to the recycle bin.") % {"code": case.code})
    return redirect("service:case-list")


@requires("case.delete")
@require_POST
def case_restore(request: HttpRequest, pk: int) -> HttpResponse:
    case = case_scope(request.user, Case.all_objects.filter(deleted_at__isnull=False)).filter(pk=pk).first()
    if case is None:
        raise NotFound()
    try:
        services.case_restore(actor=request.user, case=case)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("core:recycle-bin")
    messages.success(request, _("%(code)s was restored.") % {"code": case.code})
    return redirect("service:case-detail", pk=pk)


# --- The customer's page (public, behind the personal link) ----------------------------------
class AnswerForm(forms.Form):
    comment = forms.CharField(label=gettext_lazy("Your comment"), required=False, max_length=services.NOTE_MAX,
                              widget=forms.Textarea(attrs={"rows": 4}),
                              help_text=gettext_lazy("Required when the problem is not solved: tell us what is "
                                                     "still wrong."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "service/cases_confirm_gone.html", {"company": company_name()}, status=404)


@requires(PUBLIC)
@never_cache
def case_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """What the customer sees: our reply; they confirm it solved the problem or say what is
    still wrong. Reading writes nothing (a GET may be repeated or prefetched); the POST
    answers once."""
    try:
        case = services.case_for_token(token)
    except NotFound:
        return _gone(request)
    form = AnswerForm(request.POST or None)
    status = 200
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision not in ("accept", "reject"):
            form.add_error(None, _("Choose whether the problem is solved."))
        if form.is_valid():
            try:
                answered = services.customer_answer(token=token, accepted=decision == "accept",
                                                    comment=form.cleaned_data["comment"])
            except Invalid as exc:
                form_errors(form, exc)
            except NotFound:
                return _gone(request)
            else:
                return render(request, "service/cases_confirm_done.html", {
                    "case": answered, "accepted": decision == "accept", "company": company_name()})
        status = 422
    return render(request, "service/cases_confirm.html", {"case": case, "form": form, "company": company_name()},
                  status=status)


urlpatterns: list[URLPattern] = [
    path("cases/", case_list, name="case-list"),
    path("cases/<int:pk>/", case_detail, name="case-detail"),
    path("cases/<int:pk>/edit/", case_edit, name="case-edit"),
    path("cases/<int:pk>/delete/", case_delete, name="case-delete"),
    path("cases/<int:pk>/restore/", case_restore, name="case-restore"),
    *case_parts.urlpatterns,
]
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = [
    path("confirm/<str:token>/", case_confirm, name="case-confirm"),
]
