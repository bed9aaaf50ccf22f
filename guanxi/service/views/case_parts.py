"""HTML actions on one case: move it along the workflow, record a handling step, write the
reply, review it, issue the customer's link, hand it over (offer, accept, decline, withdraw),
match it to an account, add files.

Each parses the POST, reads the case through its scope (hidden → 404) and calls the service.
A refusal of the service (not the owner, no right) is the 403 page with its message; a
correctable error goes back to the case with the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core import search
from guanxi.core.errors import Forbidden, ServiceError
from guanxi.core.models import User
from guanxi.core.permissions import ROLE_PERMISSIONS
from guanxi.core.permissions import declare as requires
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.customers.models import Contact
from guanxi.customers.selectors import account_scope, search_matches
from guanxi.service.models import Case
from guanxi.service.selectors import cases as reads
from guanxi.service.services import cases as services
from guanxi.service.services import handovers

MATCH_ROWS = 20


def colleagues(user: Any, case: Case) -> list[User]:
    """Whom the owner may hand a case to: active people whose roles handle cases."""
    codes = [code for code, perms in ROLE_PERMISSIONS.items() if "case.change" in perms]
    return list(User.objects.filter(is_active=True, roles__code__in=codes).exclude(pk=case.owner_id).distinct()
                .select_related("department").order_by("department__path", "name", "id")[:300])


def _back(request: HttpRequest, case_pk: int) -> str:
    """Back to the desk when the action came from it, else to the case."""
    if request.POST.get("back") == "desk":
        return reverse("core:home")
    return reverse("service:case-detail", args=[case_pk])


def _act(request: HttpRequest, case_pk: int, action: Callable[[], object], done: Callable[[], str]) -> HttpResponse:
    """Run one action: a refusal is the 403 page, another error a message; then back."""
    try:
        action()
    except Forbidden:
        raise
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect(_back(request, case_pk))
    messages.success(request, done())
    return redirect(_back(request, case_pk))


def _link_page(request: HttpRequest, case: Case, url: str, mailed: bool) -> HttpResponse:
    return render(request, "service/cases_link.html", {"case": case, "url": url, "mailed": mailed})


# --- The workflow -----------------------------------------------------------------------------
@requires("case.change")
@require_POST
def case_move(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    case = reads.get_case(user, pk)
    to = request.POST.get("to", "")
    try:
        services.case_move(actor=user, case=case, to=to, note=request.POST.get("note", ""),
                           expected_version=posted_version(request))
    except Forbidden:
        raise
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("service:case-detail", pk=pk)
    if to == Case.State.RESOLVED:
        return _link_page(request, case, case.confirm_link, case.confirm_mailed)  # type: ignore[attr-defined]
    invitation: Any = getattr(case, "survey_invitation", None)
    survey_link = str(getattr(case, "survey_link", "") or "")
    if to == Case.State.CLOSED and invitation is not None and survey_link:
        # The satisfaction survey the close sent: its link is shown once on the invitation's
        # page, for a customer without e-mail (WeChat, SMS).
        from guanxi.loyalty.views.invitations import remember_link

        remember_link(request, invitation, survey_link)
        messages.success(request, _("Case %(code)s is closed. A satisfaction survey was created for the customer: "
                                    "open it to copy the link.") % {"code": case.code})
        return redirect("loyalty:invitation-detail", pk=invitation.pk)
    messages.success(request, _("Case %(code)s is now %(state)s.") % {
        "code": case.code, "state": str(case.get_state_display()).lower()})
    return redirect("service:case-detail", pk=pk)


@requires("case.change")
@require_POST
def case_link(request: HttpRequest, pk: int) -> HttpResponse:
    """A new link for the customer (the old one stops working), shown once."""
    user: Any = request.user
    case = reads.get_case(user, pk)
    try:
        url = services.case_confirm_link(actor=user, case=case)
    except Forbidden:
        raise
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("service:case-detail", pk=pk)
    return _link_page(request, case, url, bool(case.wants_reply and case.sender_email))


@requires("case.change")
@require_POST
def case_step(request: HttpRequest, pk: int) -> HttpResponse:
    case = reads.get_case(request.user, pk)
    return _act(request, pk, lambda: services.step_add(
        actor=request.user, case=case, step=request.POST.get("step", ""), note=request.POST.get("note", "")),
        lambda: _("The handling step was recorded."))


# --- The reply and its review -------------------------------------------------------------
class ReplyForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    proposal = forms.CharField(label=gettext_lazy("Proposed solution"), required=False,
                               widget=forms.Textarea(attrs={"rows": 4}),
                               help_text=gettext_lazy("What we will do about it (for the team and the reviewer)."))
    reply = forms.CharField(label=gettext_lazy("Reply to the customer"), required=False,
                            widget=forms.Textarea(attrs={"rows": 8}),
                            help_text=gettext_lazy("What the customer reads on their confirmation page and in the "
                                                   "e-mail."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


@requires("case.change")
def case_reply(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    case = reads.get_case(user, pk)
    services.owner_only(user, case, "reply")
    form = ReplyForm(request.POST or None, initial={"proposal": case.proposal, "reply": case.reply,
                                                    "version": case.version})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.reply_set(actor=user, case=case, proposal=data["proposal"], reply=data["reply"],
                                   expected_version=data["version"])
            except Forbidden:
                raise
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The reply was sent for review.") if case.review_state ==
                                 Case.Review.PENDING else _("The reply was saved."))
                return redirect("service:case-detail", pk=pk)
        else:
            status = 422
    return render(request, "service/cases_reply.html", {
        "form": form, "case": case, "needs_review": services.needs_review(case)}, status=status)


@requires("case.review")
@require_POST
def case_review(request: HttpRequest, pk: int) -> HttpResponse:
    case = reads.get_case(request.user, pk)
    approve = request.POST.get("decision") == "approve"
    return _act(request, pk, lambda: services.reply_review(
        actor=request.user, case=case, approve=approve, note=request.POST.get("note", ""),
        expected_version=posted_version(request)),
        lambda: _("The reply was approved.") if approve else _("The reply was returned to %(owner)s.") % {
            "owner": case.owner})


# --- Hand-overs ---------------------------------------------------------------------------
@requires("case.change")
@require_POST
def handover_offer(request: HttpRequest, pk: int) -> HttpResponse:
    case = reads.get_case(request.user, pk)
    holder: dict[str, Any] = {}

    def offer() -> None:
        holder["h"] = handovers.handover_offer(actor=request.user, case=case, to_user=request.POST.get("to_user"),
                                               note=request.POST.get("note", ""))

    return _act(request, pk, offer, lambda: _("The case was offered to %(person)s; it stays yours until they "
                                              "accept.") % {"person": holder["h"].to_user})


def _handover_action(request: HttpRequest, pk: int, action: Callable[..., Any], done: Callable[[Any], str],
                     text_field: str) -> HttpResponse:
    handover = reads.get_handover(request.user, pk)
    return _act(request, handover.case_id, lambda: action(
        actor=request.user, handover=handover, expected_version=posted_version(request),
        **{text_field: request.POST.get(text_field, "")}), lambda: done(handover))


@requires("case.change")
@require_POST
def handover_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _handover_action(request, pk, handovers.handover_accept, lambda h: _(
        "Case %(code)s is yours now.") % {"code": h.case.code}, "answer")


@requires("case.change")
@require_POST
def handover_decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _handover_action(request, pk, handovers.handover_decline, lambda h: _(
        "You declined case %(code)s.") % {"code": h.case.code}, "answer")


@requires("case.change")
@require_POST
def handover_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _handover_action(request, pk, handovers.handover_withdraw, lambda h: _(
        "The offer of case %(code)s was withdrawn.") % {"code": h.case.code}, "note")


# --- Matching to an account ------------------------------------------------------------------
@requires("case.change")
def case_match(request: HttpRequest, pk: int) -> HttpResponse:
    """Find a visible account (by name, pinyin, phone or code) and link the case to it."""
    user: Any = request.user
    case = reads.get_case(user, pk)
    if request.method == "POST":
        account = account_scope(user).filter(pk=request.POST.get("account") or 0).first() \
            if str(request.POST.get("account") or "").isdigit() else None
        contact_id = request.POST.get("contact") or ""
        contact = Contact.objects.filter(pk=contact_id).first() if contact_id.isdigit() else None
        try:
            services.case_match(actor=user, case=case, account=account, contact=contact,
                                expected_version=posted_version(request))
        except Forbidden:
            raise
        except ServiceError as exc:
            messages.error(request, error_text(exc))
            return redirect("service:case-match", pk=pk)
        messages.success(request, _("Case %(code)s is now linked to %(account)s.") % {
            "code": case.code, "account": case.account})
        return redirect("service:case-detail", pk=pk)
    q = str(request.GET.get("q") or case.sender_company or case.sender_name or "").strip()[:100]
    accounts: list[Any] = []
    if q:
        needle = search.normalise(q)
        accounts = list(account_scope(user).filter(search_matches(needle)).order_by("name", "id")
                        .only("id", "name", "code", "city")[:MATCH_ROWS])
        people = Contact.objects.filter(account_id__in=[a.pk for a in accounts]).order_by("name").only(
            "id", "name", "account_id", "mobile")
        by_account: dict[int, list[Contact]] = {}
        for person in people[:200]:
            by_account.setdefault(person.account_id, []).append(person)
        for account in accounts:
            account.people = by_account.get(account.pk, [])
    return render(request, "service/cases_match.html", {"case": case, "q": q, "accounts": accounts})


# --- Files ------------------------------------------------------------------------------------
@requires("case.change")
@require_POST
def case_attach(request: HttpRequest, pk: int) -> HttpResponse:
    from guanxi.service.services import attachments

    case = reads.get_case(request.user, pk)
    uploads = request.FILES.getlist("files")

    def attach_all() -> None:
        from django.db import transaction

        with transaction.atomic():
            for upload in attachments.check_all(uploads, field="files"):
                attachments.attach(actor=request.user, case=case, upload=upload)

    if not uploads:
        messages.error(request, _("Choose a file to add."))
        return redirect("service:case-detail", pk=pk)
    return _act(request, pk, attach_all, lambda: _("%(n)d file(s) added.") % {"n": len(uploads)})


urlpatterns: list[URLPattern] = [
    path("cases/<int:pk>/move/", case_move, name="case-move"),
    path("cases/<int:pk>/link/", case_link, name="case-link"),
    path("cases/<int:pk>/steps/", case_step, name="case-step"),
    path("cases/<int:pk>/reply/", case_reply, name="case-reply"),
    path("cases/<int:pk>/review/", case_review, name="case-review"),
    path("cases/<int:pk>/handover/", handover_offer, name="case-handover"),
    path("cases/<int:pk>/match/", case_match, name="case-match"),
    path("cases/<int:pk>/attachments/", case_attach, name="case-attach"),
    path("handovers/<int:pk>/accept/", handover_accept, name="handover-accept"),
    path("handovers/<int:pk>/decline/", handover_decline, name="handover-decline"),
    path("handovers/<int:pk>/withdraw/", handover_withdraw, name="handover-withdraw"),
]
