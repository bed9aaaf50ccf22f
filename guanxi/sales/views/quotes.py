"""HTML views of quotes (R4.2): the list, a new quote from an account or a deal, the header
form, one quote with its lines (edited in place with htmx, see ``quote_lines``), the
approval, sending, the customer's answer, and the documents (PDF, Excel, e-mail draft) of
the live quote or of any sent revision. Thin: parse → scoped read → service → render."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_list_for, account_scope
from guanxi.sales.models import CNY, ExchangeRate, Opportunity, Quote
from guanxi.sales.selectors import quotes as reads
from guanxi.sales.selectors.scope import get_one, opportunity_scope
from guanxi.sales.services import quote_documents as documents
from guanxi.sales.services import quotes as services
from guanxi.sales.views import quote_lines
from guanxi.sales.views.common import act, save_edit
from guanxi.sales.views.quote_lines import body_context, detail_url, quote_for

PAGE_SIZE = 50
DATE_INPUT = {"type": "date"}


def currency_choices() -> list[tuple[str, str]]:
    codes = sorted(set(ExchangeRate.objects.values_list("currency", flat=True).distinct()) - {CNY})
    return [(CNY, CNY), *[(code, code) for code in codes]]


# --- Forms --------------------------------------------------------------------------------------
class QuoteForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200,
                              help_text=gettext_lazy("What is offered, e.g. the product or the project."))
    title = forms.CharField(label=gettext_lazy("Title"), max_length=300, required=False,
                            help_text=gettext_lazy("Empty: made of the customer, the subject and the date."))
    opportunity = forms.ChoiceField(label=gettext_lazy("Opportunity"), required=False)
    contact = forms.ChoiceField(label=gettext_lazy("Attention of"), required=False)
    quote_date = forms.DateField(label=gettext_lazy("Quote date"), widget=forms.DateInput(attrs=DATE_INPUT, format="%Y-%m-%d"))
    valid_until = forms.DateField(label=gettext_lazy("Valid until"), required=False,
                                  widget=forms.DateInput(attrs=DATE_INPUT, format="%Y-%m-%d"))
    currency = forms.ChoiceField(label=gettext_lazy("Currency"))
    prices_include_tax = forms.BooleanField(label=gettext_lazy("Prices include tax"), required=False)
    payment_terms = forms.CharField(label=gettext_lazy("Payment terms"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 2}))
    delivery_terms = forms.CharField(label=gettext_lazy("Delivery terms"), required=False,
                                     widget=forms.Textarea(attrs={"rows": 2}))
    terms = forms.CharField(label=gettext_lazy("Other terms"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, account: Account, user: Any, quote: Quote | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        contacts = Contact.objects.filter(account=account).order_by("name").values_list("id", "name", "title")[:200]
        self._choices("contact", [("", "—"), *[(str(pk), f"{name} {title}".strip()) for pk, name, title in contacts]])
        self._choices("currency", currency_choices())
        if quote is None:
            deals = (opportunity_scope(user).filter(account=account, state=Opportunity.State.OPEN)
                     .order_by("-id").values_list("id", "code", "name")[:100])
            self._choices("opportunity", [("", "—"), *[(str(pk), f"{code} {name}") for pk, code, name in deals]])
        else:
            del self.fields["opportunity"]
            self.fields["version"] = forms.IntegerField(widget=forms.HiddenInput)
        style_form(self)
        self.fields["prices_include_tax"].widget.attrs["class"] = "form-check-input"

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def header(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("version", None)
        data.pop("opportunity", None)
        data["contact"] = int(data["contact"]) if data.get("contact") else None
        return data


# --- List ---------------------------------------------------------------------------------------
@requires("quote.view")
def quote_list(request: HttpRequest) -> HttpResponse:
    """Every quote the user sees; ``state``, ``owner``, ``account``, ``q``, ``approval=mine``."""
    user: Any = request.user
    status = 200
    try:
        qs = reads.quote_list_for(user, request.GET)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        qs, status = Quote.objects.none(), exc.status
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    people = reads.people_i_manage(user)
    account = None
    if request.GET.get("account", "").isdigit():
        account = account_scope(user).filter(pk=int(request.GET["account"])).only("id", "name").first()
    return render(request, "sales/quotes_list.html", {
        "page": page, "f": request.GET, "states": Quote.State.choices, "people": people if len(people) > 1 else [],
        "account": account, "waiting": reads.waiting_for(user).count() if has_perm(user, "quote.approve") else 0,
    }, status=status)


# --- Create and edit ----------------------------------------------------------------------------
@requires("quote.add")
def quote_create(request: HttpRequest) -> HttpResponse:
    """A new quote for ``?account=<id>`` (optionally ``&opportunity=<id>``, which also names the
    account); without an account, a search to pick one first."""
    user: Any = request.user
    def param(key: str) -> str:  # the form posts to its own address, which carries them
        return str(request.POST.get(key) or request.GET.get(key) or "")

    deal = None
    if param("opportunity").isdigit():
        deal = get_one(opportunity_scope, user, param("opportunity"), "account")
    account_id = deal.account_id if deal is not None else param("account")
    if not str(account_id).isdigit():
        q = request.GET.get("q", "").strip()[:100]
        found = list(account_list_for(user, q=q)[:20]) if q else []
        return render(request, "sales/quotes_pick_account.html", {"q": q, "accounts": found})
    account = account_scope(user).filter(pk=int(account_id)).first()
    if account is None:
        raise NotFound()
    today = timezone.localdate()
    initial = {"quote_date": today, "valid_until": today + dt.timedelta(days=services.VALID_DAYS),
               "currency": CNY, "prices_include_tax": True}
    if deal is not None:
        initial.update(opportunity=str(deal.pk), subject=deal.name, contact=str(deal.contact_id or ""),
                       currency=deal.currency)
    form = QuoteForm(request.POST or None, account=account, user=user, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            header = form.header()
            opportunity = form.cleaned_data.get("opportunity") or None
            try:
                quote = services.quote_create(actor=user, account=account, opportunity=opportunity, **header)
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Quote %(code)s created; now add its lines.") % {"code": quote.code})
                return redirect(detail_url(quote))
        else:
            status = 422
    return render(request, "sales/quotes_form.html", {
        "form": form, "account": account, "title": _("New quote for %(account)s") % {"account": account.name},
    }, status=status)


@requires("quote.change")
def quote_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    quote = quote_for(request, pk)
    form = QuoteForm(request.POST or None, account=quote.account, user=user, quote=quote, initial={
        "version": quote.version, "subject": quote.subject, "title": quote.title,
        "contact": str(quote.contact_id or ""), "quote_date": quote.quote_date, "valid_until": quote.valid_until,
        "currency": quote.currency, "prices_include_tax": quote.prices_include_tax,
        "payment_terms": quote.payment_terms, "delivery_terms": quote.delivery_terms, "terms": quote.terms,
        "notes": quote.notes})
    status = save_edit(request, form, lambda _changes, version: services.quote_update(
        actor=user, quote=quote, changes=form.header(), expected_version=version))
    if status is None:
        return redirect(detail_url(quote))
    return render(request, "sales/quotes_form.html", {
        "form": form, "account": quote.account, "quote": quote,
        "title": _("Edit %(title)s") % {"title": quote.title},
        "reopens": quote.state in services.REVISING or quote.state in (Quote.State.PENDING, Quote.State.APPROVED),
    }, status=status)


# --- One quote ------------------------------------------------------------------------------------
@requires("quote.view")
def quote_detail(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    return render(request, "sales/quotes_detail.html", {
        **body_context(request, quote), "revisions": reads.revisions_of(quote),
        "history": core_selectors.history_for(quote)[:30],
    })


@requires("quote.view")
def quote_revision(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """A sent revision as it went out (read-only)."""
    quote = quote_for(request, pk)
    revision = reads.revision_of(quote, number)
    return render(request, "sales/quotes_revision.html", {
        "quote": quote, "revision": revision, "content": revision.snapshot,
        "terms": documents.terms_of(revision.snapshot),
        "words": documents.amount_in_words(revision.snapshot["total"], revision.snapshot["currency"]),
    })


# --- Actions --------------------------------------------------------------------------------------
def _act(request: HttpRequest, quote: Quote, action: Any, done: str) -> HttpResponse:
    """Run one action; success or failure is a message on the quote's page."""
    return act(request, action, done, detail_url(quote))


