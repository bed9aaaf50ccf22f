"""REST API v1: the NinjaAPI instance, its auth, error shape, and the core endpoints.

Conventions (docs/api.md): one error shape ``{code, message, errors}`` in the caller's
language; cursor pagination; ``version`` on every mutable record (stale → 409);
``Idempotency-Key`` honoured on every POST; unknown fields in a body are refused.
"""


import datetime as dt
from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import CursorPagination, paginate
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja.utils import check_csrf
from pydantic import ConfigDict

from guanxi.core import registry, selectors
from guanxi.core.errors import Forbidden, Invalid, NotFound, ServiceError
from guanxi.core.models import AccessGrant, ChangeRequest, Department, Job, Notification, Role, Team, User
from guanxi.core.permissions import AUTHENTICATED, PUBLIC
from guanxi.core.permissions import declare as requires
from guanxi.core.services import grants as grant_services
from guanxi.core.services import notifications as notification_services
from guanxi.core.services import org, policies, records, tokens
from guanxi.core.tokens import api_token_user


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = api_token_user(token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(NinjaSessionAuth):
    """The browser session; an unsafe method also needs the session's CSRF token.

    The CSRF check guards a signed-in session against forged requests, so it runs only when
    the session has signed the caller in: a request with no credentials at all is told to
    sign in (401), not that a CSRF token is missing (403). (ninja checks CSRF first, whoever
    is asking.)
    """

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)

    def _get_key(self, request: HttpRequest) -> str | None:
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise Forbidden(_("The CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header, "
                              "or use an API token."), code="csrf")
        return request.COOKIES.get(self.param_name)


api = NinjaAPI(
    title="guanxi API",
    version="1",
    urls_namespace="api",
    auth=[BearerAuth(), SessionAuth()],
    openapi_url="/openapi.json",
    docs_url="/docs",
    description="REST API of guanxi. Authenticate with `Authorization: Bearer <token>` "
                "(POST /api/v1/tokens) or the browser session (with CSRF).",
)


class Strict(Schema):
    """Input bodies: unknown fields are refused rather than silently dropped (S5)."""

    model_config = ConfigDict(extra="forbid")


