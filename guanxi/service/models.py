"""Service (R5): complaints, suggestions and service tickets, SLAs, field visits, improvements.

Complaints (投诉), suggestions (建议) and service tickets (服务工单) are three kinds of one
record, the **case**, so intake, ownership, timers, reports and the API treat them alike.

* **Intake** (R5.1): every channel — the public form at ``/feedback/``, the hotline, paper
  comment cards, staff, the API and later the mail hub — calls one service,
  ``services.intake.case_receive``. The sender is matched to an account and contact when
  possible; an unmatched case (``account`` empty) is seen by service managers only.
* **First-responder ownership** (首问负责, R5.2): whoever first receives a case is its
  ``owner`` until a hand-over is offered *and accepted* (``Handover``). Only the owner moves
  it on; nobody closes what they do not own.
* **Workflow** (R5.3): new → acknowledged → investigating → proposed → resolved → confirmed
  by the customer → closed; a resolved case the customer rejects is reopened (back to
  investigating, ``reopen_count`` + 1). The handling steps (listen, clarify, propose,
  apologise) are ``HandlingStep`` rows; the reply to the customer is reviewed by a supervisor
  when the category says so.
* **SLAs**: ``SlaPolicy`` per category and severity, in business minutes of the
  ``ServiceCalendar`` (working hours, weekdays) and ``Holiday`` rows (China's public holidays
  and the working weekend days, 调休). Each case keeps its due times, when it was warned and
  its escalation level, so the desk and the lists read columns, never compute.
* **Field service** (R5.4): a ticket's ``Visit`` rows: scheduled, assigned to a technician,
  done with a report, confirmed by the customer.
* **Suggestions** (R5.5) link to an ``Improvement``; when it ships, the senders are told.

Cases are owned records (``owner`` and the owner's ``department``), scoped by
``core.access.visible``; salespeople also read the cases of the accounts they see.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import Department, SoftDeletable, Versioned
from guanxi.customers.models import Account, Contact


class Kind(models.TextChoices):
    COMPLAINT = "complaint", _("Complaint")  # 投诉
    SUGGESTION = "suggestion", _("Suggestion")  # 建议
    TICKET = "ticket", _("Service ticket")  # 服务工单


class Severity(models.TextChoices):
    LOW = "low", pgettext_lazy("severity", "Low")
    NORMAL = "normal", pgettext_lazy("severity", "Normal")
    HIGH = "high", pgettext_lazy("severity", "High")
    CRITICAL = "critical", pgettext_lazy("severity", "Critical")


class Channel(models.TextChoices):
    WEB = "web", _("Web form")  # 网上留言
    HOTLINE = "hotline", _("Hotline")  # 热线
    CARD = "card", _("Comment card")  # 意见卡
    EMAIL = "email", _("E-mail")
    VISIT = "visit", _("In person")  # 来访
    STAFF = "staff", _("Staff")  # 员工代录
    API = "api", _("API")


# --- Configuration -------------------------------------------------------------------------
class CaseCategory(Versioned):
    """What a case is about (产品质量, 服务态度, 交付延误 …), for routing, SLAs and reports."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("for"), max_length=12, choices=Kind.choices, blank=True,
                            help_text=_("Empty: any kind of case."))
    # The reply to the customer is checked by a supervisor before it goes out (R5.3).
    needs_review = models.BooleanField(_("reply needs a supervisor's review"), default=False)
    # Who receives cases of this category arriving without a person (public form, mail).
    responder = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("first responder"))
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("case category")
        verbose_name_plural = _("case categories")
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["name"], name="case_category_name_unique")]

    def __str__(self) -> str:
        return self.name


