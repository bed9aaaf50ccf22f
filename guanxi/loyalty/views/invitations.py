"""HTML views of the survey invitations (/surveys/invitations/): the list with its filters, one
invitation (a new link to copy into WeChat or SMS, with its QR code), sending a survey by hand from
an account or a case, and the account page's Satisfaction tab.

A link is shown once: right after it was made (kept in the session for the next page only), since
only its SHA-256 is stored. Another view that makes one (closing a case, a visit report) can hand
it over with :func:`remember_link` and link to the invitation's page.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.errors import Invalid, ServiceError
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.views import form_errors
from guanxi.customers import account_page
from guanxi.customers.models import Account, Contact
from guanxi.customers.selectors import account_scope
from guanxi.loyalty.models import Invitation, Touchpoint
from guanxi.loyalty.selectors import account as account_reads
from guanxi.loyalty.selectors import surveys as reads
from guanxi.loyalty.selectors.scope import invitation_scope, survey_scope
from guanxi.loyalty.services import invitations as services
from guanxi.sales.views.common import AccountContactForm
from guanxi.service.selectors.scope import case_scope, get_one

PAGE_SIZE = 50
ACCOUNT_CHOICES = 300
LINK_SESSION_KEY = "survey-invitation-link-%d"


def remember_link(request: HttpRequest, invitation: Invitation, link: str) -> None:
    """Show ``link`` once on the invitation's page (the next time it is opened)."""
    if link:
        request.session[LINK_SESSION_KEY % invitation.pk] = link


def qr_data_uri(link: str) -> str:
    import segno

    return str(segno.make(link, error="m").svg_data_uri(scale=5, border=2))


# --- The list and one invitation ---------------------------------------------------------------
@requires("survey.view")
def invitation_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    filters = reads.parse_filters(request.GET)
    page = CappedPaginator(reads.invitation_list_for(user, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    for invitation in page:
        invitation.status = services.status(invitation, now)  # type: ignore[attr-defined]
    account = account_scope(user).filter(pk=filters["account"]).only("id", "name").first() \
        if filters.get("account") else None
    return render(request, "loyalty/invitations_list.html", {
        "page": page, "filters": filters, "touchpoints": Touchpoint.choices, "account": account,
        "statuses": [(services.PENDING, _("Waiting for an answer")), (services.ANSWERED, _("Answered")),
                     (services.EXPIRED, _("Expired"))],
        "surveys": survey_scope(user).order_by("name").only("id", "name"),
        "can_send": has_perm(user, services.SEND)})


def _invitation(request: HttpRequest, pk: int) -> Invitation:
    return get_one(invitation_scope, request.user, pk, "survey", "account", "contact", "owner",  # type: ignore[no-any-return]
                   "sent_by", "department")


@requires("survey.view")
def invitation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    invitation = _invitation(request, pk)
    link = request.session.pop(LINK_SESSION_KEY % invitation.pk, "")
    state = services.status(invitation)
    response = getattr(invitation, "response", None) if invitation.answered_at else None
    return render(request, "loyalty/invitations_detail.html", {
        "invitation": invitation, "status": state, "link": link, "qr": qr_data_uri(link) if link else "",
        "response": response, "source_url": _source_url(user, invitation),
        "can_renew": has_perm(user, services.SEND) and state != services.ANSWERED
        and invitation.survey.deleted_at is None})


def _source_url(user: Any, invitation: Invitation) -> str:
    """Where the invitation came from, if the user may open it."""
    kind, _sep, ident = invitation.source.partition(":")
    if not ident.isdigit():
        return ""
    name = {"service.case": "service:case-detail", "service.visit": "service:visit-detail",
            "sales.order": "sales:order-detail"}.get(kind)
    if name is None:
        return ""
    try:
        return reverse(name, args=[int(ident)])
    except NoReverseMatch:  # an area not installed: no link
        return ""


@requires("survey.send")
@require_POST
def invitation_link(request: HttpRequest, pk: int) -> HttpResponse:
    """A new link for the invitation (the previous one stops working), shown once."""
    invitation = _invitation(request, pk)
    try:
        raw = services.invitation_renew(actor=request.user, invitation=invitation,
                                        mail=request.POST.get("mail") == "1")
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        remember_link(request, invitation, services.link(raw))
        messages.success(request, _("A new link was made; the previous one no longer works."))
    return redirect("loyalty:invitation-detail", pk=pk)


# --- Sending by hand ---------------------------------------------------------------------------
class SendForm(AccountContactForm):
    survey = forms.ChoiceField(label=gettext_lazy("Survey"))
    account = forms.ChoiceField(label=gettext_lazy("Account"), required=False)
    contact = forms.ChoiceField(label=gettext_lazy("Contact"), required=False)
    recipient_name = forms.CharField(label=gettext_lazy("Recipient"), max_length=100, required=False)
    email = forms.EmailField(label=gettext_lazy("E-mail"), required=False,
                             help_text=gettext_lazy("With an address the link is e-mailed; either way you can copy "
                                                    "it into WeChat or a text message on the next page."))
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=40, required=False)
    nonce = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, surveys: list[tuple[str, str]], accounts: list[tuple[str, str]] | None,
                 contacts: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, accounts=accounts, contacts=contacts, **kwargs)
        self._choices("survey", surveys)


