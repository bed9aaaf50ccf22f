"""Contact and follow-up (R3): what a salesperson does every day with a customer.

Every record here hangs off an account and is visible exactly when its account is (see
``selectors``): reassigning an account hands its history and open follow-ups to the new
owner's side of the company with it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import SoftDeletable, Versioned
from guanxi.customers.models import Account, AccountAttachment, Contact


# --- Interactions (R3.1) -------------------------------------------------------------------
class Interaction(SoftDeletable, Versioned):
    """One contact with a customer: a visit, call, e-mail, fax, meeting or message."""

    class Kind(models.TextChoices):
        VISIT = "visit", _("Visit")  # 拜访
        CALL = "call", _("Call")  # 电话
        EMAIL = "email", pgettext_lazy("interaction kind", "E-mail")  # 邮件
        FAX = "fax", _("Fax")  # 传真
        MEETING = "meeting", _("Meeting")  # 会议
        MESSAGE = "message", _("Message")  # 短信/微信

    class Purpose(models.TextChoices):
        CARE = "care", _("Care")  # 关怀
        INFORMATION = "information", _("Information")  # 信息沟通
        DEAL = "deal", _("Deal push")  # 促成交易
        SERVICE = "service", pgettext_lazy("interaction purpose", "Service")  # 服务
        INTELLIGENCE = "intelligence", _("Intelligence")  # 收集情报

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="interactions",
                                verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.INFORMATION)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    summary = models.TextField(_("summary"))
    outcome = models.TextField(_("outcome"), blank=True)
    # One agreed point per line: what the written confirmation (R3.4) lists.
    agreements = models.TextField(_("agreed points"), blank=True)
    # Who made the contact (ours); whoever logged it is in the audit trail.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="interactions",
                              verbose_name=_("logged for"))
    our_people = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+",
                                        verbose_name=_("our people present"))
    their_people = models.ManyToManyField(Contact, blank=True, related_name="interactions",
                                          verbose_name=_("their people present"))
    attachments = models.ManyToManyField(AccountAttachment, blank=True, related_name="interactions",
                                         verbose_name=_("attachments"))
    # Care (R3.5): a greeting or gift given during this contact.
    gift = models.CharField(_("gift"), max_length=200, blank=True)
    gift_value = models.DecimalField(_("gift value (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # Partial (live rows only): "was this account contacted in the period?" is answered
            # from the index without reading the row (R10.6).
            models.Index(fields=["account", "-occurred_at"], condition=Q(deleted_at__isnull=True),
                         name="interaction_account_time"),
            # Covering and partial: the business check counts a salesperson's contacts per
            # day, kind and purpose from the index alone (R10.6, B4).
            models.Index(fields=["owner", "-occurred_at", "kind", "purpose"], condition=Q(deleted_at__isnull=True),
                         name="interaction_owner_time"),
        ]

    def __str__(self) -> str:
        return self.subject or f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d}"


# --- Follow-ups and cadence (R3.2) ---------------------------------------------------------
class CadenceRule(Versioned):
    """How often an account of a grade and urgency is followed up.

    An empty grade or urgency matches any; the rule with both empty is the default that
    covers accounts not yet graded. The most specific active rule wins.
    """

    grade = models.CharField(_("grade"), max_length=8, blank=True)
    urgency = models.CharField(_("follow-up urgency"), max_length=16, choices=Account.Urgency.choices, blank=True)
    interval_days = models.PositiveSmallIntegerField(_("every (days)"))
    title = models.CharField(_("follow-up title"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("cadence rule")
        verbose_name_plural = _("cadence rules")
        ordering = ["grade", "urgency"]
        constraints = [models.UniqueConstraint(fields=["grade", "urgency"], name="cadence_rule_unique")]

    def __str__(self) -> str:
        return f"{self.grade or '*'} × {self.urgency or '*'}: {self.interval_days}"


class FollowUp(SoftDeletable, Versioned):
    """A next step with an owner and a due time, on an account (and optionally a person)."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", pgettext_lazy("activity state", "Cancelled")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Planned by hand")
        CADENCE = "cadence", _("Cadence rule")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="followups",
                                verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="followups",
                                verbose_name=_("contact"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="followups",
                              verbose_name=_("owner"))
    title = models.CharField(_("next step"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_at = models.DateTimeField(_("due"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.OPEN)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.MANUAL)
    interaction = models.ForeignKey(Interaction, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="followups", verbose_name=_("agreed in"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", verbose_name=_("done by"))
    outcome = models.TextField(_("outcome"), blank=True)
    # Set when the owner was told it is overdue, so the notice goes out once.
    overdue_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["owner", "due_at"], condition=Q(state="open", deleted_at__isnull=True),
                         name="followup_open_owner_due"),
            models.Index(fields=["account", "state"], name="followup_account_state"),
            # Every follow-up of an owner by due time, done ones too: the business check's
            # "due in the period but not done in time" (R10.6).
            models.Index(fields=["owner", "due_at"], name="followup_owner_due"),
            models.Index(fields=["due_at"], condition=Q(state="open", overdue_notified_at__isnull=True),
                         name="followup_overdue_pending"),
        ]
    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.state == self.State.OPEN and self.due_at < timezone.now()


# --- Care (R3.5, R3.6) ---------------------------------------------------------------------
class Occasion(models.TextChoices):
    BIRTHDAY = "birthday", _("Birthday")
    NEW_YEAR = "new_year", _("New Year's Day")  # 元旦
    SPRING_FESTIVAL = "spring_festival", _("Spring Festival")  # 春节
    LANTERN = "lantern", _("Lantern Festival")  # 元宵节
    DRAGON_BOAT = "dragon_boat", _("Dragon Boat Festival")  # 端午节
    MID_AUTUMN = "mid_autumn", _("Mid-Autumn Festival")  # 中秋节
    NATIONAL_DAY = "national_day", _("National Day")  # 国庆节
    OTHER = "other", _("Other occasion")


class GreetingTemplate(Versioned):
    """The greeting for an occasion, worded for how close we are to the person (R3.5)."""

    occasion = models.CharField(_("occasion"), max_length=20, choices=Occasion.choices)
    depth = models.CharField(_("relationship depth"), max_length=16, choices=Contact.Depth.choices, blank=True)
    body = models.TextField(_("greeting"))

    class Meta:
        verbose_name = _("greeting template")
        verbose_name_plural = _("greeting templates")
        ordering = ["occasion", "depth"]
        constraints = [models.UniqueConstraint(fields=["occasion", "depth"], name="greeting_template_unique")]

    def __str__(self) -> str:
        return f"{self.get_occasion_display()} · {self.get_depth_display() or '*'}"


class CarePlan(SoftDeletable, Versioned):
    """A greeting or gift planned for a person on an occasion; sending it logs an interaction."""

    class State(models.TextChoices):
        PLANNED = "planned", _("Planned")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", pgettext_lazy("activity state", "Cancelled")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="care_plans",
                                verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="care_plans",
                                verbose_name=_("contact"))
    occasion = models.CharField(_("occasion"), max_length=20, choices=Occasion.choices)
    date = models.DateField(_("date"))
    message = models.TextField(_("greeting"), blank=True)
    gift = models.CharField(_("gift"), max_length=200, blank=True)
    gift_value = models.DecimalField(_("gift value (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="care_plans",
                              verbose_name=_("owner"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PLANNED)
    interaction = models.ForeignKey(Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("recorded as"))

    class Meta:
        verbose_name = _("care plan")
        verbose_name_plural = _("care plans")
        ordering = ["date", "id"]
        indexes = [models.Index(fields=["owner", "date"], name="careplan_owner_date"),
                   models.Index(fields=["account", "date"], name="careplan_account_date")]

    def __str__(self) -> str:
        return f"{self.get_occasion_display()} {self.date:%Y-%m-%d}"


class Support(SoftDeletable, Versioned):
    """Help given to a customer to grow (R3.6): policy, funding, people, training."""

    class Kind(models.TextChoices):
        POLICY = "policy", _("Policy")  # 政策
        FUNDING = "funding", _("Funding")  # 资金
        PEOPLE = "people", pgettext_lazy("support kind", "People")  # 人员
        TRAINING = "training", _("Training")  # 培训

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="support_given",
                                verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    description = models.TextField(_("what was given"))
    value = models.DecimalField(_("value (CNY)"), max_digits=14, decimal_places=2, null=True, blank=True)
    given_on = models.DateField(_("given on"), default=timezone.localdate)
    outcome = models.TextField(_("outcome"), blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("given by"))

    class Meta:
        verbose_name = _("support")
        verbose_name_plural = _("support given")
        ordering = ["-given_on", "-id"]
        indexes = [models.Index(fields=["account", "-given_on"], name="support_account_date")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.given_on:%Y-%m-%d}"


# --- Projects (R3.7) -----------------------------------------------------------------------
class Project(SoftDeletable, Versioned):
    class State(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("project state", "Active")
        DONE = "done", _("Completed")
        CANCELLED = "cancelled", pgettext_lazy("activity state", "Cancelled")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="projects",
                                verbose_name=_("account"))
    name = models.CharField(_("name"), max_length=200)
    goal = models.TextField(_("goal"), blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="projects",
                              verbose_name=_("owner"))
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    budget = models.DecimalField(_("budget (CNY)"), max_digits=14, decimal_places=2, default=0)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.ACTIVE)

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"], name="project_account")]

    def __str__(self) -> str:
        return self.name


class Phase(Versioned):
    class State(models.TextChoices):
        PLANNED = "planned", _("Planned")
        ACTIVE = "active", _("In progress")
        DONE = "done", _("Completed")

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="phases", verbose_name=_("project"))
    position = models.PositiveSmallIntegerField(_("order"), default=1)
    name = models.CharField(_("name"), max_length=200)
    goal = models.TextField(_("goal"), blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("owner"))
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    cost = models.DecimalField(_("agreed cost (CNY)"), max_digits=14, decimal_places=2, default=0)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PLANNED)

    class Meta:
        verbose_name = _("phase")
        verbose_name_plural = _("phases")
        ordering = ["project", "position", "id"]

    def __str__(self) -> str:
        return self.name


