"""Reads behind the written confirmation and the weekly status report (R3.4).

Both are documents that leave the company, so everything in them is read through the
access-scoped selectors of this app: a user can only ever put into a document what the
pages already show them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.activities.models import CarePlan, CostChange, FollowUp, Interaction, Phase, Project, Support
from guanxi.activities.selectors import (
    care_scope,
    cost_change_scope,
    followup_scope,
    get_one,
    interaction_scope,
    phase_scope,
    project_scope,
    support_scope,
)
from guanxi.core.errors import Invalid
from guanxi.core.models import Department
from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account, Contact


# --- Our company ---------------------------------------------------------------------------
def company_name() -> str:
    """The name our documents are signed with: ``GUANXI_COMPANY_NAME``, else the top department."""
    configured = (getattr(settings, "GUANXI_COMPANY_NAME", "") or "").strip()
    if configured:
        return configured
    root = Department.objects.filter(parent__isnull=True).order_by("path", "id").only("name").first()
    return root.name if root else ""


def _person(user: Any) -> str:
    return (getattr(user, "name", "") or user.get_username()) if user is not None else ""


# --- Written confirmation ------------------------------------------------------------------
@dataclass
class NextStep:
    title: str
    owner: str
    due_at: dt.datetime
    state: str
    state_label: str
    contact: str = ""


@dataclass
class Confirmation:
    """Everything a confirmation of one interaction says, in the active language."""

    interaction: Interaction
    account: Account
    document: str  # "Meeting minutes" / "Written confirmation"
    subject: str
    title: str
    company: str
    occurred_at: dt.datetime  # local time
    kind_label: str
    purpose_label: str
    ours: list[str]
    theirs: list[Contact]
    summary: str
    outcome: str
    agreements: list[str]
    next_steps: list[NextStep]
    sender_name: str
    sender_email: str
    recipients: list[tuple[str, str]]  # (name, e-mail) of their people present who have one
    copies: list[tuple[str, str]]  # our people present (other than the sender) with an e-mail

    @property
    def closing(self) -> str:
        """The line asking the customer to confirm or correct what was written down."""
        if self.sender_email:
            return _("Please confirm that the points above are what we agreed, or tell us what should be "
                     "corrected, by replying to %(name)s (%(email)s).") % {"name": self.sender_name,
                                                                           "email": self.sender_email}
        return _("Please confirm that the points above are what we agreed, or tell us what should be "
                 "corrected, by replying to %(name)s.") % {"name": self.sender_name}

    @property
    def filename(self) -> str:
        return safe_filename(f"{self.document}-{self.account.name}-{self.occurred_at:%Y%m%d}")


def safe_filename(text: str) -> str:
    """A file name without path separators, control or shell-unfriendly characters."""
    cleaned = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "", text)
    cleaned = re.sub(r"\s+", "_", cleaned).strip("._")
    return cleaned[:120] or "document"


def _subject(interaction: Interaction) -> str:
    """The interaction's subject, else the first line of its summary, else its kind."""
    if interaction.subject.strip():
        return interaction.subject.strip()
    first = next((line.strip() for line in interaction.summary.splitlines() if line.strip()), "")
    if first:
        return first if len(first) <= 40 else first[:39] + "…"
    return str(interaction.get_kind_display())


def confirmation_for(user: Any, interaction: Interaction) -> Confirmation:
    """The confirmation of an interaction ``user`` sees (fetch it through ``interaction_scope``)."""
    account = interaction.account
    local = timezone.localtime(interaction.occurred_at)
    document = _("Meeting minutes") if interaction.kind == Interaction.Kind.MEETING else _("Written confirmation")
    subject = _subject(interaction)
    title = _("%(document)s: %(account)s — %(subject)s (%(date)s)") % {
        "document": document, "account": account.name, "subject": subject, "date": f"{local:%Y-%m-%d}"}
    our_users = list(interaction.our_people.filter(is_active=True).order_by("id"))
    owner = interaction.owner
    ours = [_person(owner)] + [_person(u) for u in our_users if u.pk != owner.pk]
    theirs = list(interaction.their_people.all().order_by("id"))
    steps = [
        NextStep(title=f.title, owner=_person(f.owner), due_at=timezone.localtime(f.due_at), state=f.state,
                 state_label=str(f.get_state_display()), contact=f.contact.name if f.contact is not None else "")
        for f in followup_scope(user).filter(interaction=interaction).exclude(state=FollowUp.State.CANCELLED)
        .select_related("owner", "contact").order_by("due_at", "id")
    ]
    # The sender is whoever prepares the document; the customer replies to them.
    sender = user if getattr(user, "is_authenticated", False) else owner
    copies = [(_person(u), u.email) for u in [owner, *our_users] if u.email and u.pk != sender.pk]
    return Confirmation(
        interaction=interaction, account=account, document=document, subject=subject, title=title,
        company=company_name(), occurred_at=local, kind_label=str(interaction.get_kind_display()),
        purpose_label=str(interaction.get_purpose_display()), ours=ours, theirs=theirs,
        summary=interaction.summary, outcome=interaction.outcome,
        agreements=[line.strip() for line in interaction.agreements.splitlines() if line.strip()],
        next_steps=steps, sender_name=_person(sender), sender_email=sender.email or "",
        recipients=[(c.name, c.email) for c in theirs if c.email],
        copies=list(dict.fromkeys(copies)),
    )


# --- Weekly status report ------------------------------------------------------------------
WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Week:
    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def start(self) -> dt.datetime:
        """Monday 00:00 in the company's time zone."""
        return timezone.make_aware(dt.datetime.combine(self.monday, dt.time.min))

    @property
    def end(self) -> dt.datetime:
        """The next Monday 00:00 (exclusive)."""
        return timezone.make_aware(dt.datetime.combine(self.monday + dt.timedelta(days=7), dt.time.min))

    def shifted(self, weeks: int) -> Week:
        return week_of(self.monday + dt.timedelta(weeks=weeks))