class SlaPolicy(Versioned):
    """Targets in business minutes for cases of a category (or any) and a severity."""

    category = models.ForeignKey(CaseCategory, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="sla_policies", verbose_name=_("category"))
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    first_response_minutes = models.PositiveIntegerField(_("first response within (business minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution within (business minutes)"))
    # A warning goes to the owner when this share of the time has passed.
    warn_percent = models.PositiveSmallIntegerField(_("warn at (percent of the time)"), default=75)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["category_id", "severity"]
        constraints = [
            models.UniqueConstraint(fields=["category", "severity"], name="sla_category_severity_unique"),
            models.UniqueConstraint(fields=["severity"], condition=Q(category__isnull=True),
                                    name="sla_default_severity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.category or '*'} / {self.get_severity_display()}"


class ServiceCalendar(Versioned):
    """Business hours (one row): the SLA clock runs on these days between these times."""

    day_start = models.TimeField(_("working day starts"), default=dt.time(9, 0))
    day_end = models.TimeField(_("working day ends"), default=dt.time(18, 0))
    # ISO weekdays that are working days: "12345" = Monday to Friday.
    weekdays = models.CharField(_("working weekdays"), max_length=7, default="12345")

    class Meta:
        verbose_name = _("business hours")
        verbose_name_plural = _("business hours")

    def __str__(self) -> str:
        return f"{self.weekdays} {self.day_start:%H:%M}–{self.day_end:%H:%M}"


class Holiday(Versioned):
    """A day off on a working weekday (节假日), or a working day on a weekend (调休上班)."""

    class Type(models.TextChoices):
        HOLIDAY = "holiday", _("Public holiday")
        WORKDAY = "workday", _("Working day (adjusted)")

    day = models.DateField(_("day"), unique=True)
    type = models.CharField(_("type"), max_length=8, choices=Type.choices, default=Type.HOLIDAY)
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.name}"


class FeedbackForm(Versioned):
    """A public form (``/feedback/`` or ``/feedback/<slug>/``): per company, channel or shop.

    Its QR code goes on printed comment cards; cases it receives go to ``responder``."""

    slug = models.SlugField(_("address"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    intro = models.TextField(_("introduction"), blank=True)
    kind = models.CharField(_("default kind"), max_length=12, choices=Kind.choices, default=Kind.COMPLAINT)
    category = models.ForeignKey(CaseCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("default category"))
    responder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("first responder"))
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.WEB)
    allow_attachments = models.BooleanField(_("allow attachments"), default=True)
    active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(_("served at /feedback/"), default=False)

    class Meta:
        verbose_name = _("feedback form")
        verbose_name_plural = _("feedback forms")
        ordering = ["-is_default", "slug"]
        constraints = [models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                               name="feedback_form_one_default")]

    def __str__(self) -> str:
        return self.title


# --- Improvements (R5.5) -------------------------------------------------------------------
class Improvement(SoftDeletable, Versioned):
    """A product or service improvement that suggestions (and complaints) lead to."""

    class State(models.TextChoices):
        PROPOSED = "proposed", pgettext_lazy("improvement state", "Proposed")
        PLANNED = "planned", pgettext_lazy("improvement state", "Planned")
        IN_PROGRESS = "in_progress", pgettext_lazy("improvement state", "In progress")
        SHIPPED = "shipped", pgettext_lazy("improvement state", "Shipped")
        REJECTED = "rejected", pgettext_lazy("improvement state", "Rejected")

    code = models.CharField(_("number"), max_length=32, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    product = models.ForeignKey("sales.Product", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="improvements", verbose_name=_("product"))
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.PROPOSED)
    release_note = models.TextField(_("what changed (told to the customers)"), blank=True)
    shipped_on = models.DateField(_("shipped on"), null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("owner"))

    class Meta:
        verbose_name = _("improvement")
        verbose_name_plural = _("improvements")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class ImprovementMail(models.Model):
    """One row per shipped improvement and customer address: each customer is told once that
    it shipped, however often the mail job is retried (the row is written with the send)."""

    improvement = models.ForeignKey(Improvement, on_delete=models.CASCADE, related_name="mails",
                                    verbose_name=_("improvement"))
    email = models.EmailField(_("e-mail"))
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("improvement mail")
        verbose_name_plural = _("improvement mails")
        constraints = [models.UniqueConstraint(fields=["improvement", "email"], name="improvement_mail_once")]

    def __str__(self) -> str:
        return f"{self.improvement_id} → {self.email}"


