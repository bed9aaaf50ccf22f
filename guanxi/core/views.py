"""HTML views of the core app: sign-in, home, organisation, grants, approvals, audit,
recycle bin, jobs, notifications, personal settings. Each parses input, calls a service
or selector, and renders."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core import desk, mail, registry, selectors
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.forms import (
    AuditSearchForm,
    DepartmentForm,
    GrantForm,
    LoginForm,
    TeamForm,
    TokenForm,
    UserCreateForm,
    UserEditForm,
)
from guanxi.core.models import ApiToken, Department, Notification, Role, User
from guanxi.core.permissions import AUTHENTICATED, PUBLIC, has_perm
from guanxi.core.permissions import declare as requires
from guanxi.core.services import grants as grant_services
from guanxi.core.services import notifications as notification_services
from guanxi.core.services import org, policies, records, tokens


def style_form(form: forms.Form) -> forms.Form:
    """Bootstrap classes on every visible input (selects get form-select)."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect
                      | forms.HiddenInput):
            continue
        widget.attrs.setdefault("class", "form-select" if isinstance(widget, forms.Select) else "form-control")
    return form


def error_text(exc: ServiceError) -> str:
    """A service error as one line for a message banner: the field messages, else the message."""
    return "; ".join([m for ms in exc.errors.values() for m in ms] or [exc.message])


def posted_version(request: HttpRequest) -> int | None:
    """The record version the form was read at (stale → 409 in the service); none if absent."""
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


def form_errors(form: Any, exc: ServiceError) -> None:
    """Put a service's field errors onto the form; anything else becomes a form-wide error."""
    if not exc.errors:
        form.add_error(None, exc.message)
    for field, msgs in exc.errors.items():
        for msg in msgs:
            form.add_error(field if field in form.fields else None, msg)


def lockout(request: HttpRequest, original_response: Any = None, credentials: Any = None,
            *args: Any, **kwargs: Any) -> HttpResponse:
    """What django-axes answers once a username is locked out (S13): JSON for the API, a page otherwise."""
    message = _("Too many failed sign-ins. Try again in 15 minutes.")
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"code": "locked", "message": message, "errors": {}}, status=403)
    return render(request, "core/login.html", {"form": LoginForm(), "lockout_message": message}, status=429)


# --- Sign-in, language --------------------------------------------------------------------------
@requires(PUBLIC)
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(request, username=form.cleaned_data["username"], password=form.cleaned_data["password"])
        if getattr(request, "axes_locked_out", False):
            return lockout(request)
        if user is None:
            form.add_error(None, _("Wrong username or password."))
        else:
            login(request, user)  # rotates the session key (no session fixation)
            response = redirect(next_url or "core:home")
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax",
                                secure=settings.SESSION_COOKIE_SECURE, httponly=True)
            return response
    return render(request, "core/login.html", {"form": form, "next": next_url})


@requires(AUTHENTICATED)
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("core:login")


@requires(PUBLIC)
@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    """Switch language: saved on the user when signed in, else in a cookie."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    if request.user.is_authenticated and request.user.language != language:  # type: ignore[union-attr]
        org.user_update(actor=request.user, user=request.user, expected_version=None,  # type: ignore[arg-type]
                        language=language)
    back = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    response = HttpResponseRedirect(back)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax",
                        secure=settings.SESSION_COOKIE_SECURE, httponly=True, max_age=365 * 24 * 3600)
    return response


@requires(AUTHENTICATED)
def home(request: HttpRequest) -> HttpResponse:
    """My desk: the panels the apps registered (core/desk.py), in order."""
    return render(request, "core/home.html", {"panels": desk.panels_for(request.user)})


@requires(AUTHENTICATED)
def desk_panel(request: HttpRequest, key: str) -> HttpResponse:
    """One desk panel on its own: what a lazy panel's placeholder loads after the page."""
    shown = desk.render_one(request.user, key)
    if shown is None:
        raise NotFound()
    return render(request, shown.template, {"panel": shown.context})


