"""Fixtures shared by the security suite."""

from __future__ import annotations

import functools
import hashlib
import weakref
from typing import Any

import pytest
from django.db import connection


@pytest.fixture
def drain(run_queue: Any) -> Any:
    """The root conftest's run_queue (which keeps the test's own connection open)."""
    return run_queue


def fingerprint() -> tuple[str, int]:
    """A hash of every row a write could touch, and the length of the task queue (S3).

    Covers the organisation, audit, approvals, jobs, grants, notifications, every table of the
    customer file, every table of contact and follow-up (the activities app, its
    many-to-many tables included), every table of sales (the sales app, likewise), and every
    table of service and of satisfaction surveys (the service and loyalty apps), and the mail outbox.
    """
    from huey.contrib.djhuey import HUEY

    from guanxi.activities import models as activities
    from guanxi.core.models import AccessGrant, AuditEvent, ChangeRequest, Department, Job, Notification, Outbox, User
    from guanxi.customers import models as customers
    from guanxi.loyalty import models as loyalty
    from guanxi.sales import models as sales
    from guanxi.service import models as service

    customer_file = [
        customers.Account.all_objects, customers.Contact.all_objects, customers.Account.tags.through.objects,
        customers.AccountRating.objects, customers.AccountFactorScore.objects, customers.OwnershipChange.objects,
        customers.AccountAttachment.all_objects, customers.MergeRecord.objects, customers.ImportRun.objects,
        customers.ImportRowResult.objects, customers.SavedView.objects, customers.Category.objects,
        customers.Tag.objects, customers.Grade.objects, customers.RatingFactor.objects,
        customers.CustomField.objects, customers.PoolSettings.objects,
    ]
    activity_file = [
        activities.Interaction.all_objects, activities.Interaction.our_people.through.objects,
        activities.Interaction.their_people.through.objects, activities.Interaction.attachments.through.objects,
        activities.CadenceRule.objects, activities.FollowUp.all_objects, activities.GreetingTemplate.objects,
        activities.CarePlan.all_objects, activities.Support.all_objects, activities.Project.all_objects,
        activities.Phase.objects, activities.CostChange.objects, activities.CalendarFeed.objects,
        activities.DeskPreference.objects, activities.DigestSent.objects,
    ]
    sales_file = [
        sales.ExchangeRate.objects, sales.Product.all_objects, sales.PriceList.all_objects,
        sales.PriceListItem.objects, sales.Lead.all_objects, sales.Lead.products.through.objects,
        sales.Pipeline.objects, sales.Stage.objects, sales.LossReason.objects, sales.Opportunity.all_objects,
        sales.Opportunity.products.through.objects, sales.StageChange.objects, sales.Quote.all_objects,
        sales.QuoteLine.objects, sales.QuoteRevision.objects, sales.Order.all_objects, sales.OrderLine.objects,
        sales.Contract.all_objects, sales.ContractStep.objects, sales.PaymentPlan.objects, sales.Payment.all_objects,
        sales.AccountSales.objects, sales.RebateRule.objects, sales.RebateDeduction.all_objects,
        sales.RebateStatement.objects, sales.SalesTarget.objects, sales.SalesMonth.objects,
        sales.BoardFigures.objects,
    ]
    service_file = [
        service.CaseCategory.objects, service.SlaPolicy.objects, service.ServiceCalendar.objects,
        service.Holiday.objects, service.FeedbackForm.objects, service.Improvement.all_objects,
        service.ImprovementMail.objects, service.Case.all_objects, service.CaseEvent.objects,
        service.HandlingStep.objects, service.Handover.objects, service.CaseAttachment.all_objects,
        service.Visit.all_objects, loyalty.Survey.all_objects, loyalty.Question.objects, loyalty.Invitation.objects,
        loyalty.Response.objects, loyalty.Answer.objects,
    ]
    others = [Notification.objects, AuditEvent.objects, ChangeRequest.objects, Job.objects, AccessGrant.objects,
              User.objects, Department.all_objects, Outbox.objects]
    sql = _digest_sql(tuple(manager.model._meta for manager in (
        *customer_file, *activity_file, *sales_file, *service_file, *others)))
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Planning the query's ninety-odd parts took ~4 of its ~9 ms: it is planned once per
            # connection (a prepared statement outlives the tests' rolled-back transactions).
            if connection.connection not in _prepared:
                cursor.execute(f"PREPARE guanxi_fingerprint AS {sql}")
                _prepared.add(connection.connection)
            cursor.execute("EXECUTE guanxi_fingerprint")
        else:
            cursor.execute(sql)
        digests = cursor.fetchall()
    return hashlib.sha256(repr(digests).encode()).hexdigest(), len(HUEY)


# The database connections that hold the prepared fingerprint query.
_prepared: weakref.WeakSet[Any] = weakref.WeakSet()


@functools.cache
def _digest_sql(tables: tuple[Any, ...]) -> str:
    """One query digesting every table (soft-deleted rows too) in a stable row order, built once
    per run. Sixty-odd queries a call (or, on SQLite, every row made a dict in Python) made the
    matrices' refused writes, which call ``fingerprint`` twice each, the slowest part of CI."""
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        digest = "SELECT {n} AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM {table} x"
        parts = [digest.format(n=n, table=qn(meta.db_table)) for n, meta in enumerate(tables)]
    else:
        # SQLite has no row-to-text: each row is its columns' quote()d values, in primary-key order.
        parts = []
        for n, meta in enumerate(tables):
            row = " || ',' || ".join(f"quote({qn(field.column)})" for field in meta.concrete_fields)
            parts.append(f"SELECT {n} AS n, (SELECT group_concat(r, char(30)) FROM (SELECT {row} AS r "  # noqa: S608
                         f"FROM {qn(meta.db_table)} ORDER BY {qn(meta.pk.column)})) AS h")
    return f"SELECT n, h FROM ({' UNION ALL '.join(parts)}) digests ORDER BY n"  # noqa: S608