# --- Cases ---------------------------------------------------------------------------------
class Case(SoftDeletable, Versioned):
    """A complaint, a suggestion or a service ticket, from receipt to closing."""

    class State(models.TextChoices):
        NEW = "new", pgettext_lazy("case state", "New")  # 新建
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")  # 已受理
        INVESTIGATING = "investigating", _("Investigating")  # 调查中
        PROPOSED = "proposed", _("Solution proposed")  # 已提方案
        RESOLVED = "resolved", _("Resolved")  # 已解决
        CONFIRMED = "confirmed", _("Confirmed by the customer")  # 客户确认
        CLOSED = "closed", pgettext_lazy("case state", "Closed")  # 已关闭

    class TicketType(models.TextChoices):
        INSTALLATION = "installation", _("Installation")  # 安装
        MAINTENANCE = "maintenance", _("Maintenance")  # 保养
        REPAIR = "repair", _("Repair")  # 维修
        INSPECTION = "inspection", _("Inspection")  # 巡检
        SUPPORT = "support", _("Support")  # 咨询支持

    class Review(models.TextChoices):
        NONE = "", _("Not needed")
        PENDING = "pending", _("Awaiting review")
        APPROVED = "approved", _("Approved")
        RETURNED = "returned", _("Returned for changes")

    code = models.CharField(_("case number"), max_length=32, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.COMPLAINT)
    ticket_type = models.CharField(_("ticket type"), max_length=16, choices=TicketType.choices, blank=True)
    title = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("what the customer said"))
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, default=Channel.STAFF)
    form = models.ForeignKey(FeedbackForm, null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
                             verbose_name=_("feedback form"))
    category = models.ForeignKey(CaseCategory, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="cases", verbose_name=_("category"))
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices, default=Severity.NORMAL)
    product = models.ForeignKey("sales.Product", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="cases", verbose_name=_("product"))
    order = models.ForeignKey("sales.Order", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="cases", verbose_name=_("order"))
    # Matched customer (empty: unmatched, seen by service managers only).
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
                                verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
                                verbose_name=_("contact"))
    # What the sender gave us, kept as given even once matched.
    sender_name = models.CharField(_("sender's name"), max_length=100, blank=True)
    sender_company = models.CharField(_("sender's company"), max_length=200, blank=True)
    sender_phone = models.CharField(_("sender's phone"), max_length=40, blank=True)
    sender_email = models.EmailField(_("sender's e-mail"), blank=True)
    wants_reply = models.BooleanField(_("wants a reply"), default=True)

    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.NEW)
    # First-responder ownership (首问负责): the owner until a hand-over is accepted.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_cases",
                              verbose_name=_("owner"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="cases", verbose_name=_("department"))
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("first responder"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    # The answer to the customer and its review (R5.3).
    proposal = models.TextField(_("proposed solution"), blank=True)
    reply = models.TextField(_("reply to the customer"), blank=True)
    review_state = models.CharField(_("review"), max_length=8, choices=Review.choices, blank=True, default="")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("reviewed by"))
    review_note = models.TextField(_("review note"), blank=True)
    resolution = models.TextField(_("outcome"), blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)

    # SLA timers, worked out when the case is received or its category/severity changes.
    sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("SLA"))
    first_response_due = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due = models.DateTimeField(_("resolution due"), null=True, blank=True)
    first_responded_at = models.DateTimeField(_("first responded at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # Set once each, so every warning and escalation goes out once.
    response_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolution_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    response_breached = models.BooleanField(_("first response late"), default=False)
    resolution_breached = models.BooleanField(_("resolution late"), default=False)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    improvement = models.ForeignKey(Improvement, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="cases", verbose_name=_("improvement"))
    # The customer confirms (or rejects) the resolution from a personal link.
    confirm_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Case number, subject, sender, company, phone digits in one lowercase text (core/search.py).
    search_text = models.TextField(blank=True, editable=False)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "state"], condition=Q(deleted_at__isnull=True), name="case_owner_state"),
            models.Index(fields=["department", "-id"], condition=Q(deleted_at__isnull=True),
                         name="case_department_alive"),
            models.Index(fields=["account", "-id"], name="case_account"),
            # The SLA sweep: open cases by due time.
            models.Index(fields=["state", "first_response_due"], name="case_response_due"),
            models.Index(fields=["state", "resolution_due"], name="case_resolution_due"),
            models.Index(fields=["received_at"], name="case_received"),
            models.Index(fields=["kind", "received_at"], name="case_kind_received"),
            # Replies waiting for a supervisor (the desk panel): a handful of rows at any time.
            models.Index(fields=["owner"], condition=Q(review_state="pending"), name="case_review_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    OPEN_STATES = ("new", "acknowledged", "investigating", "proposed")

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    def build_search_text(self) -> str:
        from guanxi.core import search

        return search.build(names=[self.title, self.sender_name, self.sender_company], phones=[self.sender_phone],
                            codes=[self.code, self.sender_email])


class CaseEvent(models.Model):
    """The case's history: receipt, state changes, hand-overs, replies, warnings, escalations."""

    class Type(models.TextChoices):
        RECEIVED = "received", _("Received")
        STATE = "state", _("State changed")
        HANDOVER_OFFERED = "handover", _("Hand-over offered")
        HANDOVER_ACCEPTED = "accepted", _("Hand-over accepted")
        HANDOVER_DECLINED = "declined", _("Hand-over declined")
        HANDOVER_WITHDRAWN = "withdrawn", _("Hand-over withdrawn")
        STEP = "step", _("Handling step")
        REPLY = "reply", _("Reply")
        REVIEW = "review", _("Review")
        WARNED = "warned", _("SLA warning")
        BREACHED = "breached", _("SLA breached")
        ESCALATED = "escalated", _("Escalated")
        REOPENED = "reopened", _("Reopened")
        CUSTOMER = "customer", _("Customer answered")
        NOTE = "note", _("Note")
        SURVEY = "survey", _("Survey sent")
        IMPROVEMENT = "improvement", _("Improvement")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events", verbose_name=_("case"))
    type = models.CharField(_("type"), max_length=12, choices=Type.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("by"))
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", verbose_name=_("to"))
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="case_event_case_at")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.type} {self.at:%Y-%m-%d %H:%M}"


