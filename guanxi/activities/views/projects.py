"""HTML views of projects (R3.7): the list, a project with its phases and cost changes, and
the customer's public page behind the signed link. Thin: parse → scoped read → service → render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from guanxi.activities.models import CostChange, Phase, Project
from guanxi.activities.selectors import cost_change_scope, get_one, phase_scope, project_scope
from guanxi.activities.selectors import projects as reads
from guanxi.activities.services import projects as services
from guanxi.core import selectors as core_selectors
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.models import User
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import PUBLIC, has_perm
from guanxi.core.permissions import declare as requires
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.customers import account_page
from guanxi.customers.models import AccountAttachment
from guanxi.customers.selectors import account_scope

PAGE_SIZE = 50
ACCOUNT_CHOICES = 300  # accounts offered when a project is started from the list
OWNER_CHOICES = 500


def _owner_choices() -> list[tuple[str, str]]:
    # Any active colleague; the service refuses one who cannot see the account.
    return [(str(u.pk), str(u)) for u in User.objects.filter(is_active=True).order_by("name", "username")
            [:OWNER_CHOICES]]


def _choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def _date() -> forms.DateField:
    return forms.DateField(label="", required=False, widget=forms.DateInput(attrs={"type": "date"}))


# --- Forms -----------------------------------------------------------------------------------
class ProjectForm(forms.Form):
    account = forms.ChoiceField(label=gettext_lazy("Account"))
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    goal = forms.CharField(label=gettext_lazy("Goal"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.ChoiceField(label=gettext_lazy("Owner"))
    starts_on = _date()
    ends_on = _date()
    budget = forms.DecimalField(label=gettext_lazy("Budget (CNY)"), max_digits=14, decimal_places=2, min_value=0,
                                initial=0)

    def __init__(self, *args: Any, accounts: list[tuple[str, str]] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["starts_on"].label = gettext_lazy("Starts on")
        self.fields["ends_on"].label = gettext_lazy("Ends on")
        _choices(self, "owner", _owner_choices())
        if accounts is None:
            del self.fields["account"]
        else:
            _choices(self, "account", [("", "—"), *accounts])
        style_form(self)


class ProjectEditForm(ProjectForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, accounts=None, **kwargs)


class PhaseForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    goal = forms.CharField(label=gettext_lazy("Goal"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.ChoiceField(label=gettext_lazy("Owner"))
    starts_on = _date()
    ends_on = _date()
    cost = forms.DecimalField(label=gettext_lazy("Agreed cost (CNY)"), max_digits=14, decimal_places=2, min_value=0,
                              initial=0, help_text=gettext_lazy("Later changes of the cost go to the customer for "
                                                                "approval."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["starts_on"].label = gettext_lazy("Starts on")
        self.fields["ends_on"].label = gettext_lazy("Ends on")
        _choices(self, "owner", _owner_choices())
        style_form(self)


class PhaseEditForm(PhaseForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["cost"]


class CostChangeForm(forms.Form):
    amount = forms.DecimalField(label=gettext_lazy("Change (CNY)"), max_digits=14, decimal_places=2,
                                help_text=gettext_lazy("More: a positive amount; less: a negative one, e.g. -2000."))
    reason = forms.CharField(label=gettext_lazy("Reason (the customer reads this)"),
                             widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


DECISIONS = [("approve", gettext_lazy("The customer approved")), ("decline", gettext_lazy("The customer declined"))]


class RecordDecisionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(label=gettext_lazy("Decision"), choices=DECISIONS, widget=forms.RadioSelect)
    customer_name = forms.CharField(label=gettext_lazy("Decided by (name at the customer)"),
                                    max_length=services.CUSTOMER_NAME_MAX)
    note = forms.CharField(label=gettext_lazy("Customer's note"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))
    evidence = forms.FileField(label=gettext_lazy("Written evidence (signed letter, e-mail, message; PDF or image)"),
                               required=False)
    evidence_id = forms.ChoiceField(label=gettext_lazy("… or a file already attached to the account"),
                                    required=False)

    def __init__(self, *args: Any, files_of_account: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "evidence_id", [("", "—"), *files_of_account])
        style_form(self)


class PublicDecisionForm(forms.Form):
    customer_name = forms.CharField(label=gettext_lazy("Your name"), max_length=services.CUSTOMER_NAME_MAX)
    note = forms.CharField(label=gettext_lazy("Note (optional)"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_form(self)


# --- The list --------------------------------------------------------------------------------
@requires("project.view")
def project_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    params = request.GET
    account_id = params.get("account", "")
    mine = params.get("mine") == "1"
    state = params.get("state", "")
    if state not in Project.State.values:
        state = ""
    qs = reads.project_list_for(user, account=account_id or None, owner=user.pk if mine else params.get("owner") or None,
                                state=state, q=params.get("q", ""), waiting=params.get("waiting") == "1")
    page = CappedPaginator(qs, PAGE_SIZE).get_page(params.get("page"))
    page.object_list = reads.finish(page.object_list)
    account = account_scope(user).filter(pk=account_id).only("id", "name").first() if account_id.isdigit() else None
    return render(request, "activities/project_list.html", {
        "page": page, "q": params.get("q", ""), "state": state, "states": Project.State.choices, "mine": mine,
        "waiting": params.get("waiting") == "1", "account": account, "can_add": has_perm(user, "project.add"),
    })


# --- One project -----------------------------------------------------------------------------
def _project(request: HttpRequest, pk: int) -> Project:
    return get_one(project_scope, request.user, pk, "account", "owner")


@requires("project.view")
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    project = _project(request, pk)
    rows = reads.phases_of(project)
    return render(request, "activities/project_detail.html", {
        "project": project, "phases": rows, "progress": reads.progress_of(project, [r.phase for r in rows]),
        "changes": reads.cost_changes_of(project),
        "history": core_selectors.history_for(project)[:50],
        "can_change": has_perm(user, "project.change"), "can_delete": has_perm(user, "project.delete"),
        "is_open": project.state == Project.State.ACTIVE,
    })


@requires("project.add")
def project_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    fixed = request.GET.get("account") or request.POST.get("account") or ""
    visible = account_scope(user)
    account = visible.filter(pk=fixed).first() if str(fixed).isdigit() else None
    choices = [(str(account.pk), account.name)] if account else [
        (str(a.pk), f"{a.name} ({a.code})") for a in visible.order_by("name").only("id", "name", "code")[:ACCOUNT_CHOICES]]
    form = ProjectForm(request.POST or None, accounts=choices, initial={"account": fixed, "owner": str(user.pk)})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        chosen = visible.filter(pk=data.pop("account")).first()
        if chosen is None:
            form.add_error("account", _("Choose an account you can see."))
        else:
            try:
                project = services.project_create(actor=user, account=chosen, **data)
            except ServiceError as exc:
                form_errors(form, exc)
            else:
                messages.success(request, _("Project %(name)s started.") % {"name": project.name})
                return redirect("activities:project-detail", pk=project.pk)
    title = _("New project for %(account)s") % {"account": account.name} if account else _("New project")
    return render(request, "core/form.html", {"form": form, "title": title})


@requires("project.change")
def project_edit(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    initial = {f: getattr(project, f) for f in ("name", "goal", "starts_on", "ends_on", "budget")}
    form = ProjectEditForm(request.POST or None, initial={**initial, "owner": str(project.owner_id),
                                                          "version": project.version})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.project_update(actor=request.user, project=project, changes=data, expected_version=version)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("activities:project-detail", pk=pk)
    return render(request, "core/form.html", {"form": form, "title": _("Edit %(name)s") % {"name": project.name}})


STATE_ACTIONS = {"complete": Project.State.DONE, "cancel": Project.State.CANCELLED, "reopen": Project.State.ACTIVE}


@requires("project.change")
@require_POST
def project_state(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    to = STATE_ACTIONS.get(request.POST.get("action", ""))
    if to is None:
        raise NotFound()
    try:
        services.project_update(actor=request.user, project=project, changes={"state": to},
                                expected_version=posted_version(request))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The project is now %(state)s.") % {"state": project.get_state_display()})
    return redirect("activities:project-detail", pk=pk)


@requires("project.delete")
@require_POST
def project_delete(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    try:
        services.project_delete(actor=request.user, project=project)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("activities:project-detail", pk=pk)
    messages.success(request, _("%(name)s was moved to the recycle bin.") % {"name": project.name})
    return redirect("activities:project-list")


# --- Phases ----------------------------------------------------------------------------------
def _phase(request: HttpRequest, pk: int) -> Phase:
    return get_one(phase_scope, request.user, pk, "project", "project__account")


@requires("project.change")
def phase_create(request: HttpRequest, pk: int) -> HttpResponse:
    project = _project(request, pk)
    form = PhaseForm(request.POST or None, initial={"owner": str(project.owner_id)})
    if request.method == "POST" and form.is_valid():
        try:
            phase = services.phase_add(actor=request.user, project=project, **form.cleaned_data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Phase %(name)s added.") % {"name": phase.name})
            return redirect("activities:project-detail", pk=project.pk)
    return render(request, "core/form.html", {"form": form, "title": _("New phase of %(name)s") % {"name": project.name}})


@requires("project.change")
def phase_edit(request: HttpRequest, pk: int) -> HttpResponse:
    phase = _phase(request, pk)
    initial = {f: getattr(phase, f) for f in ("name", "goal", "starts_on", "ends_on")}
    form = PhaseEditForm(request.POST or None, initial={**initial, "owner": str(phase.owner_id),
                                                        "version": phase.version})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.phase_update(actor=request.user, phase=phase, changes=data, expected_version=version)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("activities:project-detail", pk=phase.project_id)
    return render(request, "core/form.html", {"form": form, "title": _("Edit %(name)s") % {"name": phase.name}})


@requires("project.change")
@require_POST
def phase_move(request: HttpRequest, pk: int) -> HttpResponse:
    phase = _phase(request, pk)
    step = {"up": -1, "down": 1}.get(request.POST.get("direction", ""), 0)
    if step:
        try:
            services.phase_move(actor=request.user, phase=phase, position=phase.position + step)
        except ServiceError as exc:
            messages.error(request, error_text(exc))
    return redirect(reverse("activities:project-detail", args=[phase.project_id]) + "#phases")


def _phase_action(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    phase = _phase(request, pk)
    try:
        action(actor=request.user, phase=phase, expected_version=posted_version(request))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, done % {"name": phase.name})
    return redirect(reverse("activities:project-detail", args=[phase.project_id]) + "#phases")


@requires("project.change")
@require_POST
def phase_start(request: HttpRequest, pk: int) -> HttpResponse:
    return _phase_action(request, pk, services.phase_start, _("Phase %(name)s started."))


@requires("project.change")
@require_POST
def phase_complete(request: HttpRequest, pk: int) -> HttpResponse:
    return _phase_action(request, pk, services.phase_complete, _("Phase %(name)s completed."))


# --- Cost changes (staff) --------------------------------------------------------------------
def _link_page(request: HttpRequest, change: CostChange, token: str) -> HttpResponse:
    """The customer's link, shown once: only a new link (which voids this one) shows another."""
    url = request.build_absolute_uri(reverse("activities:cost-approval", args=[token]))
    change.refresh_from_db()
    response = render(request, "activities/project_link.html", {
        "change": change, "phase": change.phase, "project": change.phase.project, "url": url})
    response["Cache-Control"] = "no-store"
    return response


