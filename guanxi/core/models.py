"""Organisation, access grants, audit, approvals, recycle bin, tokens, jobs, notifications."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


# --- Shared building blocks ---------------------------------------------------------------
class AliveQuerySet(models.QuerySet):
    def alive(self) -> AliveQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> AliveQuerySet:
        return self.filter(deleted_at__isnull=False)


class AliveManager(models.Manager.from_queryset(AliveQuerySet)):  # type: ignore[misc]
    """The default manager: what is in the recycle bin does not exist for ordinary reads."""

    def get_queryset(self) -> AliveQuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class SoftDeletable(models.Model):
    """A record users can delete only into the recycle bin, and restore from it."""

    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, db_index=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("deleted by"),
    )
    # Records deleted together (a record and its dependants) share one batch, so a
    # restore brings back exactly what one delete took away.
    deletion_batch = models.UUIDField(null=True, blank=True, editable=False)

    objects = AliveManager()
    all_objects = models.Manager.from_queryset(AliveQuerySet)()

    class Meta:
        abstract = True
        base_manager_name = "all_objects"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def soft_delete_dependants(self) -> list[models.Model]:
        """Return the records that go to the recycle bin with this one (override)."""
        return []


class Versioned(models.Model):
    """Optimistic locking: every update names the version it read; a stale one is refused."""

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)

    class Meta:
        abstract = True


class ApprovalState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")


class Approvable(models.Model):
    """A record a manager reviews (R10.1); once approved it changes only by change request."""

    approval_state = models.CharField(
        _("approval state"), max_length=16, choices=ApprovalState.choices, default=ApprovalState.DRAFT
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_approved(self) -> bool:
        return self.approval_state == ApprovalState.APPROVED


# --- Organisation -----------------------------------------------------------------------------
class Department(SoftDeletable, Versioned):
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
        verbose_name=_("parent department"),
    )
    # Materialised path "/1/4/9/" makes "this department and everything below it" one
    # indexed prefix query instead of a recursive walk.
    path = models.CharField(max_length=255, db_index=True, editable=False, default="/")

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    def subtree_ids(self) -> list[int]:
        return list(Department.objects.filter(path__startswith=self.path).values_list("id", flat=True))


class Role(models.Model):
    class Code(models.TextChoices):
        SALESPERSON = "salesperson", _("Salesperson")
        SALES_MANAGER = "sales_manager", _("Sales manager")
        GENERAL_MANAGER = "general_manager", _("General manager")
        SERVICE_AGENT = "service_agent", _("Service agent")
        SERVICE_MANAGER = "service_manager", _("Service manager")
        MARKETING = "marketing", _("Marketing")
        ADMIN = "admin", _("Administrator")

    code = models.CharField(_("code"), max_length=32, unique=True, choices=Code.choices)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.Code(self.code).label)


class User(AbstractUser, Versioned):
    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", "简体中文"
        EN = "en", "English"

    name = models.CharField(_("full name"), max_length=100, blank=True)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="members",
        verbose_name=_("department"),
    )
    roles = models.ManyToManyField(Role, blank=True, related_name="users", verbose_name=_("roles"))
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS)
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    objects = UserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.username

    def role_codes(self) -> frozenset[str]:
        cached = getattr(self, "_role_codes", None)
        if cached is None:
            cached = frozenset(self.roles.values_list("code", flat=True)) if self.pk else frozenset()
            self._role_codes = cached
        return cached

    def has_role(self, *codes: str) -> bool:
        return bool(self.role_codes() & set(codes))


class Team(SoftDeletable, Versioned):
    name = models.CharField(_("name"), max_length=100)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="teams",
                                   verbose_name=_("department"))
    leader = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="led_teams",
                               verbose_name=_("leader"))
    members = models.ManyToManyField(User, blank=True, related_name="teams", verbose_name=_("members"))

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AccessGrant(Versioned):
    """Time-limited permission to look into another department's or person's customers (R10.3)."""

    class State(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        REVOKED = "revoked", _("Revoked")

    grantee = models.ForeignKey(User, on_delete=models.PROTECT, related_name="grants", verbose_name=_("grantee"))
    target_department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("department looked into"),
    )
    target_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("person looked into")
    )
    reason = models.TextField(_("reason"))
    starts_at = models.DateTimeField(_("starts at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.REQUESTED)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("access grant")
        verbose_name_plural = _("access grants")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_department__isnull=False) | Q(target_user__isnull=False),
                name="grant_has_target",
            )
        ]
        indexes = [models.Index(fields=["grantee", "state", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.grantee} → {self.target_department or self.target_user}"

    @property
    def target(self) -> Department | User | None:
        return self.target_department or self.target_user

    def is_active(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.state == self.State.APPROVED and self.starts_at <= now < self.expires_at


# --- Audit ----------------------------------------------------------------------------------
class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("audit rows cannot be altered")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit rows cannot be deleted")


class AuditEvent(models.Model):
    """One immutable row per change: who, when, from where, which fields, before and after."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        DELETE = "delete", _("Deleted")
        RESTORE = "restore", _("Restored")
        EXPORT = "export", _("Exported")
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Login failed")
        LOGOUT = "logout", _("Logged out")
        PERMISSION = "permission", _("Permission changed")
        APPROVE = "approve", _("Approved")
        REQUEST = "request", _("Change requested")
        DECIDE = "decide", _("Request decided")
        # The customer file's own moves, so the history says what happened, not just "updated".
        REASSIGN = "reassign", _("Reassigned")
        CLAIM = "claim", _("Claimed from the pool")
        RELEASE = "release", _("Released to the pool")
        RETURN = "return", _("Returned to the pool")
        MERGE = "merge", _("Merged")
        UNMERGE = "unmerge", _("Merge undone")
        IMPORT = "import", _("Imported")
        RATE = "rate", _("Rated")

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("actor"))
    actor_name = models.CharField(_("actor"), max_length=150, blank=True)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    channel = models.CharField(_("channel"), max_length=16, blank=True)  # web, api, cli, job
    action = models.CharField(_("action"), max_length=16, choices=Action.choices, db_index=True)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(_("record"), max_length=200, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)  # {field: [before, after]}
    note = models.TextField(_("note"), blank=True)

    objects = models.Manager.from_queryset(AuditQuerySet)()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("audit rows cannot be altered")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("audit rows cannot be deleted")


