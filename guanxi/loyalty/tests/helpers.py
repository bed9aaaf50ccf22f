"""What the survey tests share: the seeded surveys, a customer with a contact, the touchpoints
driven through their own services (A's intake and B's workflow for a case, D's visit report,
the sales service for an order), an invitation with its raw token, and the answers of a survey."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from guanxi.customers.models import Account, Contact
from guanxi.loyalty.models import Invitation, Question, Survey, Touchpoint
from guanxi.loyalty.services import invitations, responses


def seeded(touchpoint: str) -> Survey:
    """The survey the data migration made active for ``touchpoint``."""
    return Survey.objects.get(touchpoint=touchpoint, active=True)


def customer(account_factory: Any, owner: Any, *, email: str = "li.lei@example.cn", **fields: Any
             ) -> tuple[Account, Contact]:
    account = account_factory(owner, **fields)
    contact = Contact.objects.create(account=account, name="李雷", email=email, mobile="13800138000",
                                     created_by=owner)
    return account, contact


def closed_case(actor: Any, account: Account | None = None, contact: Contact | None = None, **fields: Any) -> Any:
    """A case received by ``actor`` (its owner) and taken to closed through B's workflow."""
    from guanxi.service.services import cases, intake

    fields.setdefault("sender_name", "韩梅梅")
    case = intake.case_receive(actor=actor, kind="complaint", title="设备噪音大", description="新买的空压机噪音很大。",
                               channel="hotline", account=account, contact=contact, **fields)
    for to in ("acknowledged", "investigating"):
        case = cases.case_move(actor=actor, case=case, to=to)
    case = cases.reply_set(actor=actor, case=case, proposal="上门更换减震垫。", reply="已为您更换减震垫，请试用。",
                           expected_version=case.version)
    case = cases.case_move(actor=actor, case=case, to="proposed")
    case = cases.case_move(actor=actor, case=case, to="resolved")
    case = cases.case_move(actor=actor, case=case, to="confirmed", note="客户电话确认")
    return cases.case_move(actor=actor, case=case, to="closed")


def delivered_order(actor: Any, account: Account, contact: Contact | None = None) -> Any:
    """An order of ``account`` taken to delivered through the sales service."""
    from guanxi.sales.services import orders

    order = orders.order_create(actor=actor, account=account, contact=contact,
                                lines=[{"name": "空压机", "quantity": "1", "unit_price": "12000"}])
    for to in ("confirmed", "shipped", "delivered"):
        order = orders.order_move(actor=actor, order=order, to=to)
    return order


def done_visit(owner: Any, technician: Any, case: Any) -> Any:
    """A visit on ``case`` (owned by ``owner``) reported done by ``technician`` through D's service."""
    from guanxi.service.services import visits

    start = timezone.now() - dt.timedelta(hours=3)
    visit = visits.visit_schedule(actor=owner, case=case, purpose="repair", technician=technician, start=start,
                                  end=start + dt.timedelta(hours=2))
    return visits.visit_report(actor=technician, visit=visit, report="更换了减震垫，试机正常。",
                               arrived_at=start + dt.timedelta(minutes=10), finished_at=start + dt.timedelta(hours=1),
                               expected_version=visit.version)


def sent(survey: Survey, *, account: Account | None = None, contact: Contact | None = None, owner: Any = None,
         source: str = "test:1", email: str = "", touchpoint: str = Touchpoint.CASE_CLOSED) -> tuple[Invitation, str]:
    """An automatic invitation (as a touchpoint's listener makes it) with its raw token."""
    return invitations.invite(actor=None, survey=survey, touchpoint=touchpoint, source=source, account=account,
                              contact=contact, owner=owner, email=email,
                              recipient_name=contact.name if contact else "")


def full_answers(survey: Survey, *, rater: int = 4, nps: int = 9, csat: int = 5, text: str = "") -> dict[str, Any]:
    """An answer to every question of ``survey`` (``q<id>`` keys, as the public form posts them)."""
    out: dict[str, Any] = {}
    for question in Question.objects.filter(survey=survey):
        value: Any = {Question.Type.RATER: rater, Question.Type.NPS: nps, Question.Type.CSAT: csat}.get(
            question.type, text)
        out[f"q{question.pk}"] = value
    return out


def answered(survey: Survey, **kwargs: Any) -> Any:
    """A response to a fresh invitation of ``survey`` (``sent`` keywords and ``full_answers``'s)."""
    scores = {k: kwargs.pop(k) for k in ("rater", "nps", "csat", "text") if k in kwargs}
    comment = kwargs.pop("comment", "")
    _invitation, raw = sent(survey, **kwargs)
    return responses.answer(token=raw, answers=full_answers(survey, **scores), comment=comment)


D = Decimal
