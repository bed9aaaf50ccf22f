"""Reads of projects (R3.7): the scoped list, progress, phases, cost change history, the
account's panel and timeline, and the customer's signed link.

Projects are visible exactly when their account is (``project_scope``); phases and cost
changes follow their project.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.activities.models import CostChange, Phase, Project
from guanxi.activities.selectors import project_scope
from guanxi.core.errors import NotFound, ServiceError
from guanxi.core.models import AuditEvent
from guanxi.customers.models import Account
from guanxi.customers.selectors.timeline import Item, source

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# The salt keeps these signatures apart from any other signed value of guanxi.
LINK_SALT = "guanxi.activities.cost-change-link"
PANEL_LIMIT = 10


# --- The list ------------------------------------------------------------------------------
def _pending(prefix: str = "") -> Exists:
    return Exists(CostChange.objects.filter(**{"phase__project": OuterRef(f"{prefix}pk")},
                                            state=CostChange.State.PENDING))


def with_progress(qs: QuerySet[Project]) -> QuerySet[Project]:
    """Annotate phases_total, phases_done, agreed_cost and has_pending (one query for a page)."""
    return qs.annotate(
        phases_total=Count("phases", distinct=True),
        phases_done=Count("phases", filter=Q(phases__state=Phase.State.DONE), distinct=True),
        agreed_cost=Sum("phases__cost"),
        has_pending=_pending(),
    )


def finish(rows: Any) -> list[Project]:
    """Rows of ``with_progress`` made ready to show: ``percent`` done and the agreed cost
    with two decimals on every database (SQLite's SUM drops them)."""
    out = list(rows)
    for row in out:
        total, done = row.phases_total, row.phases_done
        row.percent = round(100 * done / total) if total else 0
        row.agreed_cost = (row.agreed_cost or ZERO).quantize(CENT)
    return out


def project_list_for(user: Any, *, account: Any = None, owner: Any = None, state: str = "", q: str = "",
                     waiting: bool = False) -> QuerySet[Project]:
    """Projects the user sees, newest first; ``waiting`` keeps those with a cost change
    waiting for the customer. Unknown filter values simply match nothing."""
    qs = project_scope(user).select_related("account", "owner")
    if account not in (None, ""):
        qs = qs.filter(account_id=_int(account))
    if owner not in (None, ""):
        qs = qs.filter(owner_id=_int(owner))
    if state:
        qs = qs.filter(state=state)
    if q and q.strip():
        text = q.strip()
        qs = qs.filter(Q(name__icontains=text) | Q(account__name__icontains=text))
    qs = with_progress(qs)
    if waiting:
        qs = qs.filter(_pending())
    return qs.order_by("-id")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0  # never a primary key: the filter matches nothing


# --- Progress ------------------------------------------------------------------------------
@dataclass
class Progress:
    phases_total: int
    phases_done: int
    budget: Decimal
    agreed_cost: Decimal  # today's phase costs: the first agreement plus every approved change
    approved_changes: Decimal
    pending_changes: Decimal
    phases_active: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.phases_done / self.phases_total) if self.phases_total else 0

    @property
    def original_cost(self) -> Decimal:
        return self.agreed_cost - self.approved_changes

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.agreed_cost

    @property
    def over_budget(self) -> bool:
        return self.agreed_cost > self.budget


def progress_of(project: Project, phases: list[Phase] | None = None) -> Progress:
    """Phases done out of all, the budget against the agreed cost (approved changes included)."""
    if phases is None:
        phases = list(Phase.objects.filter(project=project))
    sums = {row["state"]: (row["total"] or ZERO).quantize(CENT) for row in
            CostChange.objects.filter(phase__project=project, state__in=[CostChange.State.APPROVED,
                                                                         CostChange.State.PENDING])
            .values("state").annotate(total=Sum("amount")).order_by()}
    return Progress(
        phases_total=len(phases),
        phases_done=sum(1 for p in phases if p.state == Phase.State.DONE),
        phases_active=sum(1 for p in phases if p.state == Phase.State.ACTIVE),
        budget=project.budget,
        agreed_cost=sum((p.cost for p in phases), ZERO).quantize(CENT),
        approved_changes=sums.get(CostChange.State.APPROVED, ZERO),
        pending_changes=sums.get(CostChange.State.PENDING, ZERO),
    )


@dataclass
class PhaseRow:
    phase: Phase
    pending: CostChange | None
    changes: list[CostChange] = field(default_factory=list)


def phases_of(project: Project) -> list[PhaseRow]:
    """The project's phases in order, each with its pending cost change (if any)."""
    phases = list(Phase.objects.filter(project=project).select_related("owner").order_by("position", "id"))
    pending = {c.phase_id: c for c in CostChange.objects.filter(phase__project=project,
                                                               state=CostChange.State.PENDING)}
    return [PhaseRow(phase=p, pending=pending.get(p.pk)) for p in phases]


def cost_changes_of(project: Project, *, limit: int = 200) -> list[CostChange]:
    """Every cost change of the project, newest first: the history shown to staff."""
    return list(CostChange.objects.filter(phase__project=project)
                .select_related("phase", "requested_by", "recorded_by", "evidence").order_by("-id")[:limit])


def pending_of(phase: Phase) -> CostChange | None:
    return CostChange.objects.filter(phase=phase, state=CostChange.State.PENDING).first()


# --- On the account ------------------------------------------------------------------------
def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """The account page's projects panel: each live project with its progress (two queries)."""
    rows = finish(with_progress(Project.objects.filter(account_id=account.pk)).select_related("owner")
                  .order_by("-id")[:PANEL_LIMIT])
    return {"account_projects": rows}


