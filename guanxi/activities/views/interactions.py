"""HTML views of contact and follow-up: interactions (R3.1).

The quick-log form (templates/activities/_quick_log.html) logs a contact in two clicks
from the account page, the desk or a phone; the interaction pages show, edit, delete and
list them. Also registers the account page's "Contacts & follow-ups" tab.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.activities import selectors, services
from guanxi.activities.models import FollowUp, Interaction
from guanxi.core import selectors as core_selectors
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.core.views import form_errors
from guanxi.customers import account_page
from guanxi.customers.models import Account, AccountAttachment, Contact

PAGE_SIZE = 50
DATETIME_INPUT = "%Y-%m-%dT%H:%M"
TAB = "activities"  # the account page's tab: its pane is #tab-activities


# --- Small shared helpers (the follow-up views use them too) ----------------------------------
def local_input(value: Any) -> str:
    """A datetime as a datetime-local input's value, in the user's time zone."""
    return timezone.localtime(value).strftime(DATETIME_INPUT) if value else ""


def datetime_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT)


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where to go after a form: the posted ``next`` if it stays on this site, else ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return target
    return fallback


def account_tab_url(account_id: int) -> str:
    return reverse("customers:account-detail", args=[account_id]) + f"#tab-{TAB}"


def error_text(exc: ServiceError) -> str:
    return " ".join([exc.message, *[m for msgs in exc.errors.values() for m in msgs]]) if exc.errors else exc.message


def visible_account(user: Any, value: Any) -> Account:
    """The account named by a form or query value, if ``user`` sees it (hidden = missing = 404)."""
    if not str(value or "").isdigit():
        raise NotFound()
    return records.get_visible(user, Account, int(value))  # type: ignore[no-any-return]


def colleague_choices(user: Any, account: Account) -> list[tuple[str, str]]:
    """Our people who could have been there: the active people of the caller's and the
    account's departments (the API accepts any active colleague)."""
    departments = {d for d in (getattr(user, "department_id", None), account.department_id) if d}
    rows = (User.objects.filter(is_active=True, department_id__in=departments).exclude(pk=user.pk)
            .order_by("name", "username").values_list("id", "username", "name")[:100])
    return [(str(pk), name or username) for pk, username, name in rows]


