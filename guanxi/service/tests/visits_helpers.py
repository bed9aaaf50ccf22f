"""Helpers of the field-visit and improvement tests: a customer, cases received through intake,
slots in Shanghai time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from guanxi.service.models import Case
from guanxi.service.services import intake

TZ = timezone.get_default_timezone()
CUSTOMER = "苏州精工机械有限公司"
ADDRESS = "苏州市工业园区星湖街88号"


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=TZ)


def days_ahead(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """A local time ``days`` days from today (the future, as scheduling expects)."""
    day = timezone.localdate() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def receive(actor: Any, *, kind: str = "ticket", title: str = "注塑机液压系统漏油", company: str = CUSTOMER,
            email: str = "wang.jun@jinggong.example", **fields: Any) -> Case:
    """A case received by ``actor`` through A's intake; the sender's company names the customer."""
    fields.setdefault("ticket_type", "repair" if kind == "ticket" else "")
    return intake.case_receive(actor=actor, kind=kind, title=title, description="客户来电：设备运行时液压油泄漏，需要上门维修。",
                               channel="hotline", sender_name="王军", sender_company=company,
                               sender_phone="13912345678", sender_email=email, **fields)