@requires("project.change")
def cost_change_create(request: HttpRequest, pk: int) -> HttpResponse:
    phase = _phase(request, pk)
    form = CostChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change, token = services.cost_change_request(actor=request.user, phase=phase, **form.cleaned_data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            return _link_page(request, change, token)
    return render(request, "core/form.html", {
        "form": form, "title": _("Ask the customer to approve a cost change of %(name)s") % {"name": phase.name},
        "notice": _("Agreed cost now: %(cost)s. The phase cannot start or be completed until the customer decides.")
        % {"cost": phase.cost}})


def _change(request: HttpRequest, pk: int) -> CostChange:
    return get_one(cost_change_scope, request.user, pk, "phase", "phase__project", "phase__project__account")


@requires("project.change")
@require_POST
def cost_change_link(request: HttpRequest, pk: int) -> HttpResponse:
    change = _change(request, pk)
    try:
        token = services.cost_change_reissue(actor=request.user, change=change)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect("activities:project-detail", pk=change.phase.project_id)
    return _link_page(request, change, token)


@requires("project.change")
@require_POST
def cost_change_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    change = _change(request, pk)
    try:
        services.cost_change_withdraw(actor=request.user, change=change, note=request.POST.get("note", ""),
                                      expected_version=posted_version(request))
    except ServiceError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The cost change was withdrawn; the customer's link no longer works."))
    return redirect("activities:project-detail", pk=change.phase.project_id)


@requires("project.change")
def cost_change_record(request: HttpRequest, pk: int) -> HttpResponse:
    change = _change(request, pk)
    project = change.phase.project
    files = [(str(a.pk), f"{a.original_name} ({a.created_at:%Y-%m-%d})")
             for a in AccountAttachment.objects.filter(account_id=project.account_id).order_by("-created_at")[:100]]
    form = RecordDecisionForm(request.POST or None, request.FILES or None, files_of_account=files,
                              initial={"version": change.version})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.cost_change_record_decision(
                    actor=request.user, change=change, approve=data["decision"] == "approve",
                    customer_name=data["customer_name"], note=data["note"], evidence=data["evidence"],
                    evidence_id=data["evidence_id"] or None, expected_version=data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The customer's decision was recorded."))
                return redirect("activities:project-detail", pk=project.pk)
        else:
            status = 422
    return render(request, "activities/project_record_decision.html", {
        "form": form, "change": change, "phase": change.phase, "project": project}, status=status)


# --- The customer's page (public, behind the signed link) ------------------------------------
def _refused(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return render(request, "activities/cost_approval_refused.html", {"message": exc.message, "code": exc.code},
                  status=exc.status)


@requires(PUBLIC)
@never_cache
def cost_approval(request: HttpRequest, token: str) -> HttpResponse:
    """What the customer sees: the change, its reason, approve or decline with their name.

    Reading it writes nothing (a GET may be repeated or prefetched freely); the POST is
    CSRF-protected like every form and decides once.
    """
    try:
        change = reads.cost_change_for_link(token)
    except ServiceError as exc:
        return _refused(request, exc)
    form = PublicDecisionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision not in ("approve", "decline"):
            form.add_error(None, _("Choose approve or decline."))
        if form.is_valid():
            try:
                decided = services.cost_change_decide_by_link(
                    token=token, approve=decision == "approve", customer_name=form.cleaned_data["customer_name"],
                    note=form.cleaned_data["note"])
            except Invalid as exc:
                form_errors(form, exc)
            except ServiceError as exc:
                return _refused(request, exc)
            else:
                return render(request, "activities/cost_approval_done.html", {"change": decided})
        status = 422
    phase = change.phase
    return render(request, "activities/cost_approval.html", {
        "change": change, "phase": phase, "project": phase.project, "account": phase.project.account,
        "new_cost": phase.cost + change.amount, "form": form}, status=status)


# --- On the account page ----------------------------------------------------------------------
@requires("project.view")
def account_projects(request: HttpRequest, account_pk: int) -> HttpResponse:
    """The account page's Projects tab, fetched when the tab is opened (the page pays no query)."""
    account = get_one(account_scope, request.user, account_pk)
    return render(request, "activities/project_account_panel.html", {
        "account": account, **reads.account_panel(request.user, account),
        "can_add": has_perm(request.user, "project.add")})


account_page.register(account_page.Tab(
    key="projects", label=gettext_lazy("Projects"), template="activities/project_account_tab.html",
    perm="project.view", order=70,
))

urlpatterns: list[URLPattern] = [
    path("projects/", project_list, name="project-list"),
    path("projects/new/", project_create, name="project-create"),
    path("projects/<int:pk>/", project_detail, name="project-detail"),
    path("projects/<int:pk>/edit/", project_edit, name="project-edit"),
    path("projects/<int:pk>/state/", project_state, name="project-state"),
    path("projects/<int:pk>/delete/", project_delete, name="project-delete"),
    path("projects/<int:pk>/phases/new/", phase_create, name="phase-create"),
    path("phases/<int:pk>/edit/", phase_edit, name="phase-edit"),
    path("phases/<int:pk>/move/", phase_move, name="phase-move"),
    path("phases/<int:pk>/start/", phase_start, name="phase-start"),
    path("phases/<int:pk>/complete/", phase_complete, name="phase-complete"),
    path("phases/<int:pk>/cost-changes/new/", cost_change_create, name="costchange-create"),
    path("cost-changes/<int:pk>/link/", cost_change_link, name="costchange-link"),
    path("cost-changes/<int:pk>/withdraw/", cost_change_withdraw, name="costchange-withdraw"),
    path("cost-changes/<int:pk>/record/", cost_change_record, name="costchange-record"),
    path("cost-approval/<str:token>/", cost_approval, name="cost-approval"),
    path("accounts/<int:account_pk>/projects/", account_projects, name="account-projects"),
]