# --- Forms --------------------------------------------------------------------------------------
def set_choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def styled(form: forms.Form) -> None:
    """Give the form's inputs Bootstrap's classes (choice lists are laid out by the templates)."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, (forms.CheckboxSelectMultiple, forms.RadioSelect, forms.HiddenInput)):
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        else:
            widget.attrs.setdefault("class", "form-control")


def _text(label: Any, rows: int = 2, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.Textarea(attrs={"rows": rows}), **kwargs)


class InteractionFields(forms.Form):
    """What one contact is: shared by the quick-log form and the edit form."""

    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=Interaction.Kind.choices,
                             initial=Interaction.Kind.VISIT, widget=forms.RadioSelect)
    purpose = forms.ChoiceField(label=gettext_lazy("Purpose"), choices=Interaction.Purpose.choices,
                                initial=Interaction.Purpose.INFORMATION, widget=forms.RadioSelect)
    occurred_at = forms.DateTimeField(label=gettext_lazy("When"), required=False, widget=datetime_widget(),
                                      help_text=gettext_lazy("Empty: now."))
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200, required=False)
    summary = forms.CharField(label=gettext_lazy("Summary"), widget=forms.Textarea(attrs={"rows": 3}),
                              required=False)
    outcome = _text(gettext_lazy("Outcome"))
    agreements = _text(gettext_lazy("Agreed points"), help_text=gettext_lazy("One point per line."))
    their_people = forms.MultipleChoiceField(label=gettext_lazy("Their people present"), required=False,
                                             widget=forms.CheckboxSelectMultiple)
    our_people = forms.MultipleChoiceField(label=gettext_lazy("Our people present"), required=False,
                                           widget=forms.CheckboxSelectMultiple)
    attachments = forms.MultipleChoiceField(label=gettext_lazy("Files of the account"), required=False,
                                            widget=forms.CheckboxSelectMultiple)
    gift = forms.CharField(label=gettext_lazy("Gift"), max_length=200, required=False)
    gift_value = forms.DecimalField(label=gettext_lazy("Gift value (CNY)"), max_digits=12, decimal_places=2,
                                    required=False, min_value=0)

    def __init__(self, *args: Any, account: Account, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        contacts = Contact.objects.filter(account=account).order_by("name").values_list("id", "name", "title")[:200]
        set_choices(self, "their_people", [(str(pk), f"{name} · {title}" if title else name)
                                           for pk, name, title in contacts])
        set_choices(self, "our_people", colleague_choices(user, account))
        files = AccountAttachment.objects.filter(account=account).order_by("-id").values_list("id", "original_name")[:50]
        set_choices(self, "attachments", [(str(pk), name) for pk, name in files])
        styled(self)

    def interaction_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        out = {name: data[name] for name in services.INTERACTION_EDITABLE if name in data}
        if out.get("occurred_at") is None:
            out.pop("occurred_at", None)
        for name in services.INTERACTION_RELATIONS:
            out[name] = [int(v) for v in data.get(name) or ()]
        return out


class QuickLogForm(InteractionFields):
    """Log a contact: the interaction, optionally a new file and the next step agreed."""

    upload = forms.FileField(label=gettext_lazy("Upload a file"), required=False)
    upload_kind = forms.ChoiceField(label=gettext_lazy("Kind of file"), choices=AccountAttachment.Kind.choices,
                                    initial=AccountAttachment.Kind.OTHER, required=False)
    next_title = forms.CharField(label=gettext_lazy("Next step"), max_length=200, required=False)
    next_due = forms.DateTimeField(label=gettext_lazy("Due"), required=False, widget=datetime_widget())

    def __init__(self, *args: Any, account: Account, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, account=account, user=user, **kwargs)
        # Uploading adds a file to the customer file: only for those who may change it.
        self.can_upload = has_perm(user, "account.change")
        if not self.can_upload:
            del self.fields["upload"], self.fields["upload_kind"]
        if not has_perm(user, "followup.add"):
            del self.fields["next_title"], self.fields["next_due"]
        styled(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("next_due") and not (data.get("next_title") or "").strip():
            self.add_error("next_title", _("Write the next step."))
        if (data.get("next_title") or "").strip() and not data.get("next_due"):
            self.add_error("next_due", _("Choose when it is due."))
        return data

    def to_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        out = self.interaction_data()
        if (data.get("next_title") or "").strip():
            out["next_step"] = {"title": data["next_title"], "due_at": data["next_due"]}
        if data.get("upload"):
            out["upload"] = data["upload"]
            out["upload_kind"] = data.get("upload_kind") or AccountAttachment.Kind.OTHER
        return out


class InteractionEditForm(InteractionFields):
    version = forms.IntegerField(widget=forms.HiddenInput)


# Service error fields → the quick-log form's fields (the next step and the upload).
ERROR_FIELDS = {"title": "next_title", "due_at": "next_due", "file": "upload"}


def _form_errors(form: forms.Form, exc: ServiceError) -> None:
    renamed = {ERROR_FIELDS.get(k, k) if k not in form.fields else k: v for k, v in exc.errors.items()}
    form_errors(form, type(exc)(exc.message, errors=renamed))


# --- Quick log ----------------------------------------------------------------------------------
def quick_log_context(request: HttpRequest, account: Account, form: QuickLogForm | None = None,
                      followup: FollowUp | None = None) -> dict[str, Any]:
    """The context templates/activities/_quick_log.html needs (the desk may build it too)."""
    if form is None:
        form = QuickLogForm(account=account, user=request.user,
                            initial={"occurred_at": local_input(timezone.now())})
    return {"account": account, "form": form, "followup": followup,
            "next": safe_next(request, account_tab_url(account.pk))}


@requires("interaction.add")
def interaction_create(request: HttpRequest) -> HttpResponse:
    """Log a contact with ``?account=<id>`` (and optionally ``&followup=<id>``, which the contact
    then completes). A GET from htmx answers only the form (templates/activities/_quick_log.html)."""
    user: Any = request.user
    params = request.POST if request.method == "POST" else request.GET
    account = visible_account(user, params.get("account"))
    followup = None
    if params.get("followup"):
        followup = selectors.get_one(selectors.followup_scope, user, params.get("followup"))
        if followup.account_id != account.pk:
            raise NotFound()
    form = QuickLogForm(request.POST or None, request.FILES or None, account=account, user=user,
                        initial={"occurred_at": local_input(timezone.now())})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                interaction = services.interaction_log(actor=user, account=account, completes=followup,
                                                       **form.to_service())
            except ServiceError as exc:
                _form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Logged: %(what)s.") % {"what": interaction})
                return redirect(safe_next(request, account_tab_url(account.pk)))
        else:
            status = 422
    context = quick_log_context(request, account, form, followup)
    if request.htmx and request.method == "GET":  # type: ignore[attr-defined]
        return render(request, "activities/_quick_log.html", context)
    return render(request, "activities/interaction_form.html", context, status=status)


# --- Detail, edit, delete, list -----------------------------------------------------------------
def _interaction(request: HttpRequest, pk: int) -> Interaction:
    return selectors.get_one(selectors.interaction_scope, request.user, pk, "account", "owner")  # type: ignore[no-any-return]


@requires("interaction.view")
def interaction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _interaction(request, pk)
    return render(request, "activities/interaction_detail.html", {
        "interaction": interaction,
        "their_people": list(interaction.their_people.all()),
        "our_people": list(interaction.our_people.all()),
        "files": list(interaction.attachments.all()),
        "followups": list(selectors.followup_scope(request.user).filter(interaction=interaction)
                          .select_related("owner")),
        "history": core_selectors.history_for(interaction)[:20],
    })


@requires("interaction.change")
def interaction_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    interaction = _interaction(request, pk)
    initial = {name: getattr(interaction, name) for name in services.INTERACTION_EDITABLE}
    initial["occurred_at"] = local_input(interaction.occurred_at)
    for name in services.INTERACTION_RELATIONS:
        initial[name] = [str(pk) for pk in getattr(interaction, name).values_list("pk", flat=True)]
    form = InteractionEditForm(request.POST or None, account=interaction.account, user=user,
                               initial={**initial, "version": interaction.version})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changes = form.interaction_data()
            changes.setdefault("occurred_at", interaction.occurred_at)
            try:
                services.interaction_edit(actor=user, interaction=interaction, changes=changes,
                                          expected_version=form.cleaned_data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Saved."))
                return redirect("activities:interaction-detail", pk=pk)
        else:
            status = 422
    return render(request, "activities/interaction_edit.html", {"form": form, "interaction": interaction},
                  status=status)


@requires("interaction.delete")
@require_POST
def interaction_delete(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _interaction(request, pk)
    version = request.POST.get("version", "")
    try:
        services.interaction_delete(actor=request.user, interaction=interaction,
                                    expected_version=int(version) if version.isdigit() else None)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("activities:interaction-detail", pk=pk)
    messages.success(request, _("%(name)s was moved to the recycle bin.") % {"name": interaction})
    return redirect(account_tab_url(interaction.account_id))


@requires("interaction.view")
def interaction_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    status = 200
    try:
        qs = selectors.interaction_list_for(user, request.GET)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        qs, status = Interaction.objects.none(), exc.status
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    people = selectors.people_i_manage(user)
    return render(request, "activities/interaction_list.html", {
        "page": page, "kinds": Interaction.Kind.choices, "purposes": Interaction.Purpose.choices,
        "people": people if len(people) > 1 else [], "f": request.GET,
    }, status=status)


# --- The account page's "Contacts & follow-ups" tab ---------------------------------------------
PANEL_INTERACTIONS = 10


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """Recent interactions and the open follow-ups: the rows the timeline reads anyway (no query
    of its own; see selectors.page_interactions and page_followups)."""
    return {
        "activity_interactions": selectors.page_interactions(account)[:PANEL_INTERACTIONS]
        if has_perm(user, "interaction.view") else [],
        "activity_followups": selectors.page_followups(account)[0] if has_perm(user, "followup.view") else [],
        "activity_now": timezone.now(),
    }


account_page.register(account_page.Tab(
    key=TAB, label=gettext_lazy("Contacts & follow-ups"), template="activities/followup_account_tab.html",
    perm="interaction.view", context=account_panel, actions_template="activities/_quick_log_button.html", order=10,
))

urlpatterns: list[URLPattern] = [
    path("interactions/", interaction_list, name="interaction-list"),
    path("interactions/new/", interaction_create, name="interaction-create"),
    path("interactions/<int:pk>/", interaction_detail, name="interaction-detail"),
    path("interactions/<int:pk>/edit/", interaction_edit, name="interaction-edit"),
    path("interactions/<int:pk>/delete/", interaction_delete, name="interaction-delete"),
]