class CostChange(Versioned):
    """A change of a phase's cost; the customer approves or declines it before the phase moves on."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for the customer")
        APPROVED = "approved", _("Approved by the customer")
        DECLINED = "declined", _("Declined by the customer")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Via(models.TextChoices):
        LINK = "link", _("Customer's link")
        STAFF = "staff", _("Recorded by staff with written evidence")

    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="cost_changes", verbose_name=_("phase"))
    amount = models.DecimalField(_("change (CNY)"), max_digits=14, decimal_places=2)
    reason = models.TextField(_("reason"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("requested by"))
    # The signed link carries this nonce: issuing a new link or deciding voids the old one.
    link_nonce = models.CharField(max_length=32, blank=True, editable=False)
    link_expires_at = models.DateTimeField(_("link expires at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_via = models.CharField(_("decided through"), max_length=8, choices=Via.choices, blank=True)
    customer_name = models.CharField(_("decided by (customer)"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("recorded by"))
    evidence = models.ForeignKey(AccountAttachment, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", verbose_name=_("written evidence"))
    decision_note = models.TextField(_("customer's note"), blank=True)

    class Meta:
        verbose_name = _("cost change")
        verbose_name_plural = _("cost changes")
        ordering = ["-id"]
        constraints = [
            # One open question to the customer per phase at a time.
            models.UniqueConstraint(fields=["phase"], condition=Q(state="pending"), name="costchange_one_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.phase} {self.amount:+}"


# --- Calendar feed (R13.4) and the morning digest (R13.10) ---------------------------------
class CalendarFeed(models.Model):
    """A user's private iCalendar URL; only a hash of its key is stored. Revoking voids the URL."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds",
                             verbose_name=_("user"))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)  # sha256 hex
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.created_at:%Y-%m-%d}"


class DeskPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desk_preference")
    morning_digest = models.BooleanField(_("send me the morning digest by e-mail"), default=True)

    class Meta:
        verbose_name = _("desk preference")
        verbose_name_plural = _("desk preferences")

    def __str__(self) -> str:
        return str(self.user_id)


class DigestSent(models.Model):
    """One row per user and day: the morning digest goes out once, however often the job runs."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)
    items = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="digest_once_per_day")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.day}"