@requires("survey.send")
def invitation_send(request: HttpRequest) -> HttpResponse:
    """Send a survey by hand: for an account (``?account=``), a case (``?case=``) or any address."""
    user: Any = request.user
    params = request.POST if request.method == "POST" else request.GET
    case = get_one(case_scope, user, params["case"]) if str(params.get("case", "")).isdigit() else None
    fixed = str(params.get("account") or (case.account_id if case is not None and case.account_id else "") or "")
    account = account_scope(user).filter(pk=fixed).first() if fixed.isdigit() else None
    surveys = [(str(s.pk), f"{s.name} · {s.get_touchpoint_display()}") for s in reads.active_surveys()]
    accounts = None if account is not None or case is not None else [
        (str(a.pk), f"{a.name} ({a.code})") for a in account_scope(user).order_by("name").only("id", "name", "code")
        [:ACCOUNT_CHOICES]]
    contacts = [(str(c.pk), c.name) for c in Contact.objects.filter(account=account).order_by("name")[:200]] \
        if account is not None else []
    form = SendForm(request.POST or None, surveys=surveys, accounts=accounts, contacts=contacts,
                    initial={"nonce": secrets.token_hex(12), "account": fixed,
                             "survey": str(params.get("survey") or "")})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            chosen = account or (account_scope(user).filter(pk=data["account"]).first()
                                 if str(data.get("account") or "").isdigit() else None)
            contact = Contact.objects.filter(pk=data["contact"], account=chosen).first() \
                if chosen is not None and str(data["contact"]).isdigit() else None
            survey = survey_scope(user).filter(pk=data["survey"]).first()
            try:
                if survey is None:
                    raise Invalid(errors={"survey": [_("Choose a survey.")]})
                invitation, raw = services.invitation_send(
                    actor=user, survey=survey, account=chosen, contact=contact, case=case,
                    email=data["email"], phone=data["phone"], recipient_name=data["recipient_name"],
                    source=data["nonce"])
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                if raw:
                    remember_link(request, invitation, services.link(raw))
                    messages.success(request, _("The survey was sent (e-mailed: %(mailed)s). Copy the link below "
                                                "to pass it on by WeChat or text message.") % {
                        "mailed": invitation.email or _("no address")})
                else:
                    messages.info(request, _("This survey was already sent for this on %(when)s; here is that "
                                             "invitation. Make a new link to pass it on again.") % {
                        "when": f"{timezone.localtime(invitation.created_at):%Y-%m-%d %H:%M}"})
                return redirect("loyalty:invitation-detail", pk=invitation.pk)
        status = 422
    title = _("Send a survey")
    return render(request, "loyalty/invitations_send.html", {
        "form": form, "title": title, "account": account, "case": case, "no_surveys": not surveys}, status=status)


# --- The account page's tab --------------------------------------------------------------------
@requires("survey.view")
def account_surveys(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The Satisfaction tab of an account the user sees (404 otherwise), fetched when opened."""
    account: Account = get_one(account_scope, request.user, account_pk)
    return render(request, "loyalty/account_panel.html", account_reads.account_panel(request.user, account))


account_page.register(account_page.Tab(
    key="surveys", label=gettext_lazy("Satisfaction"), template="loyalty/account_tab.html", perm="survey.view",
    order=40,
))

urlpatterns: list[URLPattern] = [
    path("invitations/", invitation_list, name="invitation-list"),
    path("invitations/<int:pk>/", invitation_detail, name="invitation-detail"),
    path("invitations/<int:pk>/link/", invitation_link, name="invitation-link"),
    path("send/", invitation_send, name="invitation-send"),
    path("accounts/<int:account_pk>/", account_surveys, name="account-surveys"),
]
public_urlpatterns: list[URLPattern] = []
