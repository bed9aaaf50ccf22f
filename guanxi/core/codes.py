"""Immutable, never-reused codes (customer codes such as KH-2026-000123)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from guanxi.core.models import CodeSequence


def reserve(name: str, count: int = 1) -> range:
    """Reserve ``count`` consecutive numbers of sequence ``name``; they are never handed out again.

    The counter row is bumped with one UPDATE … SET value = value + n inside the caller's
    transaction, so two writers can never receive the same number.
    """
    with transaction.atomic():
        CodeSequence.objects.get_or_create(name=name)
        CodeSequence.objects.filter(name=name).update(value=F("value") + count)
        end = CodeSequence.objects.get(name=name).value
    return range(end - count + 1, end + 1)


def customer_code(number: int, year: int | None = None, template: str = "KH-{year}-{n:06d}") -> str:
    return template.format(year=year or timezone.localdate().year, n=number)


def next_customer_code() -> str:
    (number,) = reserve("customer")
    return customer_code(number)