def error_body(code: str, message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": errors or {}}


@api.exception_handler(ServiceError)
def on_service_error(request: HttpRequest, exc: ServiceError) -> Any:
    return api.create_response(request, error_body(exc.code, exc.message, exc.errors), status=exc.status)


PYDANTIC_MESSAGES = {
    "missing": lambda: _("This field is required."),
    "extra_forbidden": lambda: _("This field cannot be set here."),
}


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> Any:
    errors: dict[str, list[str]] = {}
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query", "path", "filters")]
        field = ".".join(loc) or "__all__"
        make = PYDANTIC_MESSAGES.get(err.get("type", ""))
        errors.setdefault(field, []).append(str(make()) if make else _("Enter a valid value.") + f" ({err.get('msg')})")
    return api.create_response(request, error_body("invalid", _("Please correct the errors below."), errors), status=422)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> Any:
    response = api.create_response(request, error_body("unauthenticated", _("Sign in or send a valid API token.")),
                                   status=401)
    response["WWW-Authenticate"] = 'Bearer realm="guanxi"'  # a 401 names its scheme (RFC 9110 §11.6.1)
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> Any:
    code = {404: "not_found", 403: "forbidden", 405: "method_not_allowed"}.get(exc.status_code, "error")
    return api.create_response(request, error_body(code, str(exc.message)), status=exc.status_code)


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> Any:
    from django.http import Http404

    if isinstance(exc, Http404):
        return api.create_response(request, error_body("not_found", _("Not found.")), status=404)
    raise exc


class ErrorOut(Schema):
    code: str
    message: str
    errors: dict[str, list[str]]


# --- Tokens -------------------------------------------------------------------------------
class TokenIn(Strict):
    username: str
    password: str
    name: str = ""


class TokenOut(Schema):
    token: str
    id: int
    name: str


auth_router = Router(tags=["auth"])


@auth_router.post("/tokens", auth=None, response={201: TokenOut, 401: ErrorOut, 403: ErrorOut})
@requires(PUBLIC)
def token_create(request: HttpRequest, payload: TokenIn) -> Any:
    """Exchange a username and password for a personal API token (shown once)."""
    user = authenticate(request, username=payload.username, password=payload.password)
    if getattr(request, "axes_locked_out", False):
        return Status(403, error_body("locked", _("Too many failed sign-ins. Try again in 15 minutes.")))
    if user is None:
        return Status(401, error_body("unauthenticated", _("Wrong username or password.")))
    token, raw = tokens.token_create(actor=user, name=payload.name or "API")
    return Status(201, {"token": raw, "id": token.pk, "name": token.name})


@auth_router.delete("/tokens/{token_id}", response={204: None})
@requires(AUTHENTICATED)
def token_revoke(request: HttpRequest, token_id: int) -> Any:
    tokens.token_revoke(actor=request.user, token_id=token_id)  # type: ignore[arg-type]
    return Status(204, None)


# --- Organisation -------------------------------------------------------------------------
class DepartmentOut(Schema):
    id: int
    name: str
    parent: int | None = Field(None, alias="parent_id")
    path: str
    version: int


class DepartmentIn(Strict):
    name: str
    parent: int | None = None


class DepartmentPatch(Strict):
    version: int
    name: str | None = None
    parent: int | None = None


class UserOut(Schema):
    id: int
    username: str
    name: str
    email: str
    department: int | None = Field(None, alias="department_id")
    roles: list[str]
    is_active: bool
    language: str
    version: int

    @staticmethod
    def resolve_roles(obj: User) -> list[str]:
        return sorted(obj.role_codes())


class UserIn(Strict):
    username: str
    password: str
    name: str = ""
    email: str = ""
    department: int | None = None
    roles: list[str] = []
    language: str = "zh-hans"


class UserPatch(Strict):
    version: int
    name: str | None = None
    email: str | None = None
    language: str | None = None
    phone: str | None = None
    department: int | None = None
    roles: list[str] | None = None


class TeamOut(Schema):
    id: int
    name: str
    department: int = Field(..., alias="department_id")
    leader: int | None = Field(None, alias="leader_id")
    members: list[int]
    version: int

    @staticmethod
    def resolve_members(obj: Team) -> list[int]:
        return sorted(m.pk for m in obj.members.all())


class TeamIn(Strict):
    name: str
    department: int
    leader: int | None = None
    members: list[int] = []


org_router = Router(tags=["organisation"])


def _department(pk: int | None) -> Department | None:
    if pk is None:
        return None
    department = Department.objects.filter(pk=pk).first()
    if department is None:
        raise Invalid(errors={"department": [_("No such department.")]})
    return department


@org_router.get("/me", response=UserOut)
@requires(AUTHENTICATED)
def me(request: HttpRequest) -> Any:
    return request.user


@org_router.get("/departments", response=list[DepartmentOut])
@requires(AUTHENTICATED)
def department_list(request: HttpRequest) -> Any:
    return selectors.department_list()


@org_router.post("/departments", response={201: DepartmentOut})
@requires("org.manage")
def department_create(request: HttpRequest, payload: DepartmentIn) -> Any:
    parent = _department(payload.parent)
    return Status(201, org.department_create(actor=request.user, name=payload.name, parent=parent))


@org_router.patch("/departments/{pk}", response=DepartmentOut)
@requires("org.manage")
def department_update(request: HttpRequest, pk: int, payload: DepartmentPatch) -> Any:
    department = get_object_or_404(Department, pk=pk)
    data = payload.model_dump(exclude_unset=True)
    kwargs: dict[str, Any] = {}
    if "name" in data:
        kwargs["name"] = data["name"]
    if "parent" in data:
        kwargs["parent"] = _department(data["parent"])
    return org.department_update(actor=request.user, department=department, expected_version=payload.version, **kwargs)


@org_router.delete("/departments/{pk}", response={204: None})
@requires("org.manage")
def department_delete(request: HttpRequest, pk: int) -> Any:
    department = get_object_or_404(Department, pk=pk)
    if department.members.filter(is_active=True).exists() or department.children.exists():
        raise Invalid(_("Move its people and sub-departments elsewhere before deleting a department."))
    records.record_delete(actor=request.user, obj=department)
    return Status(204, None)


@org_router.get("/users", response=list[UserOut])
@requires(AUTHENTICATED)
@paginate(CursorPagination, ordering=("id",))
def user_list(request: HttpRequest, q: str = "", department: int | None = None, active: bool | None = None) -> Any:
    return selectors.user_list(q=q, department=department, active=active)


@org_router.post("/users", response={201: UserOut})
@requires("org.manage")
def user_create(request: HttpRequest, payload: UserIn) -> Any:
    user = org.user_create(actor=request.user, username=payload.username, password=payload.password,
                           name=payload.name, email=payload.email, department=_department(payload.department),
                           roles=payload.roles, language=payload.language)
    return Status(201, user)


@org_router.get("/users/{pk}", response=UserOut)
@requires(AUTHENTICATED)
def user_get(request: HttpRequest, pk: int) -> Any:
    return get_object_or_404(selectors.user_list(), pk=pk)


@org_router.patch("/users/{pk}", response=UserOut)
@requires(AUTHENTICATED)
def user_update(request: HttpRequest, pk: int, payload: UserPatch) -> Any:
    user = get_object_or_404(User, pk=pk)
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    if "department" in data:
        data["department"] = _department(data["department"])
    return org.user_update(actor=request.user, user=user, expected_version=version, **data)


@org_router.post("/users/{pk}/deactivate", response=UserOut)
@requires("org.manage")
def user_deactivate(request: HttpRequest, pk: int) -> Any:
    return org.user_set_active(actor=request.user, user=get_object_or_404(User, pk=pk), active=False)


@org_router.post("/users/{pk}/activate", response=UserOut)
@requires("org.manage")
def user_activate(request: HttpRequest, pk: int) -> Any:
    return org.user_set_active(actor=request.user, user=get_object_or_404(User, pk=pk), active=True)


@org_router.get("/teams", response=list[TeamOut])
@requires(AUTHENTICATED)
def team_list(request: HttpRequest) -> Any:
    return selectors.team_list()


@org_router.post("/teams", response={201: TeamOut})
@requires("org.manage")
def team_create(request: HttpRequest, payload: TeamIn) -> Any:
    department = _department(payload.department)
    assert department is not None
    leader = get_object_or_404(User, pk=payload.leader) if payload.leader else None
    members = list(User.objects.filter(pk__in=payload.members))
    team = org.team_create(actor=request.user, name=payload.name, department=department, leader=leader,
                           members=members)
    return Status(201, team)


# --- Grants ---------------------------------------------------------------------------------
class GrantOut(Schema):
    id: int
    grantee: int = Field(..., alias="grantee_id")
    target_department: int | None = Field(None, alias="target_department_id")
    target_user: int | None = Field(None, alias="target_user_id")
    reason: str
    state: str
    starts_at: dt.datetime
    expires_at: dt.datetime
    decided_by: int | None = Field(None, alias="decided_by_id")
    version: int


class GrantIn(Strict):
    reason: str
    days: int = 7
    department: int | None = None
    user: int | None = None


class DecisionIn(Strict):
    note: str = ""


grant_router = Router(tags=["access grants"])


@grant_router.get("/grants", response=list[GrantOut])
@requires(AUTHENTICATED)
def grant_list(request: HttpRequest) -> Any:
    return selectors.grant_list_for(request.user)


@grant_router.post("/grants", response={201: GrantOut})
@requires("grant.request")
def grant_request(request: HttpRequest, payload: GrantIn) -> Any:
    user = User.objects.filter(pk=payload.user, is_active=True).first() if payload.user else None
    if payload.user and user is None:
        raise Invalid(errors={"user": [_("No such person.")]})
    grant = grant_services.grant_request(actor=request.user, reason=payload.reason, days=payload.days,
                                         department=_department(payload.department), user=user)
    return Status(201, grant)


def _grant(request: HttpRequest, pk: int) -> AccessGrant:
    grant = selectors.grant_list_for(request.user).filter(pk=pk).first()
    if grant is None:
        raise NotFound()
    return grant


@grant_router.post("/grants/{pk}/approve", response=GrantOut)
@requires("grant.decide")
def grant_approve(request: HttpRequest, pk: int, payload: DecisionIn) -> Any:
    return grant_services.grant_decide(actor=request.user, grant=_grant(request, pk), approve=True, note=payload.note)


@grant_router.post("/grants/{pk}/reject", response=GrantOut)
@requires("grant.decide")
def grant_reject(request: HttpRequest, pk: int, payload: DecisionIn) -> Any:
    return grant_services.grant_decide(actor=request.user, grant=_grant(request, pk), approve=False, note=payload.note)


@grant_router.post("/grants/{pk}/revoke", response=GrantOut)
@requires(AUTHENTICATED)
def grant_revoke(request: HttpRequest, pk: int) -> Any:
    return grant_services.grant_revoke(actor=request.user, grant=_grant(request, pk))


# --- Change requests --------------------------------------------------------------------------
class ChangeRequestOut(Schema):
    id: int
    record_type: str
    object_id: str
    object_repr: str
    changes: dict[str, list[Any]]
    reason: str
    state: str
    approver_role: str
    requested_by: int = Field(..., alias="requested_by_id")
    decided_by: int | None = Field(None, alias="decided_by_id")
    decision_note: str
    version: int

    @staticmethod
    def resolve_record_type(obj: ChangeRequest) -> str:
        return f"{obj.content_type.app_label}.{obj.content_type.model}"


class ChangeDecisionIn(Strict):
    note: str = ""
    version: int | None = None


approval_router = Router(tags=["approvals"])


def _change_request(request: HttpRequest, pk: int) -> ChangeRequest:
    item = selectors.change_request_list_for(request.user).filter(pk=pk).first()
    if item is None:
        raise NotFound()
    return item


@approval_router.get("/change-requests", response=list[ChangeRequestOut])
@requires(AUTHENTICATED)
@paginate(CursorPagination, ordering=("-id",))
def change_request_list(request: HttpRequest, state: str = "") -> Any:
    qs = selectors.change_request_list_for(request.user)
    return qs.filter(state=state) if state else qs


@approval_router.get("/change-requests/{pk}", response=ChangeRequestOut)
@requires(AUTHENTICATED)
def change_request_get(request: HttpRequest, pk: int) -> Any:
    return _change_request(request, pk)


@approval_router.post("/change-requests/{pk}/approve", response=ChangeRequestOut)
@requires(AUTHENTICATED)
def change_request_approve(request: HttpRequest, pk: int, payload: ChangeDecisionIn) -> Any:
    return records.change_request_decide(actor=request.user, request=_change_request(request, pk), approve=True,
                                         note=payload.note, expected_version=payload.version)


@approval_router.post("/change-requests/{pk}/reject", response=ChangeRequestOut)
@requires(AUTHENTICATED)
def change_request_reject(request: HttpRequest, pk: int, payload: ChangeDecisionIn) -> Any:
    return records.change_request_decide(actor=request.user, request=_change_request(request, pk), approve=False,
                                         note=payload.note, expected_version=payload.version)


@approval_router.post("/change-requests/{pk}/cancel", response=ChangeRequestOut)
@requires(AUTHENTICATED)
def change_request_cancel(request: HttpRequest, pk: int) -> Any:
    return records.change_request_cancel(actor=request.user, request=_change_request(request, pk))


# --- Audit, recycle bin, jobs, notifications -------------------------------------------------------
class AuditOut(Schema):
    id: int
    at: dt.datetime
    actor: int | None = Field(None, alias="actor_id")
    actor_name: str
    ip: str | None
    channel: str
    action: str
    record_type: str | None
    object_id: str
    object_repr: str
    changes: dict[str, Any]
    note: str

    @staticmethod
    def resolve_record_type(obj: Any) -> str | None:
        ct = obj.content_type
        return f"{ct.app_label}.{ct.model}" if ct else None


class AuditFilter(Schema):
    actor: int | None = None
    action: str | None = None
    record_type: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    q: str | None = None


audit_router = Router(tags=["audit"])


@audit_router.get("/audit", response=list[AuditOut])
@requires("audit.view_all")
@paginate(CursorPagination, ordering=("-id",))
def audit_search(request: HttpRequest, filters: Query[AuditFilter]) -> Any:
    return selectors.audit_search(**filters.model_dump())


@audit_router.get("/history/{record_type}/{pk}", response=list[AuditOut])
@requires(AUTHENTICATED)
@paginate(CursorPagination, ordering=("-id",))
def record_history(request: HttpRequest, record_type: str, pk: str) -> Any:
    """The History tab of any registered record the caller can see."""
    try:
        entry = registry.get(record_type)
    except KeyError:
        raise NotFound()
    obj = records.get_visible(request.user, entry.model, pk, include_deleted=True)
    return selectors.history_for(obj)


class RecycledOut(Schema):
    record_type: str
    id: int
    label: str
    deleted_at: dt.datetime
    deleted_by: str


@audit_router.get("/recycle-bin", response=list[RecycledOut])
@requires("recycle.view")
def recycle_bin(request: HttpRequest) -> Any:
    return selectors.recycle_bin_for(request.user)


@audit_router.post("/recycle-bin/{record_type}/{pk}/restore", response={200: dict})
@requires("recycle.view")
def recycle_restore(request: HttpRequest, record_type: str, pk: int) -> Any:
    try:
        entry = registry.get(record_type)
    except KeyError:
        raise NotFound()
    obj = records.get_visible(request.user, entry.model, pk, include_deleted=True)
    obj = records.record_restore(actor=request.user, obj=obj)
    return {"record_type": record_type, "id": obj.pk, "restored": True, "version": getattr(obj, "version", None)}


class JobOut(Schema):
    id: str
    kind: str
    state: str
    percent: int
    total: int
    done: int
    failed: int
    errors: list[dict[str, Any]]
    result: dict[str, Any]
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_id(obj: Job) -> str:
        return str(obj.pk)

    @staticmethod
    def resolve_errors(obj: Job) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "trace"} for e in obj.errors[:100]]


