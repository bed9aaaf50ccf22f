"""Helpers of the SLA tests: cases received at a chosen time, the clock in Shanghai."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from guanxi.service.models import Case
from guanxi.service.services import sla

TZ = timezone.get_default_timezone()
_numbers = itertools.count(1)
MONDAY = dt.date(2026, 3, 2)  # an ordinary week: no holiday from 2 to 13 March 2026


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=TZ)


def make_case(owner: Any, *, received_at: dt.datetime, severity: str = "normal", category: Any = None,
              account: Any = None, **fields: Any) -> Case:
    """A case as intake leaves it: owned, in the owner's department, timed by its policy."""
    case = Case(code=f"T-SLA-{next(_numbers):06d}", title=fields.pop("title", "产品有异响"),
                description="客户反映设备运行时有异响。", owner=owner, department_id=owner.department_id,
                received_by=owner, received_at=received_at, severity=severity, category=category, account=account,
                **fields)
    sla.apply_timers(case)
    case.save()
    return case
