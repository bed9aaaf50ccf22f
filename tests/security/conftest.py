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
    """A hash of every row a write could touch, and the length of the task queue (S3).

    Covers the organisation, audit, approvals, jobs, grants and every table of the customer file.
    """
    from huey.contrib.djhuey import HUEY

    from guanxi.core.models import AccessGrant, AuditEvent, ChangeRequest, Department, Job, User
    from guanxi.customers import models as customers

    customer_file = [
        customers.Account.all_objects, customers.Contact.all_objects, customers.Account.tags.through.objects,
        customers.AccountRating.objects, customers.AccountFactorScore.objects, customers.OwnershipChange.objects,
        customers.AccountAttachment.all_objects, customers.MergeRecord.objects, customers.ImportRun.objects,
        customers.ImportRowResult.objects, customers.SavedView.objects, customers.Category.objects,
        customers.Tag.objects, customers.Grade.objects, customers.RatingFactor.objects,
        customers.CustomField.objects, customers.PoolSettings.objects,
    ]
    rows = (
        [list(manager.order_by("pk").values()) for manager in customer_file],
        list(AuditEvent.objects.order_by("pk").values()),
        list(ChangeRequest.objects.order_by("pk").values()),
        list(Job.objects.order_by("pk").values()),
        list(AccessGrant.objects.order_by("pk").values()),
        list(User.objects.order_by("pk").values()),
        list(Department.all_objects.order_by("pk").values()),
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest(), len(HUEY)