# --- Notifications ---------------------------------------------------------------------------------
@requires(AUTHENTICATED)
def notifications(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        notification_services.notification_mark_read(actor=request.user)  # type: ignore[arg-type]
        return redirect("core:notifications")
    page = Paginator(Notification.objects.filter(user=request.user.pk), 30).get_page(request.GET.get("page"))
    return render(request, "core/notifications.html", {"page": page})


@requires(AUTHENTICATED)
def notification_badge(request: HttpRequest) -> HttpResponse:
    count = Notification.objects.filter(user=request.user.pk, read_at__isnull=True).count()
    return render(request, "core/_badge.html", {"count": count})


# --- Organisation (administrators) ------------------------------------------------------------
@requires("org.manage")
def org_users(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    page = Paginator(selectors.user_list(q=q).select_related("department"), 50).get_page(request.GET.get("page"))
    return render(request, "core/org_users.html", {"page": page, "q": q})


@requires("org.manage")
def org_user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = org.user_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("User %(name)s created.") % {"name": user})
            return redirect("core:org-users")
    return render(request, "core/form.html", {"form": form, "title": _("New user")})


@requires("org.manage")
def org_user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    initial = {"version": user.version, "name": user.name, "email": user.email, "department": user.department,
               "roles": sorted(user.role_codes())}
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            org.user_update(actor=request.user, user=user, expected_version=data.pop("version"), **data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("core:org-users")
    return render(request, "core/user_edit.html", {"form": form, "subject": user,
                                                   "history": selectors.history_for(user)[:50]})


@requires("org.manage")
@require_POST
def org_user_active(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    try:
        org.user_set_active(actor=request.user, user=user, active=request.POST.get("active") == "1")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("core:org-users")


@requires("org.manage")
def org_departments(request: HttpRequest) -> HttpResponse:
    form = DepartmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org.department_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Department created."))
            return redirect("core:org-departments")
    departments = Department.objects.all()
    return render(request, "core/org_departments.html", {"form": form, "departments": departments})


@requires("org.manage")
def org_teams(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org.team_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Team created."))
            return redirect("core:org-teams")
    return render(request, "core/org_teams.html", {"form": form, "teams": selectors.team_list()})


@requires("approvalpolicy.manage")
def org_policies(request: HttpRequest) -> HttpResponse:
    """Per record type: do approved records change only through change requests, and who decides."""
    if request.method == "POST":
        try:
            policies.policy_set(actor=request.user, model=request.POST.get("model", ""),
                                enabled=request.POST.get("enabled") == "1",
                                approver_role=request.POST.get("approver_role", ""))
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Saved."))
        return redirect("core:org-policies")
    rows = [(p, registry.get(p.model).model._meta.verbose_name) for p in policies.policy_list()]
    return render(request, "core/org_policies.html", {"rows": rows, "roles": Role.Code.choices})


# --- Grants ---------------------------------------------------------------------------------------
@requires(AUTHENTICATED)
def grants(request: HttpRequest) -> HttpResponse:
    form = GrantForm(request.POST or None)
    user: Any = request.user
    if request.method == "POST" and form.is_valid():
        try:
            grant_services.grant_request(actor=user, **form.cleaned_data)
        except ServiceError as exc:
            form_errors(form, exc)
        else:
            messages.success(request, _("Your request was sent for approval."))
            return redirect("core:grants")
    rows = [(g, grant_services.can_decide(user, g)) for g in selectors.grant_list_for(user)[:200]]
    return render(request, "core/grants.html", {"form": form, "rows": rows, "now": timezone.now(),
                                                "can_request": has_perm(user, "grant.request")})


@requires(AUTHENTICATED)
@require_POST
def grant_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    grant = selectors.grant_list_for(request.user).filter(pk=pk).first()  # type: ignore[arg-type]
    if grant is None:
        raise NotFound()
    if action not in {"approve", "reject", "revoke"}:
        raise NotFound()
    try:
        if action == "revoke":
            grant_services.grant_revoke(actor=request.user, grant=grant)
        else:
            grant_services.grant_decide(actor=request.user, grant=grant, approve=action == "approve",
                                        note=request.POST.get("note", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("core:grants")


# --- Approvals ------------------------------------------------------------------------------------
@requires(AUTHENTICATED)
def approvals(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "pending")
    qs = selectors.change_request_list_for(request.user)  # type: ignore[arg-type]
    if state:
        qs = qs.filter(state=state)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "core/approvals.html", {"page": page, "state": state})


@requires(AUTHENTICATED)
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    item = selectors.change_request_list_for(user).filter(pk=pk).first()
    if item is None:
        raise NotFound()
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in {"approve", "reject", "cancel"}:
            raise Invalid(_("Unknown action."))
        try:
            if action == "cancel":
                records.change_request_cancel(actor=user, request=item)
            else:
                records.change_request_decide(actor=user, request=item, approve=action == "approve",
                                              note=request.POST.get("note", ""),
                                              expected_version=int(request.POST.get("version", item.version)))
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Done."))
        return redirect("core:approval-detail", pk=pk)
    entry = registry.get(f"{item.content_type.app_label}.{item.content_type.model}")
    labels = {name: entry.model._meta.get_field(name).verbose_name for name in item.changes}  # type: ignore[union-attr]
    diff_rows = [(labels[name], before, after) for name, (before, after) in item.changes.items()]
    return render(request, "core/approval_detail.html", {
        "item": item, "diff_rows": diff_rows, "can_decide": records.can_decide(user, item) and item.state == "pending",
        "record_url": entry.detail_url(item.target()) if entry.detail_url else "",
    })


# --- Outgoing mail ---------------------------------------------------------------------------------
@requires("audit.view_all")
def outbox(request: HttpRequest) -> HttpResponse:
    """What guanxi mailed, is mailing or gave up on, newest first (administrators)."""
    from guanxi.core.models import Outbox

    states = Outbox.State
    state = request.GET.get("state", "")
    q = request.GET.get("q", "").strip()
    rows = Outbox.objects.defer("message")
    if state in states.values:
        rows = rows.filter(state=state)
    if q:
        rows = rows.filter(Q(to__icontains=q) | Q(subject__icontains=q) | Q(key__icontains=q))
    counts = {row["state"]: row["n"] for row in Outbox.objects.order_by().values("state").annotate(n=Count("id"))}
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "core/outbox.html", {
        "page": page, "state": state, "q": q,
        "states": [(value, label, counts.get(value, 0)) for value, label in states.choices],
        "can_retry": has_perm(request.user, mail.RETRY_PERMISSION),
        "retryable": {states.FAILED.value, states.PENDING.value}})


@requires(mail.RETRY_PERMISSION)
@require_POST
def outbox_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """The outbox page's "retry now": a failed or waiting mail goes out again at once."""
    try:
        mail.outbox_retry(actor=request.user, outbox_id=pk)
    except NotFound:
        raise
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The mail is on its way again."))
    back = {key: request.POST[key] for key in ("state", "q", "page") if request.POST.get(key)}
    return redirect(reverse("core:outbox") + (f"?{urlencode(back)}" if back else ""))


# --- Audit and history ---------------------------------------------------------------------------
@requires("audit.view_all")
def audit_search(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        tz = timezone.get_current_timezone()
        filters = {
            "q": data["q"] or None, "action": data["action"] or None,
            "actor": data["actor"].pk if data["actor"] else None,
            "since": dt.datetime.combine(data["since"], dt.time.min, tz) if data["since"] else None,
            "until": dt.datetime.combine(data["until"] + dt.timedelta(days=1), dt.time.min, tz) if data["until"] else None,
        }
    page = Paginator(selectors.audit_search(**filters), 50).get_page(request.GET.get("page"))
    return render(request, "core/audit.html", {"form": form, "page": page})


@requires(AUTHENTICATED)
def history(request: HttpRequest, record_type: str, pk: str) -> HttpResponse:
    """The History tab of any registered record (an htmx partial or a full page)."""
    try:
        entry = registry.get(record_type)
    except KeyError:
        raise NotFound()
    obj = records.get_visible(request.user, entry.model, pk, include_deleted=True)
    events = selectors.history_for(obj)[:200]
    template = "core/_history.html" if request.htmx else "core/history.html"  # type: ignore[attr-defined]
    return render(request, template, {"events": events, "obj": obj})


# --- Recycle bin -----------------------------------------------------------------------------------
@requires("recycle.view")
def recycle_bin(request: HttpRequest) -> HttpResponse:
    return render(request, "core/recycle_bin.html", {"rows": selectors.recycle_bin_for(request.user)})  # type: ignore[arg-type]


@requires("recycle.view")
@require_POST
def recycle_restore(request: HttpRequest, record_type: str, pk: int) -> HttpResponse:
    try:
        entry = registry.get(record_type)
    except KeyError:
        raise NotFound()
    obj = records.get_visible(request.user, entry.model, pk, include_deleted=True)
    try:
        records.record_restore(actor=request.user, obj=obj)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(record)s was restored.") % {"record": obj})
    return redirect("core:recycle-bin")


# --- Jobs --------------------------------------------------------------------------------------------
@requires(AUTHENTICATED)
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = selectors.job_for(request.user, job_id)  # type: ignore[arg-type]
    if job is None:
        raise NotFound()
    template = "core/_job.html" if request.htmx else "core/job.html"  # type: ignore[attr-defined]
    return render(request, template, {"job": job})


@requires(AUTHENTICATED)
def job_download(request: HttpRequest, job_id: str) -> Any:
    from django.core.files.storage import default_storage
    from django.http import FileResponse

    job = selectors.job_for(request.user, job_id)  # type: ignore[arg-type]
    if job is None or job.state != "done" or "file" not in job.result:
        raise NotFound()
    name = job.result["file"]
    return FileResponse(default_storage.open(name, "rb"), as_attachment=True, filename=name.rsplit("/", 1)[-1])


# --- Personal settings (language, API tokens) -------------------------------------------------------
@requires(AUTHENTICATED)
def profile(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST":
        if "revoke" in request.POST:
            try:
                tokens.token_revoke(actor=request.user, token_id=int(request.POST["revoke"]))  # type: ignore[arg-type]
            except (ServiceError, ValueError):
                raise NotFound()
            messages.success(request, _("Token revoked."))
            return redirect("core:profile")
        if form.is_valid():
            _token, new_token = tokens.token_create(actor=request.user, name=form.cleaned_data["name"])  # type: ignore[arg-type]
            form = TokenForm()
    token_list = ApiToken.objects.filter(user=request.user.pk, revoked_at__isnull=True)
    return render(request, "core/profile.html", {"form": form, "tokens": token_list, "new_token": new_token})


@requires(PUBLIC)
def api_docs_redirect(request: HttpRequest) -> HttpResponse:
    return redirect(reverse("api:openapi-view"))


