"""Satisfaction surveys (R6.1): RATER dimensions, NPS and CSAT, per touchpoint.

A **survey** is a template of questions; each scored question belongs to one RATER dimension
(reliability, assurance, tangibles, empathy, responsiveness) or asks the NPS (0–10) or CSAT
(1–5) question. A survey is sent for a **touchpoint** — a case closed, a field visit done, an
order delivered, or by hand — as an **invitation**: a personal link with a random token (only
its SHA-256 is stored) that expires. The customer's **response** keeps each answer and, beside
them, the figures the dashboard sums (NPS, CSAT, one average per dimension), so the dashboard
by dimension, touchpoint, team and period is one aggregate query.

Invitations and responses carry the account and the responsible person (``owner`` and the
owner's ``department``): they are scoped like the cases and deals they came from.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import Department, SoftDeletable, Versioned
from guanxi.customers.models import Account, Contact


class Dimension(models.TextChoices):
    RELIABILITY = "reliability", _("Reliability")  # 可靠性
    ASSURANCE = "assurance", _("Assurance")  # 保证性
    TANGIBLES = "tangibles", _("Tangibles")  # 有形性
    EMPATHY = "empathy", _("Empathy")  # 移情性
    RESPONSIVENESS = "responsiveness", _("Responsiveness")  # 响应性


class Touchpoint(models.TextChoices):
    CASE_CLOSED = "case_closed", _("Case closed")
    VISIT_DONE = "visit_done", _("Field visit done")
    ORDER_DELIVERED = "order_delivered", _("Order delivered")
    MANUAL = "manual", _("Sent by hand")


class Survey(SoftDeletable, Versioned):
    """A questionnaire; at most one active survey per automatic touchpoint."""

    name = models.CharField(_("name"), max_length=200)
    touchpoint = models.CharField(_("sent after"), max_length=16, choices=Touchpoint.choices,
                                  default=Touchpoint.MANUAL)
    active = models.BooleanField(_("active"), default=True)
    intro = models.TextField(_("introduction"), blank=True)
    thanks = models.TextField(_("thank-you text"), blank=True)
    expires_days = models.PositiveSmallIntegerField(_("link valid for (days)"), default=14)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(
            fields=["touchpoint"], condition=Q(active=True, deleted_at__isnull=True) & ~Q(touchpoint="manual"),
            name="survey_one_active_per_touchpoint")]

    def __str__(self) -> str:
        return self.name


class Question(models.Model):
    class Type(models.TextChoices):
        RATER = "rater", _("Score 1–5 (RATER)")
        NPS = "nps", _("Recommend 0–10 (NPS)")
        CSAT = "csat", _("Satisfaction 1–5 (CSAT)")
        TEXT = "text", _("Free text")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions", verbose_name=_("survey"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    type = models.CharField(_("type"), max_length=8, choices=Type.choices)
    dimension = models.CharField(_("dimension"), max_length=16, choices=Dimension.choices, blank=True)
    text = models.CharField(_("question"), max_length=300)
    required = models.BooleanField(_("required"), default=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["survey_id", "position", "id"]

    def __str__(self) -> str:
        return self.text


class Invitation(models.Model):
    """One customer's personal link to one survey, for one touchpoint."""

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="invitations",
                               verbose_name=_("survey"))
    touchpoint = models.CharField(_("touchpoint"), max_length=16, choices=Touchpoint.choices)
    # Where it came from: "service.case:12", "service.visit:7", "sales.order:3" (one per source).
    source = models.CharField(_("source"), max_length=64)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="survey_invitations", verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("contact"))
    recipient_name = models.CharField(_("recipient"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("responsible"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("department"))
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    # When the link went out by e-mail (empty: not mailed — no address, or passed on by hand).
    mailed_at = models.DateTimeField(_("e-mailed at"), null=True, blank=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", verbose_name=_("sent by"))

    class Meta:
        verbose_name = _("survey invitation")
        verbose_name_plural = _("survey invitations")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["survey", "source"], name="invitation_once_per_source")]
        indexes = [models.Index(fields=["account", "-id"], name="invitation_account")]

    def __str__(self) -> str:
        return f"{self.survey_id} {self.source}"


class Response(models.Model):
    """A submitted questionnaire, with the figures the dashboard sums."""

    invitation = models.OneToOneField(Invitation, on_delete=models.PROTECT, related_name="response",
                                      verbose_name=_("invitation"))
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses", verbose_name=_("survey"))
    touchpoint = models.CharField(_("touchpoint"), max_length=16, choices=Touchpoint.choices)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="survey_responses", verbose_name=_("account"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("responsible"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("department"))
    submitted_at = models.DateTimeField(_("answered at"), default=timezone.now)
    nps = models.PositiveSmallIntegerField(_("NPS score (0–10)"), null=True, blank=True)
    csat = models.PositiveSmallIntegerField(_("CSAT (1–5)"), null=True, blank=True)
    reliability = models.DecimalField(_("reliability"), max_digits=4, decimal_places=2, null=True, blank=True)
    assurance = models.DecimalField(_("assurance"), max_digits=4, decimal_places=2, null=True, blank=True)
    tangibles = models.DecimalField(_("tangibles"), max_digits=4, decimal_places=2, null=True, blank=True)
    empathy = models.DecimalField(_("empathy"), max_digits=4, decimal_places=2, null=True, blank=True)
    responsiveness = models.DecimalField(_("responsiveness"), max_digits=4, decimal_places=2, null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["submitted_at"], name="response_submitted"),
            models.Index(fields=["account", "-submitted_at"], name="response_account"),
            models.Index(fields=["department", "submitted_at"], name="response_department"),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id} {self.submitted_at:%Y-%m-%d}"


class Answer(models.Model):
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers",
                                 verbose_name=_("response"))
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+", verbose_name=_("question"))
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    text = models.TextField(_("answer"), blank=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["response_id", "question__position"]
        constraints = [models.UniqueConstraint(fields=["response", "question"], name="answer_once")]

    def __str__(self) -> str:
        return f"{self.question_id}={self.score if self.score is not None else self.text[:20]}"
