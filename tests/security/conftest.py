"""Fixtures shared by the security suite."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest


@pytest.fixture
def drain(run_queue: Any) -> Any:
    """The root conftest's run_queue (which keeps the test's own connection open)."""
    return run_queue


def fingerprint() -> tuple[str, int]:
    """A hash of every row a write could touch, and the length of the task queue (S3)."""
    from huey.contrib.djhuey import HUEY

    from guanxi.core.models import AccessGrant, AuditEvent, ChangeRequest, Department, Job, User
    from guanxi.customers.models import Account

    rows = (
        list(Account.all_objects.order_by("pk").values()),
        list(AuditEvent.objects.order_by("pk").values()),
        list(ChangeRequest.objects.order_by("pk").values()),
        list(Job.objects.order_by("pk").values()),
        list(AccessGrant.objects.order_by("pk").values()),
        list(User.objects.order_by("pk").values()),
        list(Department.all_objects.order_by("pk").values()),
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest(), len(HUEY)
