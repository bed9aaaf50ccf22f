"""Accounts (客户): the first owned, approvable, soft-deletable record.

The customer issue grows this into the full customer file; the foundation needs a real
owned record to prove access scoping, approvals, the recycle bin and the API on.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import Approvable, Department, SoftDeletable, Versioned
from guanxi.core.validators import validate_credit_code, validate_phone


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