def week_of(day: dt.date) -> Week:
    year, number, _weekday = day.isocalendar()
    return Week(year, number)


def parse_week(value: str | None, *, today: dt.date | None = None) -> Week:
    """An ISO week such as ``2026-W48``; empty means the current week. Bad input → Invalid."""
    if not (value or "").strip():
        return week_of(today or timezone.localdate())
    match = WEEK_RE.match(value or "")
    if match:
        try:
            # Raises for week 53 of a 52-week year, week 0 …
            dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
            return Week(int(match.group(1)), int(match.group(2)))
        except ValueError:
            pass
    raise Invalid(errors={"week": [_("Enter an ISO week such as %(example)s.") % {
        "example": week_of(today or timezone.localdate()).label}]})


@dataclass
class ProjectStatus:
    project: Project
    phases: list[Phase]
    pending: list[CostChange]  # waiting for the customer
    decided: list[CostChange]  # approved or declined during the week


@dataclass
class WeeklyReport:
    week: Week
    account: Account
    project: Project | None
    company: str
    title: str
    interactions: list[Interaction]
    followups_done: list[FollowUp]
    followups_open: list[FollowUp]  # open and due by the end of the week; ``is_overdue`` marks the late ones
    followups_next_week: list[FollowUp]
    care: list[CarePlan]
    support: list[Support]
    projects: list[ProjectStatus] = field(default_factory=list)
    generated_at: dt.datetime = field(default_factory=timezone.now)

    @property
    def overdue_count(self) -> int:
        return sum(1 for f in self.followups_open if f.is_overdue)

    @property
    def filename(self) -> str:
        name = self.project.name if self.project else self.account.name
        return safe_filename(f"{_('Weekly report')}-{name}-{self.week.label}")


def _project_status(user: Any, projects: list[Project], week: Week) -> list[ProjectStatus]:
    ids = [p.pk for p in projects]
    phases: dict[int, list[Phase]] = {pk: [] for pk in ids}
    for phase in phase_scope(user).filter(project_id__in=ids).select_related("owner").order_by("position", "id"):
        phases[phase.project_id].append(phase)
    pending: dict[int, list[CostChange]] = {pk: [] for pk in ids}
    decided: dict[int, list[CostChange]] = {pk: [] for pk in ids}
    changes = cost_change_scope(user).filter(phase__project_id__in=ids).select_related("phase").order_by("id")
    for change in changes.filter(state=CostChange.State.PENDING):
        pending[change.phase.project_id].append(change)
    for change in changes.filter(state__in=[CostChange.State.APPROVED, CostChange.State.DECLINED],
                                 decided_at__gte=week.start, decided_at__lt=week.end):
        decided[change.phase.project_id].append(change)
    return [ProjectStatus(project=p, phases=phases[p.pk], pending=pending[p.pk], decided=decided[p.pk])
            for p in projects]


def weekly_report(user: Any, account: Account, week: Week, *, project: Project | None = None) -> WeeklyReport:
    """The week of one account the user sees (and, given ``project``, of that project of it).

    Interactions are those that happened in the week; follow-ups those done in the week,
    those still open and due by its end (overdue as of now when their time has passed) and
    those due the week after. Care and support given in the week and the state of the
    account's active projects (or the one project) with cost changes waiting for the customer.
    """
    start, end = week.start, week.end
    interactions = list(interaction_scope(user).filter(account=account, occurred_at__gte=start, occurred_at__lt=end)
                        .select_related("owner").prefetch_related("their_people").order_by("occurred_at", "id"))
    followups = followup_scope(user).filter(account=account).select_related("owner", "contact", "done_by")
    done = list(followups.filter(state=FollowUp.State.DONE, done_at__gte=start, done_at__lt=end)
                .order_by("done_at", "id"))
    still_open = list(followups.filter(state=FollowUp.State.OPEN, due_at__lt=end).order_by("due_at", "id"))
    next_week = list(followups.filter(state=FollowUp.State.OPEN, due_at__gte=end,
                                      due_at__lt=end + dt.timedelta(days=7)).order_by("due_at", "id"))
    care: list[CarePlan] = []
    support: list[Support] = []
    if has_perm(user, "care.view"):
        care = list(care_scope(user).filter(account=account, state=CarePlan.State.SENT, date__gte=week.monday,
                                            date__lte=week.sunday).select_related("contact").order_by("date", "id"))
        support = list(support_scope(user).filter(account=account, given_on__gte=week.monday,
                                                  given_on__lte=week.sunday).select_related("owner")
                       .order_by("given_on", "id"))
    projects: list[ProjectStatus] = []
    if has_perm(user, "project.view"):
        chosen = [project] if project is not None else list(
            project_scope(user).filter(account=account, state=Project.State.ACTIVE).order_by("id"))
        projects = _project_status(user, chosen, week)
    name = f"{account.name} · {project.name}" if project is not None else account.name
    title = _("Weekly status report: %(name)s, %(week)s (%(start)s – %(end)s)") % {
        "name": name, "week": week.label, "start": f"{week.monday:%Y-%m-%d}", "end": f"{week.sunday:%Y-%m-%d}"}
    return WeeklyReport(week=week, account=account, project=project, company=company_name(), title=title,
                        interactions=interactions, followups_done=done, followups_open=still_open,
                        followups_next_week=next_week, care=care, support=support, projects=projects)


def project_for_report(user: Any, pk: Any) -> Project:
    """A project the user sees, with its account (hidden = missing)."""
    return get_one(project_scope, user, pk, "account")