@audit_router.get("/jobs/{job_id}", response=JobOut)
@requires(AUTHENTICATED)
def job_get(request: HttpRequest, job_id: str) -> Any:
    job = selectors.job_for(request.user, job_id)
    if job is None:
        raise NotFound()
    return job


class NotificationOut(Schema):
    id: int
    title: str
    body: str
    url: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class ReadIn(Strict):
    ids: list[int] | None = None


@audit_router.get("/notifications", response=list[NotificationOut])
@requires(AUTHENTICATED)
@paginate(CursorPagination, ordering=("-id",))
def notification_list(request: HttpRequest, unread: bool = False) -> Any:
    qs = Notification.objects.filter(user=request.user.pk)
    return qs.filter(read_at__isnull=True) if unread else qs


@audit_router.post("/notifications/read", response=dict)
@requires(AUTHENTICATED)
def notification_read(request: HttpRequest, payload: ReadIn) -> Any:
    return {"marked": notification_services.notification_mark_read(actor=request.user, ids=payload.ids)}


class PolicyOut(Schema):
    model: str
    enabled: bool
    approver_role: str
    version: int


class PolicyIn(Strict):
    enabled: bool
    approver_role: str = Role.Code.GENERAL_MANAGER
    version: int | None = None


@approval_router.get("/approval-policies", response=list[PolicyOut])
@requires(AUTHENTICATED)
def approval_policy_list(request: HttpRequest) -> Any:
    return policies.policy_list()


@approval_router.put("/approval-policies/{model}", response=PolicyOut)
@requires("approvalpolicy.manage")
def approval_policy_set(request: HttpRequest, model: str, payload: PolicyIn) -> Any:
    return policies.policy_set(actor=request.user, model=model, enabled=payload.enabled,
                               approver_role=payload.approver_role, expected_version=payload.version)


api.add_router("", auth_router)
api.add_router("", org_router)
api.add_router("", grant_router)
api.add_router("", approval_router)
api.add_router("", audit_router)
