"""HTML views: the public form /feedback/ (and variants), QR codes, hotline quick entry, comment-card batch entry,
feedback-form configuration.

The public form needs no login. It keeps spam out without third parties: a honeypot field
people never see, a signed timestamp (the form must be open a few seconds and not for
hours; each one is used once) and a rate limit per client address and form in the cache
(``GUANXI_FEEDBACK_RATE``). A refused submission writes nothing; an accepted one goes
through ``intake.case_receive`` like every other channel.
"""

from __future__ import annotations

import io
import secrets
import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from guanxi.core import selectors as core_selectors
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.permissions import PUBLIC, has_perm
from guanxi.core.permissions import declare as requires
from guanxi.core.public import activate_visitor_language, company_name, over_rate, rate_setting
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.sales.models import Order, Product
from guanxi.service.models import Case, CaseCategory, Channel, FeedbackForm, Kind, Severity
from guanxi.service.services import attachments as attachment_services
from guanxi.service.services import feedback_forms as form_services
from guanxi.service.services import intake

# --- Settings ------------------------------------------------------------------------------
DEFAULT_RATE = "10/10m"
DEFAULT_MIN_SECONDS = 3
DEFAULT_MAX_AGE = 2 * 3600
TOKEN_SALT = "guanxi.service.feedback"  # noqa: S105 (a signing namespace, not a secret)


def feedback_rate() -> tuple[int, int]:
    """(submissions, seconds) from ``GUANXI_FEEDBACK_RATE`` ("10/10m": ten per ten minutes)."""
    return rate_setting("GUANXI_FEEDBACK_RATE", DEFAULT_RATE)


def min_seconds() -> int:
    return int(getattr(settings, "GUANXI_FEEDBACK_MIN_SECONDS", DEFAULT_MIN_SECONDS))


def max_age() -> int:
    return int(getattr(settings, "GUANXI_FEEDBACK_MAX_AGE", DEFAULT_MAX_AGE))


def optional_url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


# --- Anti-spam -----------------------------------------------------------------------------
def form_token(form: FeedbackForm, *, issued_at: float | None = None, nonce: str | None = None) -> str:
    """The signed stamp a public form carries: which form, when it was opened, a one-time nonce."""
    return signing.dumps({"f": form.pk, "t": int(issued_at if issued_at is not None else time.time()),
                          "n": nonce or secrets.token_urlsafe(12)}, salt=TOKEN_SALT)