@source
def _projects(user: Any, account: Account, limit: int) -> list[Item]:
    """Projects started and closed, phases started and completed, cost changes asked and
    decided: read from their audit rows in one query (the page has a query budget)."""
    # Most accounts have no project: one indexed probe answers them, instead of the audit
    # search below (measured at M on SQLite: 14 → 0.1 ms a page).
    ids = list(Project.objects.filter(account_id=account.pk).values_list("pk", flat=True)[:200])
    if not ids:
        return []
    cts = ContentType.objects.get_for_models(Project, Phase, CostChange)
    project_ct, phase_ct, change_ct = cts[Project], cts[Phase], cts[CostChange]
    project_ids = [str(pk) for pk in ids]
    phase_ids = Phase.objects.filter(project_id__in=ids).annotate(key=Cast("pk", CharField())).values("key")
    change_ids = (CostChange.objects.filter(phase__project_id__in=ids)
                  .annotate(key=Cast("pk", CharField())).values("key"))
    where = (Q(content_type=project_ct, object_id__in=project_ids)
             & (Q(action="create") | Q(action="update", changes__state__1__in=[Project.State.DONE,
                                                                              Project.State.CANCELLED])))
    where |= Q(content_type=phase_ct, object_id__in=phase_ids, action="update",
               changes__state__1__in=[Phase.State.ACTIVE, Phase.State.DONE])
    where |= Q(content_type=change_ct, object_id__in=change_ids, action__in=["request", "decide"])
    project_states = dict(Project.State.choices)
    change_states = dict(CostChange.State.choices)
    items: list[Item] = []
    for event in AuditEvent.objects.filter(where).order_by("-at", "-id")[:limit]:
        changes = event.changes or {}
        new = {k: str(v[1]) if isinstance(v, list) and len(v) == 2 and v[1] is not None else "" for k, v in
               changes.items()}
        name = event.object_repr
        detail, actor, url = "", event.actor_name, ""
        if event.content_type_id == project_ct.id:
            url = f"/activities/projects/{event.object_id}/"
            if event.action == "create":
                title = _("Project started: %(name)s") % {"name": name}
                detail = new.get("goal", "")
            else:
                title = f"{project_states.get(new.get('state', ''), '')}: {name}"
        elif event.content_type_id == phase_ct.id:
            label = PHASE_MOVES.get(new.get("state", ""), PHASE_MOVES[Phase.State.DONE])
            title = str(label) % {"name": name}
        elif event.action == "request":
            title = _("Cost change asked: %(change)s") % {"change": name}
            detail = new.get("reason", "")
        else:
            title = f"{change_states.get(new.get('state', ''), '')}: {name}"
            detail = new.get("decision_note", "")
            actor = new.get("customer_name", "") or actor
        items.append(Item(at=event.at, kind="project", title=title, detail=detail[:300], actor=actor, url=url))
    return items


PHASE_MOVES: dict[str, Any] = {Phase.State.ACTIVE: gettext_lazy("Phase started: %(name)s"),
               Phase.State.DONE: gettext_lazy("Phase completed: %(name)s")}


# --- The customer's link -------------------------------------------------------------------
class LinkInvalid(ServiceError):
    """The link was altered or is not one of ours."""

    status = 400
    code = "link_invalid"
    default_message = gettext_lazy("This link is not valid. Please use the link exactly as you received it.")


class LinkGone(ServiceError):
    """A genuine link that can no longer be used (expired, replaced, withdrawn or decided)."""

    status = 410
    code = "link_gone"
    default_message = gettext_lazy("This link can no longer be used.")


def link_token(change: CostChange) -> str:
    return signing.dumps({"c": change.pk, "n": change.link_nonce}, salt=LINK_SALT)


def cost_change_for_link(token: str, *, now: dt.datetime | None = None, for_update: bool = False) -> CostChange:
    """The cost change a customer's link opens, or an error that says why it cannot be used.

    Reads only (a GET of the public page writes nothing). Order of the checks: signature
    (400), the record (404, also when its project was deleted), the nonce (410: a newer link
    was issued), the state (410: withdrawn or already decided), the expiry (410).
    """
    try:
        data = signing.loads(token, salt=LINK_SALT)
        pk, nonce = int(data["c"]), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkInvalid() from None
    qs = CostChange.objects.filter(phase__project__deleted_at__isnull=True,
                                   phase__project__account__deleted_at__isnull=True)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    change = qs.select_related("phase", "phase__project", "phase__project__account").filter(pk=pk).first()
    if change is None:
        raise NotFound(_("This request no longer exists."))
    if not nonce or nonce != change.link_nonce:
        raise LinkGone(_("A newer link was sent for this request; please use the latest link you received."),
                       code="link_replaced")
    if change.state == CostChange.State.WITHDRAWN:
        raise LinkGone(_("We withdrew this request; there is nothing to decide any more."), code="link_withdrawn")
    if change.state != CostChange.State.PENDING:
        raise LinkGone(_("This request was already %(state)s on %(when)s.") % {
            "state": change.get_state_display(),
            "when": timezone.localtime(change.decided_at).strftime("%Y-%m-%d %H:%M") if change.decided_at else "—"},
            code="link_decided")
    if change.link_expires_at is None or (now or timezone.now()) >= change.link_expires_at:
        raise LinkGone(_("This link has expired. Please ask us for a new one."), code="link_expired")
    return change