# --- Approvals -------------------------------------------------------------------------------
class ApprovalPolicy(Versioned):
    """Per model: whether approved records change only through change requests, and who decides."""

    model = models.CharField(_("record type"), max_length=64, unique=True)  # "customers.account"
    enabled = models.BooleanField(_("enabled"), default=True)
    approver_role = models.CharField(_("approver role"), max_length=32, choices=Role.Code.choices,
                                     default=Role.Code.GENERAL_MANAGER)

    class Meta:
        verbose_name = _("approval policy")
        verbose_name_plural = _("approval policies")

    def __str__(self) -> str:
        return self.model


class ChangeRequest(Versioned):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(_("record"), max_length=200)
    changes = models.JSONField(_("proposed changes"))  # {field: [before, after]}
    reason = models.TextField(_("reason"), blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING,
                             db_index=True)
    approver_role = models.CharField(_("approver role"), max_length=32, choices=Role.Code.choices)
    target_version = models.PositiveIntegerField(editable=False)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="change_requests",
                                     verbose_name=_("requested by"))
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("change request")
        verbose_name_plural = _("change requests")
        ordering = ["-id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.object_repr}"

    def target(self) -> models.Model:
        model = self.content_type.model_class()
        assert model is not None
        return model._base_manager.get(pk=self.object_id)


# --- API, jobs, notifications -------------------------------------------------------------------
class ApiToken(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)  # sha256 hex
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """The first answer to a POST with an Idempotency-Key, replayed to every retry (S19)."""

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    body_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    response = models.BinaryField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.principal} {self.key}"


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=64, db_index=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(_("total"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    # What a resumed run skips: the job's own checkpoint (e.g. last row committed).
    checkpoint = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Touched whenever the running job reports progress: a running job whose heartbeat is
    # old has lost its worker (killed, machine restarted) and may be resumed.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    # The claim of the worker running it: a fresh token per claim (a worker that lost its
    # claim to another cannot write progress or the end), and who holds it ("host:pid").
    lease = models.UUIDField(null=True, blank=True, editable=False)
    owner = models.CharField(max_length=120, blank=True, editable=False)
    # When it was last handed to the queue: a QUEUED job silent for long is handed again.
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)

    STALLED_AFTER = dt.timedelta(minutes=5)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.state}"

    @property
    def stalled(self) -> bool:
        """Running, but silent for longer than any chunk takes: its worker is gone."""
        beat = self.heartbeat_at or self.started_at
        return self.state == self.State.RUNNING and (beat is None or timezone.now() - beat > self.STALLED_AFTER)

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, int(100 * (self.done + self.failed) / self.total))


class Outbox(models.Model):
    """A mail waiting to go out, or gone: written in the transaction that decided to send it,
    delivered after commit by the queue. ``key`` makes queueing idempotent: a retried job
    queues nothing twice; a SENT row is never claimed again."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    key = models.CharField(_("key"), max_length=200, unique=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    to = models.TextField(_("recipients"), blank=True)  # for reading; the envelope is in ``message``
    # The whole message (addresses, headers, bodies, alternatives, attachments) as JSON.
    message = models.JSONField(default=dict)
    message_id = models.CharField(_("Message-ID"), max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease = models.UUIDField(null=True, blank=True, editable=False)
    owner = models.CharField(max_length=120, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing mail")
        verbose_name_plural = _("outgoing mail")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="core_outbox_due")]

    def __str__(self) -> str:
        return f"{self.key} {self.state}"


class Notification(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.title


class CodeSequence(models.Model):
    """Counters for immutable, never-reused codes (e.g. customer codes KH-2026-000123)."""

    name = models.CharField(max_length=64, unique=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
