"""Accounts (客户): the first owned, approvable, soft-deletable record.

The customer issue grows this into the full customer file; the foundation needs a real
owned record to prove access scoping, approvals, the recycle bin and the API on.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guanxi.core import search
from guanxi.core.models import Approvable, Department, SoftDeletable, Versioned
from guanxi.core.validators import validate_credit_code, validate_mobile, validate_phone


class Account(SoftDeletable, Approvable, Versioned):
    class Kind(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise")
        INDIVIDUAL = "individual", _("Individual")

    code = models.CharField(_("customer code"), max_length=32, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ENTERPRISE)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True,
                                   validators=[validate_credit_code])
    phone = models.CharField(_("phone"), max_length=32, blank=True, validators=[validate_phone])
    region = models.CharField(_("region"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="accounts", verbose_name=_("owner"))
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
            models.Index(fields=["owner", "-id"]),
            models.Index(fields=["department", "-id"]),
        ]

    def __str__(self) -> str:
        return self.name

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
        return {"search_text": search.build(names=[self.name, *contact_names], phones=[self.phone],
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
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"])]

    def __str__(self) -> str:
        return self.name