class HandlingStep(models.Model):
    """One of the handling steps (R5.3): listen, clarify, propose, apologise, follow up."""

    class Step(models.TextChoices):
        LISTEN = "listen", _("Listen")  # 倾听
        CLARIFY = "clarify", _("Clarify")  # 澄清
        PROPOSE = "propose", _("Propose")  # 提出方案
        APOLOGISE = "apologise", _("Apologise")  # 道歉
        FOLLOW_UP = "follow_up", _("Follow up")  # 回访

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps", verbose_name=_("case"))
    step = models.CharField(_("step"), max_length=12, choices=Step.choices)
    note = models.TextField(_("what was said or done"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("by"))
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("handling step")
        verbose_name_plural = _("handling steps")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.step}"


class Handover(Versioned):
    """A hand-over offered by the case's owner to a colleague; ownership moves only on accept."""

    class State(models.TextChoices):
        OFFERED = "offered", _("Offered")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="handovers", verbose_name=_("case"))
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("from"))
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="case_handovers",
                                verbose_name=_("to"))
    note = models.TextField(_("why"), blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OFFERED)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    answer = models.TextField(_("answer"), blank=True)

    class Meta:
        verbose_name = _("hand-over")
        verbose_name_plural = _("hand-overs")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["case"], condition=Q(state="offered"),
                                               name="handover_one_open_per_case")]
        indexes = [models.Index(fields=["to_user", "state"], name="handover_to_state")]

    def __str__(self) -> str:
        return f"{self.case_id} → {self.to_user_id} ({self.state})"


def case_attachment_path(instance: CaseAttachment, filename: str) -> str:
    import uuid

    return f"cases/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class CaseAttachment(SoftDeletable):
    """A photo or document sent with a case (S12: random stored name, served as a download)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments", verbose_name=_("case"))
    file = models.FileField(_("file"), upload_to=case_attachment_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("uploaded by"))
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("case attachment")
        verbose_name_plural = _("case attachments")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name


# --- Field service (R5.4) ------------------------------------------------------------------
class Visit(SoftDeletable, Versioned):
    """An on-site visit for a service ticket: installation, maintenance, repair, inspection."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DONE = "done", _("Done")  # report written
        CONFIRMED = "confirmed", _("Confirmed by the customer")
        CANCELLED = "cancelled", _("Cancelled")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="visits", verbose_name=_("case"))
    purpose = models.CharField(_("purpose"), max_length=16, choices=Case.TicketType.choices)
    technician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="service_visits",
                                   verbose_name=_("technician"))
    scheduled_start = models.DateTimeField(_("from"))
    scheduled_end = models.DateTimeField(_("until"))
    address = models.CharField(_("address"), max_length=300, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.SCHEDULED)
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    report = models.TextField(_("report"), blank=True)
    parts = models.TextField(_("parts used"), blank=True)
    customer_signature = models.CharField(_("confirmed by (name)"), max_length=100, blank=True)
    customer_confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    customer_comment = models.TextField(_("customer's comment"), blank=True)
    confirm_token_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = pgettext_lazy("field service", "visit")
        verbose_name_plural = pgettext_lazy("field service", "visits")
        ordering = ["scheduled_start", "id"]
        indexes = [models.Index(fields=["technician", "scheduled_start"], condition=Q(deleted_at__isnull=True),
                                name="visit_technician_day")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.purpose} {self.scheduled_start:%Y-%m-%d %H:%M}"
