"""The customer file (客户档案): accounts, their people, classification, ratings and the
relationship curve, ownership history, the customer pool, attachments, custom fields,
saved views, imports and merges (R1, R2, R10.5, R12, R13.1, R13.6, R13.7).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core import search
from guanxi.core.models import Approvable, Department, SoftDeletable, Versioned
from guanxi.core.validators import validate_credit_code, validate_mobile, validate_phone


# --- Classification (R2) -------------------------------------------------------------------
class Category(Versioned):
    """A node of the company's own category tree (R2.1), e.g. 工商业 → 餐饮.

    Configuration, not customer data: retired with ``active = False``, never deleted.
    """

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
                               verbose_name=_("parent category"))
    # Materialised path "/3/7/": "this category and everything below it" is one prefix query.
    path = models.CharField(max_length=255, db_index=True, editable=False, default="/")
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["path", "sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(_("colour"), max_length=16, default="secondary")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Grade(Versioned):
    """A rating grade (A/B/C/D or named tiers) with its threshold and service policy (R2.2, R2.8)."""

    code = models.CharField(_("grade"), max_length=8, unique=True)
    name = models.CharField(_("name"), max_length=50)
    min_score = models.DecimalField(_("minimum score"), max_digits=6, decimal_places=2)
    service_policy = models.TextField(_("service policy"), blank=True)
    # Days without a follow-up or deal before an account of this grade returns to the pool
    # (R13.1); empty: the pool settings' default.
    pool_return_days = models.PositiveIntegerField(_("days before return to the pool"), null=True, blank=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("grade")
        verbose_name_plural = _("grades")
        ordering = ["-min_score"]

    def __str__(self) -> str:
        return self.code


class RatingFactor(Versioned):
    """One factor of the multi-factor rating (contribution, integrity, influence …), 0–100 points."""

    class Method(models.TextChoices):
        MANUAL = "manual", _("Scored by hand")
        RULE = "rule", _("Scored by rule from data")

    key = models.SlugField(_("key"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    weight = models.DecimalField(_("weight"), max_digits=6, decimal_places=2, default=1)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices, default=Method.MANUAL)
    # For rule factors: which built-in rule computes the points (customers/services/rating.py).
    rule = models.CharField(_("rule"), max_length=50, blank=True)
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("rating factor")
        verbose_name_plural = _("rating factors")
        ordering = ["sort_order", "key"]

    def __str__(self) -> str:
        return self.name


class CustomField(Versioned):
    """A field an administrator adds to accounts or contacts (R13.7)."""

    class Target(models.TextChoices):
        ACCOUNT = "account", _("Account")
        CONTACT = "contact", _("Contact")

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")

    target = models.CharField(_("record type"), max_length=16, choices=Target.choices, default=Target.ACCOUNT)
    key = models.SlugField(_("key"), max_length=50)
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["target", "sort_order", "key"]
        constraints = [models.UniqueConstraint(fields=["target", "key"], name="customfield_target_key_unique")]

    def __str__(self) -> str:
        return self.label


class PoolSettings(Versioned):
    """The customer pool's rules (R13.1): one row for the company."""

    claim_cap = models.PositiveIntegerField(_("most accounts one salesperson may hold from the pool"), default=50)
    default_return_days = models.PositiveIntegerField(_("days without a follow-up or deal before return"),
                                                      default=90)
    notice_days = models.PositiveIntegerField(_("days of advance notice to the owner"), default=7)
    auto_return = models.BooleanField(_("return idle accounts to the pool automatically"), default=True)

    class Meta:
        verbose_name = _("pool settings")
        verbose_name_plural = _("pool settings")

    def __str__(self) -> str:
        return str(_("pool settings"))

    @classmethod
    def current(cls) -> PoolSettings:
        obj = cls.objects.order_by("pk").first()
        return obj if obj is not None else cls.objects.create()


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Account(SoftDeletable, Approvable, Versioned):
    class Kind(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise")
        INDIVIDUAL = "individual", _("Individual")

    class Size(models.TextChoices):
        MICRO = "micro", _("Micro")
        SMALL = "small", _("Small")
        MEDIUM = "medium", _("Medium")
        LARGE = "large", _("Large")

    class OperatingStatus(models.TextChoices):
        OPERATING = "operating", _("Operating")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")
        UNKNOWN = "unknown", _("Unknown")

    class CreditStanding(models.TextChoices):  # 资信
        EXCELLENT = "excellent", _("Excellent")
        GOOD = "good", _("Good")
        FAIR = "fair", _("Fair")
        POOR = "poor", _("Poor")
        UNKNOWN = "unknown", _("Unknown")

    class Importance(models.TextChoices):
        KEY = "key", pgettext_lazy("importance", "Key")
        IMPORTANT = "important", _("Important")
        GENERAL = "general", _("General")

    class Lifecycle(models.TextChoices):  # R2.4
        POTENTIAL = "potential", _("Potential")  # 潜在
        INTENT = "intent", _("Intent")  # 意向
        CLOSED = "closed", _("Closed deal")  # 成交
        LOST = "lost", _("Lost")  # 流失

    class RelationshipType(models.TextChoices):  # R2.5
        TRANSACTIONAL = "transactional", _("Transactional")  # 买卖
        PREFERRED = "preferred", _("Preferred supplier")  # 优先供应
        PARTNER = "partner", _("Partner")  # 合作伙伴
        STRATEGIC = "strategic", _("Strategic alliance")  # 战略联盟

    class ValueSegment(models.TextChoices):  # R2.6
        VALUE = "value", _("Value")  # 价值
        POTENTIAL = "potential", pgettext_lazy("value segment", "Potential")  # 潜力
        MIGRATING = "migrating", _("Migrating")  # 迁移
        FROZEN = "frozen", _("Frozen")  # 冰点

    class Urgency(models.TextChoices):  # R2.7
        URGENT = "urgent", _("Urgent (within a week)")
        SOON = "soon", _("Soon (1 week to 1 month)")
        LATER = "later", _("Later (1 to 3 months)")
        SLOW = "slow", _("Slow (over 3 months)")

    code = models.CharField(_("customer code"), max_length=32, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ENTERPRISE)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True,
                                   validators=[validate_credit_code])
    phone = models.CharField(_("phone"), max_length=32, blank=True, validators=[validate_phone])
    # "广东省 深圳市" as shown; province / city / district are the structured parts (filterable).
    region = models.CharField(_("region"), max_length=100, blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    district = models.CharField(_("district"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.CharField(_("website"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Roles (R1.2): one company can hold several.
    is_customer = models.BooleanField(_("customer"), default=True)
    is_distributor = models.BooleanField(_("distributor"), default=False)
    is_supplier = models.BooleanField(_("supplier"), default=False)
    is_partner = models.BooleanField(_("partner"), default=False)
    is_foreign = models.BooleanField(_("foreign"), default=False)
    # Company profile (R1.3).
    size = models.CharField(_("company size"), max_length=16, choices=Size.choices, blank=True)
    operating_status = models.CharField(_("operating status"), max_length=16, choices=OperatingStatus.choices,
                                        blank=True)
    founded_on = models.DateField(_("founded on"), null=True, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    business_scope = models.TextField(_("business scope"), blank=True)
    organisation_traits = models.TextField(_("organisation traits"), blank=True)
    philosophy = models.TextField(_("business philosophy"), blank=True)
    culture = models.TextField(_("culture"), blank=True)
    industry_position = models.TextField(_("industry position"), blank=True)
    prospects = models.TextField(_("prospects"), blank=True)
    development_strategy = models.TextField(_("development strategy"), blank=True)
    credit_standing = models.CharField(_("credit standing"), max_length=16, choices=CreditStanding.choices,
                                       blank=True)
    importance = models.CharField(_("importance to us"), max_length=16, choices=Importance.choices, blank=True)
    # Classification (R2). No index of its own: the (category, -id) index in Meta answers every
    # lookup by category, and each index of this table is written with every non-HOT row update.
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts",
                                 verbose_name=_("category"), db_index=False)
    lifecycle = models.CharField(_("lifecycle stage"), max_length=16, choices=Lifecycle.choices,
                                 default=Lifecycle.POTENTIAL)
    relationship_type = models.CharField(_("relationship type"), max_length=16, choices=RelationshipType.choices,
                                         blank=True)
    value_segment = models.CharField(_("value segment"), max_length=16, choices=ValueSegment.choices, blank=True)
    urgency = models.CharField(_("follow-up urgency"), max_length=16, choices=Urgency.choices, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="accounts", verbose_name=_("tags"))
    # The latest rating (the full series is AccountRating): derived, written by the rating service.
    grade = models.CharField(_("grade"), max_length=8, blank=True, editable=False)
    score = models.DecimalField(_("score"), max_digits=6, decimal_places=2, null=True, blank=True, editable=False)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True, editable=False)
    # Admin-defined fields (R13.7): {key: value}, values as JSON text, numbers or ISO dates.
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    # The customer pool (R13.1): an account without an owner is in the pool.
    last_activity_at = models.DateTimeField(_("last follow-up or deal"), null=True, blank=True, editable=False)
    pool_entered_at = models.DateTimeField(_("in the pool since"), null=True, blank=True, editable=False)
    pool_notice_at = models.DateTimeField(_("return to the pool announced at"), null=True, blank=True,
                                          editable=False)
    # No index of its own: the indexes in Meta that start with the owner answer every lookup by owner.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="accounts", verbose_name=_("owner"), db_index=False)
    # The owner's department when the account was assigned: what department-wide
    # visibility filters on, one indexed column instead of a join through users.
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="accounts", verbose_name=_("department"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    # Name, pinyin, initials, phone digits and codes in one lowercase text (core/search.py).
    search_text = models.TextField(default="", blank=True, editable=False)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["credit_code"],
                condition=Q(deleted_at__isnull=True) & ~Q(credit_code=""),
                name="account_credit_code_unique_alive",
            )
        ]
        indexes = [
            # Lists count and page only live accounts: partial indexes answer both without
            # visiting rows to check deleted_at (measured at M: the count 4.0 → 0.2 ms).
            models.Index(fields=["owner", "-id"], condition=Q(deleted_at__isnull=True), name="account_owner_alive"),
            models.Index(fields=["department", "-id"], condition=Q(deleted_at__isnull=True),
                         name="account_department_alive"),
            models.Index(fields=["grade", "-id"]),
            models.Index(fields=["category", "-id"]),
            models.Index(fields=["province", "city"]),
            models.Index(fields=["owner", "last_activity_at"]),
            # The desk's "returning to the pool" panel: a salesperson's announced returns only.
            models.Index(fields=["owner", "pool_notice_at"], condition=Q(pool_notice_at__isnull=False),
                         name="account_owner_pool_notice"),
            # The business check counts a salesperson's live accounts by grade from the index
            # alone (measured at M: p95 59–67 → 51 ms).
            models.Index(fields=["owner", "grade"], condition=Q(deleted_at__isnull=True), name="account_owner_grade_alive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def in_pool(self) -> bool:
        return self.owner_id is None

    def save(self, *args: Any, **kwargs: Any) -> None:
        for name, value in self.derived_fields().items():
            setattr(self, name, value)
        super().save(*args, **kwargs)

    def derived_fields(self, contact_names: list[str] | None = None) -> dict[str, str]:
        """Columns computed from the others; services write them with every change.

        The search text holds the names of the account's live contacts too, so searching
        for a person finds their company.
        """
        if contact_names is None:
            contact_names = list(self.contacts.values_list("name", flat=True)) if self.pk else []
        # Text and choice values of custom fields are searchable too (R13.7). Numbers are
        # stored as numbers and dates as ISO text; neither is searched.
        custom_texts = [v[:100] for v in (self.custom or {}).values()
                        if isinstance(v, str) and not _ISO_DATE.match(v)]
        return {"search_text": search.build(names=[self.name, *contact_names, *custom_texts], phones=[self.phone],
                                            codes=[self.code, self.credit_code])}

    def soft_delete_dependants(self) -> list[models.Model]:
        """Its people go to the recycle bin with it, and come back with it."""
        return list(self.contacts.all())


class Contact(SoftDeletable, Versioned):
    """A person at an account (联系人/关键人) with the personal profile the seeds describe (R1.4–R1.6)."""

    class Role(models.TextChoices):
        PRINCIPAL = "principal", _("Principal")  # 负责人
        DECISION_MAKER = "decision_maker", _("Decision maker")
        HANDLER = "handler", _("Handler")  # 经办人
        INFLUENCER = "influencer", _("Influencer")
        USER = "user", _("User")
        OTHER = "other", _("Other")

    class Depth(models.TextChoices):
        PASSER_BY = "passer_by", _("Passer-by")  # 过客
        ACQUAINTANCE = "acquaintance", _("Acquaintance")  # 熟人
        FRIEND = "friend", _("Friend")  # 朋友
        CONFIDANT = "confidant", _("Confidant")  # 知己

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("account"))
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    role = models.CharField(_("role at the account"), max_length=16, choices=Role.choices, default=Role.OTHER)
    depth = models.CharField(_("relationship depth"), max_length=16, choices=Depth.choices, default=Depth.PASSER_BY)
    mobile = models.CharField(_("mobile"), max_length=32, blank=True, validators=[validate_mobile])
    phone = models.CharField(_("phone"), max_length=32, blank=True, validators=[validate_phone])
    email = models.EmailField(_("e-mail"), blank=True)
    wechat = models.CharField(_("WeChat"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    personality = models.TextField(_("personality"), blank=True)
    interests = models.TextField(_("interests and hobbies"), blank=True)
    experience = models.TextField(_("experience"), blank=True)
    background = models.TextField(_("family and social background"), blank=True)
    preferences = models.TextField(_("preferences"), blank=True)
    taboos = models.TextField(_("taboos"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"])]

    def __str__(self) -> str:
        return self.name


# --- Ratings and the relationship curve (R2.2, R2.3) ------------------------------------------
class AccountFactorScore(models.Model):
    """The hand-given points of one manual factor for one account (kept until changed)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="factor_scores",
                                verbose_name=_("account"))
    factor = models.ForeignKey(RatingFactor, on_delete=models.PROTECT, related_name="+", verbose_name=_("factor"))
    score = models.DecimalField(_("score"), max_digits=6, decimal_places=2)
    scored_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("scored by"))
    scored_at = models.DateTimeField(_("scored at"), default=timezone.now)

    class Meta:
        verbose_name = _("factor score")
        verbose_name_plural = _("factor scores")
        constraints = [models.UniqueConstraint(fields=["account", "factor"], name="factor_score_unique")]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.factor_id}={self.score}"


class AccountRating(models.Model):
    """One rating of one account: never changed, never deleted; the series is the curve."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled re-rating")
        MANUAL = "manual", _("Manual re-rating")
        IMPORT = "import", _("Imported")

    # No index of its own: the index in Meta that starts with the account answers every lookup by it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="ratings", verbose_name=_("account"),
                                db_index=False)
    score = models.DecimalField(_("score"), max_digits=6, decimal_places=2)
    grade = models.CharField(_("grade"), max_length=8)
    previous_grade = models.CharField(_("previous grade"), max_length=8, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    factors = models.JSONField(_("factor scores"), default=dict)  # {factor key: points}
    note = models.TextField(_("note"), blank=True)
    rated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", verbose_name=_("rated by"))
    rated_at = models.DateTimeField(_("rated at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        ordering = ["-rated_at", "-id"]
        # An account's ratings by time (the curve, the 360 page, lookups by account); the grades
        # too, so the business check's scan of a person's rating moves reads no rating rows.
        indexes = [models.Index(fields=["account", "-rated_at", "previous_grade", "grade"],
                                name="rating_account_time_grades")]

    def __str__(self) -> str:
        return f"{self.grade} ({self.score})"


# --- Ownership history and the pool (R1.8, R10.5, R13.1) --------------------------------------
class OwnershipChange(models.Model):
    """Who was responsible for an account, from when (主管人员的变动). Written, never changed."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        REASSIGNED = "reassigned", _("Reassigned")
        CLAIMED = "claimed", _("Claimed from the pool")
        RELEASED = "released", _("Released to the pool")
        RETURNED = "returned", _("Returned to the pool automatically")
        MERGED = "merged", _("Merged")
        IMPORTED = "imported", _("Imported")
        RESTORED = "restored", _("Merge undone")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="ownership_changes",
                                verbose_name=_("account"))
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("from"))
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", verbose_name=_("to"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    reason = models.TextField(_("reason"), blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("ownership change")
        verbose_name_plural = _("ownership changes")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["account", "-at"]), models.Index(fields=["to_user", "kind", "-at"])]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.from_user_id} → {self.to_user_id}"


# --- Attachments (R1.7; upload rules S12) --------------------------------------------------------
def attachment_path(instance: AccountAttachment, filename: str) -> str:
    """A random stored name: the user's file name is kept only as data, never as a path (S12)."""
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class AccountAttachment(SoftDeletable):
    class Kind(models.TextChoices):
        ID_COPY = "id_copy", _("ID copy")
        LICENCE = "licence", _("Licence copy")  # 三证
        AGREEMENT = "agreement", _("Cooperation agreement")
        OTHER = "other", _("Other")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="attachments",
                                verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("uploaded by"))
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


# --- Saved views (R13.6) -------------------------------------------------------------------
class SavedView(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views",
                             verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    params = models.JSONField(_("filters and sort"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="savedview_user_name_unique")]

    def __str__(self) -> str:
        return self.name


# --- Import (R12.1; resumable, S16) ----------------------------------------------------------
class ImportMapping(models.Model):
    """A saved column mapping: {file column header: field}."""

    name = models.CharField(_("name"), max_length=100)
    target = models.CharField(_("record type"), max_length=16, default="account")
    columns = models.JSONField(_("columns"), default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("import mapping")
        verbose_name_plural = _("import mappings")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportRun(models.Model):
    class State(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        MAPPED = "mapped", _("Mapped")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Mode(models.TextChoices):
        SKIP = "skip", _("Skip duplicates")
        UPDATE = "update", _("Update the existing record")
        MERGE = "merge", _("Fill in empty fields of the existing record")

    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    target = models.CharField(_("record type"), max_length=16, default="account")
    columns = models.JSONField(_("columns in the file"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict)
    mode = models.CharField(_("duplicates"), max_length=16, choices=Mode.choices, default=Mode.SKIP)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.UPLOADED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    stats = models.JSONField(_("results"), default=dict)
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                            verbose_name=_("job"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class ImportRowResult(models.Model):
    """What happened to one row: written in the same transaction as the row's records, so a
    resumed import skips exactly the rows already committed (S16)."""

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")
        MERGED = "merged", pgettext_lazy("import row", "Merged")
        SKIPPED = "skipped", _("Skipped (duplicate)")
        INVALID = "invalid", _("Invalid")

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="rows", verbose_name=_("import"))
    row_number = models.PositiveIntegerField(_("row"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                verbose_name=_("account"))
    errors = models.JSONField(_("errors"), default=list)  # [{column, value, message}]

    class Meta:
        verbose_name = _("import row")
        verbose_name_plural = _("import rows")
        ordering = ["run", "row_number"]
        constraints = [models.UniqueConstraint(fields=["run", "row_number"], name="import_row_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.row_number}"


# --- Merges (R12.2; reversible) ------------------------------------------------------------
class MergeRecord(models.Model):
    """Two accounts (or two contacts) made one: what was chosen and moved, to undo it exactly."""

    target = models.CharField(_("record type"), max_length=16, default="account")
    kept_id = models.PositiveBigIntegerField(_("kept record"))
    merged_id = models.PositiveBigIntegerField(_("merged record"))
    choices = models.JSONField(_("field choices"), default=dict)  # {field: "kept" | "merged"}
    before = models.JSONField(_("kept record before"), default=dict)
    moved = models.JSONField(_("moved related records"), default=dict)  # {label: [ids]}
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("when"), default=timezone.now)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("undone by"))

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target", "kept_id"]), models.Index(fields=["target", "merged_id"])]

    def __str__(self) -> str:
        return f"{self.target} {self.merged_id} → {self.kept_id}"