def read_token(token: str, form: FeedbackForm) -> dict[str, Any] | None:
    try:
        data = signing.loads(token or "", salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("f") != form.pk or not isinstance(data.get("t"), int) \
            or not isinstance(data.get("n"), str):
        return None
    return data


def over_the_limit(request: HttpRequest, form: FeedbackForm) -> bool:
    """Count this submission against the client address's allowance for this form."""
    return over_rate(request, f"guanxi:feedback:rate:{form.pk}", feedback_rate())


def _used_key(nonce: str) -> str:
    return f"guanxi:feedback:used:{nonce}"


# --- The public form -----------------------------------------------------------------------
class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> Any:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


PUBLIC_KINDS = [(Kind.COMPLAINT, gettext_lazy("Complaint")), (Kind.SUGGESTION, gettext_lazy("Suggestion")),
                (Kind.TICKET, gettext_lazy("Service request"))]


class PublicFeedbackForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("What would you like to tell us?"), choices=PUBLIC_KINDS,
                             widget=forms.RadioSelect(attrs={"class": "form-check-input"}))
    title = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    description = forms.CharField(label=gettext_lazy("What happened?"), max_length=intake.MAX_DESCRIPTION,
                                  widget=forms.Textarea(attrs={"rows": 5}))
    product = forms.ChoiceField(label=gettext_lazy("Product (optional)"), required=False)
    order_number = forms.CharField(label=gettext_lazy("Order number (optional)"), max_length=40, required=False)
    name = forms.CharField(label=gettext_lazy("Your name"), max_length=100, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    company = forms.CharField(label=gettext_lazy("Company"), max_length=200, required=False,
                              widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=40, required=False,
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "type": "tel"}))
    email = forms.EmailField(label=gettext_lazy("E-mail"), max_length=254, required=False,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    wants_reply = forms.BooleanField(label=gettext_lazy("Please contact me about this"), required=False,
                                     initial=True, widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))
    attachments = MultipleFileField(label=gettext_lazy("Photos or documents (optional)"), required=False)
    # The honeypot: hidden from people, filled in by robots that fill in everything.
    website = forms.CharField(label=gettext_lazy("Leave this empty"), required=False,
                              widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}))
    token = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, feedback: FeedbackForm, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].initial = feedback.kind
        products = Product.objects.filter(active=True).order_by("name").only("id", "name", "model")[:500]
        choice = self.fields["product"]
        assert isinstance(choice, forms.ChoiceField)
        choice.choices = [("", "—")] + [(str(p.pk), f"{p.name} {p.model}".strip()) for p in products]
        if not feedback.allow_attachments:
            del self.fields["attachments"]
        else:
            self.fields["attachments"].help_text = _(
                "Up to %(n)d files of at most %(mb)d MB each: photos (JPG, PNG), PDF or Office documents.") % {
                "n": attachment_services.MAX_FILES, "mb": attachment_services.max_bytes() // 1048576}
        style_form(self)


# The service's field names on the public form.
PUBLIC_FIELDS = {"kind": "kind", "title": "title", "description": "description", "product": "product",
                 "sender_name": "name", "sender_company": "company", "sender_phone": "phone",
                 "sender_email": "email", "attachments": "attachments"}


def _render_public(request: HttpRequest, feedback: FeedbackForm, form: PublicFeedbackForm, *, status: int,
                   notice: str = "") -> HttpResponse:
    return render(request, "service/feedback_form.html", {
        "feedback": feedback, "form": form, "notice": notice, "company": company_name(),
        "multipart": "attachments" in form.fields}, status=status)


def _missing(request: HttpRequest) -> HttpResponse:
    return render(request, "service/feedback_missing.html", {"company": company_name()}, status=404)


def _refused(request: HttpRequest, *, status: int, message: str) -> HttpResponse:
    return render(request, "service/feedback_refused.html", {"company": company_name(), "message": message},
                  status=status)


def _thanks(request: HttpRequest, feedback: FeedbackForm, code: str) -> HttpResponse:
    return render(request, "service/feedback_thanks.html", {"feedback": feedback, "code": code,
                                                            "company": company_name()})


def _receive(request: HttpRequest, feedback: FeedbackForm, form: PublicFeedbackForm) -> Case:
    data = form.cleaned_data
    kind = data["kind"]
    category = feedback.category if feedback.category and feedback.category.kind in ("", kind) else None
    description = data["description"]
    number = data.get("order_number", "").strip()
    order = Order.objects.filter(code=number).first() if number else None
    if number:
        description += "\n\n" + _("Order number given: %(number)s") % {"number": number}
    return intake.case_receive(
        actor=None, kind=kind, title=data["title"], description=description, channel=feedback.channel,
        category=category, product=data.get("product") or None, order=order, sender_name=data["name"],
        sender_company=data["company"], sender_phone=data["phone"], sender_email=data["email"],
        wants_reply=bool(data["wants_reply"]), form=feedback, attachments=data.get("attachments") or ())


def _public(request: HttpRequest, feedback: FeedbackForm | None) -> HttpResponse:
    activate_visitor_language(request)
    if feedback is None:
        return _missing(request)
    if request.method != "POST":
        form = PublicFeedbackForm(initial={"token": form_token(feedback)}, feedback=feedback)
        return _render_public(request, feedback, form, status=200)
    if over_the_limit(request, feedback):
        return _refused(request, status=429, message=_(
            "We have received many messages from your connection in a short time. Please wait a few minutes and "
            "try again, or call us."))
    if request.POST.get("website", ""):
        return _refused(request, status=400, message=_("Your message could not be accepted."))
    post = request.POST.copy()
    stamp = read_token(post.get("token", ""), feedback)
    now = time.time()
    if stamp is None or now - stamp["t"] > max_age():
        post["token"] = form_token(feedback)
        form = PublicFeedbackForm(post, request.FILES, feedback=feedback)
        return _render_public(request, feedback, form, status=400, notice=_(
            "This page was open for a long time. Please check what you wrote and send it again."))
    if now - stamp["t"] < min_seconds():
        form = PublicFeedbackForm(post, request.FILES, feedback=feedback)
        return _render_public(request, feedback, form, status=400, notice=_(
            "That was very fast. Please check what you wrote and send it again."))
    used = _used_key(stamp["n"])
    if not cache.add(used, "", timeout=max_age()):
        code = cache.get(used)
        if code:
            return _thanks(request, feedback, code)  # sent twice (a reload): the same answer
        return _refused(request, status=409, message=_("Your message is being sent; please wait a moment."))
    form = PublicFeedbackForm(post, request.FILES, feedback=feedback)
    try:
        if not form.is_valid():
            raise Invalid()
        case = _receive(request, feedback, form)
    except ServiceError as exc:
        cache.delete(used)
        for key, msgs in exc.errors.items():
            for msg in msgs:
                form.add_error(PUBLIC_FIELDS.get(key) if PUBLIC_FIELDS.get(key) in form.fields else None, msg)
        return _render_public(request, feedback, form, status=422)
    except BaseException:
        cache.delete(used)
        raise
    cache.set(used, case.code, timeout=max_age())
    return _thanks(request, feedback, case.code)


@requires(PUBLIC)
@never_cache
def feedback_default(request: HttpRequest) -> HttpResponse:
    """``/feedback/``: the default form, or a friendly "not set up yet" page (404)."""
    return _public(request, form_services.default_form())


@requires(PUBLIC)
@never_cache
def feedback_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/feedback/<slug>/``: one company's, channel's or shop's form."""
    return _public(request, form_services.public_form(slug))


# --- Attachments ---------------------------------------------------------------------------
@requires("case.view")
@require_GET
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """Always a download, never rendered by the browser (S12); hidden cases' files are 404."""
    attachment = attachment_services.attachment_for(request.user, pk)
    response = FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.original_name,
                            content_type=attachment.content_type or "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- Hotline quick entry ---------------------------------------------------------------------
STAFF_CHANNELS = [(Channel.HOTLINE, Channel.HOTLINE.label), (Channel.VISIT, Channel.VISIT.label),
                  (Channel.STAFF, Channel.STAFF.label)]


def _categories() -> list[tuple[str, str]]:
    return [("", "—")] + [(str(c.pk), c.name) for c in CaseCategory.objects.filter(active=True)]


class HotlineForm(forms.Form):
    sender_phone = forms.CharField(label=gettext_lazy("Caller's phone"), max_length=40,
                                   widget=forms.TextInput(attrs={"autofocus": True, "inputmode": "tel",
                                                                 "autocomplete": "off"}))
    sender_name = forms.CharField(label=gettext_lazy("Caller's name"), max_length=100, required=False)
    sender_company = forms.CharField(label=gettext_lazy("Company"), max_length=200, required=False)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Kind.choices, initial=Kind.COMPLAINT)
    ticket_type = forms.ChoiceField(label=gettext_lazy("Ticket type"), required=False,
                                    choices=[("", "—"), *Case.TicketType.choices])
    category = forms.ChoiceField(label=pgettext_lazy("case", "Category"), required=False)
    severity = forms.ChoiceField(label=gettext_lazy("Severity"), choices=Severity.choices, initial=Severity.NORMAL)
    title = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    description = forms.CharField(label=gettext_lazy("What the customer said"), max_length=intake.MAX_DESCRIPTION,
                                  widget=forms.Textarea(attrs={"rows": 4}))
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), choices=STAFF_CHANNELS, initial=Channel.HOTLINE)
    wants_reply = forms.BooleanField(label=gettext_lazy("The customer wants a reply"), required=False, initial=True,
                                     widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = _categories()
        # Typing the phone (or the company) looks the caller up among the agent's customers.
        lookup = {"hx-get": reverse("service:hotline-lookup"), "hx-target": "#caller", "hx-swap": "innerHTML",
                  "hx-include": "[name=sender_phone],[name=sender_company],[name=caller]"}
        self.fields["sender_phone"].widget.attrs.update(lookup, **{"hx-trigger": "keyup changed delay:400ms"})
        self.fields["sender_company"].widget.attrs.update(lookup, **{"hx-trigger": "change"})
        style_form(self)


HOTLINE_FIELDS = ("sender_phone", "sender_name", "sender_company", "kind", "ticket_type", "category", "severity",
                  "title", "description", "channel", "wants_reply")


def _caller(user: Any, params: QueryDict) -> dict[str, Any]:
    """The lookup panel's context: the visible accounts the caller's phone (or company) names."""
    phone = params.get("sender_phone", "").strip()
    company = params.get("sender_company", "").strip()
    searched = len(intake.phone_digits(phone)) >= intake.MIN_PHONE_DIGITS or bool(company)
    found = intake.lookup_for(user, phone=phone, company=company) if searched else []
    chosen = params.get("caller", "")
    options = []
    for item in found:
        account = item["account"]
        for person in item["contacts"]:
            options.append({"value": f"{account.pk}-{person.pk}", "person": person.name, "account": account.name,
                            "code": ""})
        options.append({"value": f"{account.pk}-0", "person": "", "account": account.name, "code": account.code})
    for option in options:
        option["checked"] = option["value"] == chosen
    return {"searched": searched, "options": options, "chosen": chosen if any(o["checked"] for o in options) else ""}


def _chosen_caller(value: str) -> tuple[Any, Any]:
    """(account id, contact id) from the lookup's radio ("<account>-<contact or 0>"); the service
    checks the account is one the agent sees."""
    parts = value.split("-") if value else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None, None
    return int(parts[0]), (int(parts[1]) or None)


@requires("case.add")
def hotline(request: HttpRequest) -> HttpResponse:
    """One short form an agent fills during a call: the phone first (it looks the caller up)."""
    user: Any = request.user
    form = HotlineForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            account, contact = _chosen_caller(request.POST.get("caller", ""))
            try:
                case = intake.case_receive(
                    actor=user, kind=data["kind"], ticket_type=data["ticket_type"], title=data["title"],
                    description=data["description"], channel=data["channel"], category=data["category"] or None,
                    severity=data["severity"], account=account, contact=contact,
                    sender_name=data["sender_name"], sender_company=data["sender_company"],
                    sender_phone=data["sender_phone"], wants_reply=bool(data["wants_reply"]))
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Case %(code)s received; it is yours.") % {"code": case.code})
                detail = optional_url("service:case-detail", case.pk)
                return redirect(detail or "service:hotline")
        status = 422
    return render(request, "service/intake_hotline.html", {
        "form": form, "caller": _caller(user, request.POST) if request.method == "POST" else None,
        "cards_url": reverse("service:cards")}, status=status)


@requires("case.add")
@require_GET
def hotline_lookup(request: HttpRequest) -> HttpResponse:
    """The caller panel (htmx): visible accounts only; anything else is "not found"."""
    return render(request, "service/intake_caller.html", {"caller": _caller(request.user, request.GET)})


# --- Paper comment cards ---------------------------------------------------------------------
CARD_COLUMNS = [("received_on", gettext_lazy("Date received")), ("kind", gettext_lazy("Kind")),
                ("category", pgettext_lazy("case", "Category")), ("name", pgettext_lazy("person", "Name")),
                ("company", gettext_lazy("Company")), ("phone", gettext_lazy("Phone")),
                ("text", gettext_lazy("What the card says")), ("rating", gettext_lazy("Rating (1–5)"))]
CARD_ROWS = 10
MAX_CARD_FILE_BYTES = 5 * 1024 * 1024


def _card_count(request: HttpRequest) -> int:
    raw = request.POST.get("count") or request.GET.get("rows") or ""
    count = int(raw) if raw.isdigit() else CARD_ROWS
    return min(max(count, 1), intake.MAX_CARDS)


@requires("case.add")
def cards(request: HttpRequest) -> HttpResponse:
    """Enter a pile of paper comment cards: a grid (or a CSV/Excel file), all or nothing."""
    user: Any = request.user
    count = _card_count(request)
    today = timezone.localdate().isoformat()
    values = [{k: request.POST.get(f"{k}-{i}", "") for k, _label in CARD_COLUMNS} for i in range(count)]
    if request.method != "POST":
        for row in values:
            row["received_on"] = today  # most cards are entered the day they are collected
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if request.POST.get("upload"):
            values = []
            if upload is None:
                general.append(_("Choose a file."))
            elif (upload.size or 0) > MAX_CARD_FILE_BYTES:
                general.append(_("The file is larger than %(mb)d MB; split it into smaller files.") % {
                    "mb": MAX_CARD_FILE_BYTES // 1048576})
            elif not (upload.name or "").lower().endswith((".csv", ".xlsx", ".txt")):
                general.append(_("Upload a CSV or Excel (.xlsx) file."))
            else:
                try:
                    values = intake.cards_from_file(upload.read(), upload.name or "")
                except ServiceError as exc:
                    general.append(error_text(exc))
            count = max(len(values), 1)
        if not general:
            try:
                created = intake.cards_receive(actor=user, rows=values)
            except ServiceError as exc:
                errors = exc.errors
                general = [m for k, msgs in exc.errors.items() if "." not in k for m in msgs]
                if not exc.errors:
                    general = [exc.message]
            else:
                messages.success(request, _("%(n)d comment cards entered.") % {"n": len(created)})
                return redirect(optional_url("service:case-list") or reverse("service:cards"))
        status = 422
        values += [{k: "" for k, _label in CARD_COLUMNS} for _ in range(count - len(values))]
    grid = [{"index": i, "cells": [{"key": k, "label": label, "value": values[i].get(k, ""),
                                    "errors": errors.get(f"{i}.{k}", [])} for k, label in CARD_COLUMNS]}
            for i in range(count)]
    return render(request, "service/intake_cards.html", {
        "grid": grid, "count": count, "general": general, "columns": CARD_COLUMNS, "kinds": Kind.choices,
        "categories": _categories()[1:], "today": today}, status=status)


# --- Feedback forms: configuration ---------------------------------------------------------
def _responders() -> list[tuple[str, str]]:
    users = User.objects.filter(is_active=True).order_by("name", "username")[:1000]
    return [(str(u.pk), str(u)) for u in users if has_perm(u, "case.change")]


class FeedbackFormForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    slug = forms.CharField(label=gettext_lazy("Web address"), max_length=40,
                           help_text=gettext_lazy("The form is served at /feedback/<address>/, e.g. shanghai-store."))
    intro = forms.CharField(label=gettext_lazy("Introduction"), required=False,
                            widget=forms.Textarea(attrs={"rows": 3}))
    kind = forms.ChoiceField(label=gettext_lazy("Default kind"), choices=Kind.choices)
    category = forms.ChoiceField(label=gettext_lazy("Default category"), required=False)
    responder = forms.ChoiceField(label=gettext_lazy("First responder"),
                                  help_text=gettext_lazy("Owns every case the form receives until it is handed over."))
    channel = forms.ChoiceField(label=gettext_lazy("Channel"),
                                choices=[(c, Channel(c).label) for c in form_services.FORM_CHANNELS])
    allow_attachments = forms.BooleanField(label=gettext_lazy("Allow attachments"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, choices in (("category", _categories()), ("responder", [("", "—"), *_responders()])):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = choices
        style_form(self)


class FeedbackFormEditForm(FeedbackFormForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


def public_url(request: HttpRequest, form: FeedbackForm) -> str:
    """The address printed on cards and in the QR code (``GUANXI_BASE_URL`` when set)."""
    path_ = reverse("feedback:form", args=[form.slug])
    base = (getattr(settings, "GUANXI_BASE_URL", "") or "").rstrip("/")
    return base + path_ if base else request.build_absolute_uri(path_)


@requires("service.configure")
def feedback_form_list(request: HttpRequest) -> HttpResponse:
    forms_ = list(FeedbackForm.objects.select_related("responder", "category").order_by("-active", "-is_default",
                                                                                          "slug"))
    for form in forms_:
        form.public_url = public_url(request, form)  # type: ignore[attr-defined]
    return render(request, "service/intake_forms_list.html", {"forms": forms_})


@requires("service.configure")
def feedback_form_create(request: HttpRequest) -> HttpResponse:
    form = FeedbackFormForm(request.POST or None, initial={"kind": Kind.COMPLAINT, "channel": Channel.WEB,
                                                           "allow_attachments": True, "responder": request.user.pk})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = form_services.feedback_form_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("The form %(title)s was created.") % {"title": created.title})
                return redirect("service:feedback-form-list")
        status = 422
    return render(request, "service/intake_form_edit.html", {"form": form, "title": _("New feedback form")},
                  status=status)


def _config_form(pk: int) -> FeedbackForm:
    found = FeedbackForm.objects.select_related("responder", "category").filter(pk=pk).first()
    if found is None:
        raise NotFound()
    return found


@requires("service.configure")
def feedback_form_edit(request: HttpRequest, pk: int) -> HttpResponse:
    feedback = _config_form(pk)
    initial = {"title": feedback.title, "slug": feedback.slug, "intro": feedback.intro, "kind": feedback.kind,
               "category": feedback.category_id or "", "responder": feedback.responder_id,
               "channel": feedback.channel, "allow_attachments": feedback.allow_attachments,
               "version": feedback.version}
    form = FeedbackFormEditForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changes = dict(form.cleaned_data)
            version = changes.pop("version")
            try:
                form_services.feedback_form_update(actor=request.user, form=feedback, changes=changes,
                                                   expected_version=version)
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Saved."))
                return redirect("service:feedback-form-list")
        else:
            status = 422
    return render(request, "service/intake_form_edit.html", {
        "form": form, "feedback": feedback, "title": _("Edit feedback form %(title)s") % {"title": feedback.title},
        "public_url": public_url(request, feedback), "history": core_selectors.history_for(feedback)[:30]},
        status=status)


def _form_action(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    feedback = _config_form(pk)
    try:
        action(actor=request.user, form=feedback, expected_version=posted_version(request))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done % {"title": feedback.title})
    return redirect("service:feedback-form-list")


@requires("service.configure")
@require_POST
def feedback_form_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(request, pk, form_services.feedback_form_deactivate,
                        _("The form %(title)s is no longer served."))


@requires("service.configure")
@require_POST
def feedback_form_activate(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(request, pk, form_services.feedback_form_activate, _("The form %(title)s is served again."))


@requires("service.configure")
@require_POST
def feedback_form_default(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_action(request, pk, form_services.feedback_form_set_default,
                        _("The form %(title)s is now served at /feedback/."))


# --- QR codes and the printable comment card -----------------------------------------------
def _qr(request: HttpRequest, feedback: FeedbackForm) -> Any:
    import segno

    return segno.make(public_url(request, feedback), error="m")


@requires("service.configure")
@require_GET
def feedback_form_qr_svg(request: HttpRequest, pk: int) -> HttpResponse:
    feedback = _config_form(pk)
    out = io.BytesIO()
    _qr(request, feedback).save(out, kind="svg", scale=8, border=2, xmldecl=True, title=feedback.title[:100])
    response = HttpResponse(out.getvalue(), content_type="image/svg+xml")
    response["X-Content-Type-Options"] = "nosniff"
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="feedback-{feedback.slug}.svg"'
    return response


@requires("service.configure")
@require_GET
def feedback_form_qr_png(request: HttpRequest, pk: int) -> HttpResponse:
    feedback = _config_form(pk)
    out = io.BytesIO()
    _qr(request, feedback).save(out, kind="png", scale=12, border=2)
    response = HttpResponse(out.getvalue(), content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'attachment; filename="feedback-{feedback.slug}.png"'
    return response


@requires("service.configure")
@require_GET
def feedback_form_card(request: HttpRequest, pk: int) -> HttpResponse:
    """A comment card to print (A5 by default, A6 with ?size=a6): company, title, QR code, invitation."""
    feedback = _config_form(pk)
    size = "a6" if request.GET.get("size") == "a6" else "a5"
    return render(request, "service/intake_card_print.html", {
        "feedback": feedback, "company": company_name(), "size": size, "public_url": public_url(request, feedback)})


urlpatterns: list[URLPattern] = [
    path("cases/new/", hotline, name="hotline"),
    path("cases/new/lookup/", hotline_lookup, name="hotline-lookup"),
    path("attachments/<int:pk>/download/", attachment_download, name="attachment-download"),
    path("cards/", cards, name="cards"),
    path("feedback-forms/", feedback_form_list, name="feedback-form-list"),
    path("feedback-forms/new/", feedback_form_create, name="feedback-form-create"),
    path("feedback-forms/<int:pk>/", feedback_form_edit, name="feedback-form-edit"),
    path("feedback-forms/<int:pk>/deactivate/", feedback_form_deactivate, name="feedback-form-deactivate"),
    path("feedback-forms/<int:pk>/activate/", feedback_form_activate, name="feedback-form-activate"),
    path("feedback-forms/<int:pk>/default/", feedback_form_default, name="feedback-form-default"),
    path("feedback-forms/<int:pk>/qr.svg", feedback_form_qr_svg, name="feedback-form-qr-svg"),
    path("feedback-forms/<int:pk>/qr.png", feedback_form_qr_png, name="feedback-form-qr-png"),
    path("feedback-forms/<int:pk>/card/", feedback_form_card, name="feedback-form-card"),
]
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = [
    path("", feedback_default, name="form-default"),
    path("<slug:slug>/", feedback_page, name="form"),
]