def _note(request: HttpRequest) -> str:
    return request.POST.get("note", "")[:2000]


@requires("quote.change")
@require_POST
def quote_request_approval(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    return _act(request, quote, lambda: services.quote_request_approval(
        actor=request.user, quote=quote, expected_version=posted_version(request), note=_note(request)),
        _("Sent for approval; the managers were notified."))


@requires("quote.approve")
@require_POST
def quote_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """``decision`` = ``approve`` or ``reject`` (a note saying why)."""
    quote = quote_for(request, pk)
    approve = request.POST.get("decision") == "approve"
    return _act(request, quote, lambda: services.quote_decide(
        actor=request.user, quote=quote, approve=approve, note=_note(request),
        expected_version=posted_version(request)),
        _("Approved.") if approve else _("Returned to the owner."))


@requires("quote.change")
@require_POST
def quote_send(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    return _act(request, quote, lambda: services.quote_send(
        actor=request.user, quote=quote, expected_version=posted_version(request)),
        _("Marked as sent: revision %(revision)s is kept. Download the PDF or the e-mail draft for the customer.")
        % {"revision": quote.revision})


def _state_action(service: Any, done: Any) -> Any:
    @requires("quote.change")
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        quote = quote_for(request, pk)
        return _act(request, quote, lambda: service(actor=request.user, quote=quote, note=_note(request),
                                                    expected_version=posted_version(request)), str(done))

    return view


quote_accept = _state_action(services.quote_accept, gettext_lazy("Marked as accepted by the customer."))
quote_decline = _state_action(services.quote_decline, gettext_lazy("Marked as declined by the customer."))
quote_cancel = _state_action(services.quote_cancel, gettext_lazy("Cancelled."))


@requires("quote.delete")
@require_POST
def quote_delete(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    return act(request, lambda: services.quote_delete(
        actor=request.user, quote=quote, expected_version=posted_version(request)),
        lambda: _("Moved to the recycle bin: %(title)s.") % {"title": quote.title},
        "sales:quote-list", failed_to=detail_url(quote))


# --- Documents ------------------------------------------------------------------------------------
def download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


def _document(fmt: str) -> Any:
    @requires("quote.view")
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        """The live quote, or ``?revision=<n>`` as it was sent (audited)."""
        quote = quote_for(request, pk)
        return download(*documents.quote_export(actor=request.user, quote=quote, fmt=fmt,
                                                revision=request.GET.get("revision")))

    view.__name__ = f"quote_{fmt}"
    return view


quote_pdf, quote_xlsx, quote_eml = _document("pdf"), _document("xlsx"), _document("eml")

urlpatterns: list[URLPattern] = [
    path("quotes/", quote_list, name="quote-list"),
    path("quotes/new/", quote_create, name="quote-create"),
    path("quotes/<int:pk>/", quote_detail, name="quote-detail"),
    path("quotes/<int:pk>/edit/", quote_edit, name="quote-edit"),
    path("quotes/<int:pk>/revisions/<int:number>/", quote_revision, name="quote-revision"),
    path("quotes/<int:pk>/request-approval/", quote_request_approval, name="quote-request-approval"),
    path("quotes/<int:pk>/decide/", quote_decide, name="quote-decide"),
    path("quotes/<int:pk>/send/", quote_send, name="quote-send"),
    path("quotes/<int:pk>/accept/", quote_accept, name="quote-accept"),
    path("quotes/<int:pk>/decline/", quote_decline, name="quote-decline"),
    path("quotes/<int:pk>/cancel/", quote_cancel, name="quote-cancel"),
    path("quotes/<int:pk>/delete/", quote_delete, name="quote-delete"),
    path("quotes/<int:pk>/quote.pdf", quote_pdf, name="quote-pdf"),
    path("quotes/<int:pk>/quote.xlsx", quote_xlsx, name="quote-xlsx"),
    path("quotes/<int:pk>/quote.eml", quote_eml, name="quote-eml"),
    *quote_lines.urlpatterns,
]
