"""Building cases for the cases and hand-over tests: a case as intake leaves it, and a walk
along the workflow through the real services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from guanxi.sales.services.common import next_code
from guanxi.service.models import Case, CaseCategory, CaseEvent
from guanxi.service.services import cases as services
from guanxi.service.services import sla

S = Case.State


def category(name: str = "交付延误", *, needs_review: bool = False, kind: str = "") -> CaseCategory:
    found, _created = CaseCategory.objects.update_or_create(name=name, defaults={"needs_review": needs_review,
                                                                                  "kind": kind, "active": True})
    return found


def make_case(owner: Any, *, account: Any = None, kind: str = "complaint", title: str = "空调漏水",
              category: CaseCategory | None = None, severity: str = "normal", received_at: dt.datetime | None = None,
              sender_email: str = "", wants_reply: bool = True, **fields: Any) -> Case:
    """A case as intake leaves it: received by ``owner`` (its first responder), SLA timers set."""
    case = Case(code=next_code("case-test", "TS"), kind=kind, title=title,
                description=fields.pop("description", "客户反映安装后空调漏水，地板被泡。"),
                channel=fields.pop("channel", "hotline"), owner=owner, department_id=owner.department_id,
                received_by=owner, received_at=received_at or timezone.now(), account=account, category=category,
                severity=severity, sender_name=fields.pop("sender_name", "张先生"),
                sender_phone=fields.pop("sender_phone", "13800138000"), sender_email=sender_email,
                wants_reply=wants_reply, **fields)
    sla.apply_timers(case)
    case.search_text = case.build_search_text()
    case.save()
    CaseEvent.objects.create(case=case, type=CaseEvent.Type.RECEIVED, actor=owner, to_user=owner,
                             at=case.received_at)
    return case


PATH = (S.ACKNOWLEDGED, S.INVESTIGATING, S.PROPOSED, S.RESOLVED)


def advance(case: Case, actor: Any, until: str) -> Case:
    """Walk ``case`` along the workflow up to ``until`` (through resolved) as its owner, writing
    a proposal and a reply on the way (the category must not need a review)."""
    for to in PATH:
        if case.state == until:
            break
        if to == S.PROPOSED and not case.reply:
            services.reply_set(actor=actor, case=case, proposal="上门更换排水管",
                               reply="我们将于明天上门处理，给您带来不便深表歉意。", expected_version=None)
        services.case_move(actor=actor, case=case, to=to)
    assert case.state == until, case.state
    return case


def fresh(case: Case) -> Case:
    return Case.all_objects.get(pk=case.pk)
