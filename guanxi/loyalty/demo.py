"""The demo company's satisfaction surveys (演示数据: 满意度调查): invitations and answers.

``build_loyalty`` runs after the service demo (``guanxi.service.demo``). For the last twelve
months it sends, as the touchpoint listeners (``services.invitations``) would have, one
invitation per

* **closed case** whose sender wanted a reply (touchpoint ``case_closed``, the case's owner
  responsible),
* **field visit done** (``visit_done``, the technician responsible),
* **delivered order** — a sample of them, about one for every three cases (``order_delivered``,
  the salesperson responsible),

to the survey seeded for that touchpoint (``loyalty/migrations/0002_default_surveys``; a
touchpoint without an active survey gets none). About a third of the case invitations, 45 %
of the visit ones and a quarter of the order ones are answered within days; the rest expired or, for
the last two weeks, still wait. The scores follow the experience: a case that missed its SLA
or was reopened scores lower, field visits score best, and the year improves a little, so
the dashboard's RATER, NPS and CSAT trends have something to show (NPS around +20 to +30,
CSAT around 4). Each response keeps its answers and the figures the dashboard sums, exactly
as ``services.responses.answer`` computes them.

Deterministic (each source draws from its own ``random.Random``), written with bulk inserts
of plain rows (COPY on PostgreSQL) in one transaction, once (``CodeSequence`` ``demo-loyalty``).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

MARKER = "demo-loyalty"
HISTORY_DAYS = 365
ORDER_SHARE = 0.35  # order invitations per demo case
RATES = {"case_closed": 0.32, "visit_done": 0.4, "order_delivered": 0.25}
BASE = {"case_closed": 0.79, "visit_done": 0.84, "order_delivered": 0.78}
OFFSETS = {"reliability": 0.0, "assurance": 0.03, "tangibles": 0.06, "empathy": -0.02, "responsiveness": -0.06}
BATCH = 5_000
CENT = Decimal("0.01")
_Writer = Any


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def scores(rng: random.Random, quality: float, questions: list[tuple[int, str, str]],
           slow: bool = False) -> tuple[dict[int, int], dict[str, Any]]:
    """Scores per question id for a customer whose experience was ``quality`` (0–1), and the
    response's figures (nps, csat, each dimension's average)."""
    answers: dict[int, int] = {}
    by_dimension: dict[str, list[int]] = {}
    figures: dict[str, Any] = {"nps": None, "csat": None}
    for pk, kind, dimension in questions:
        if kind == "rater":
            shift = OFFSETS.get(dimension, 0.0) - (0.12 if slow and dimension == "responsiveness" else 0.0)
            score = _clamp(1 + 4 * (quality + shift) + rng.gauss(0, 0.35), 1, 5)
            by_dimension.setdefault(dimension, []).append(score)
        elif kind == "nps":
            score = _clamp(10 * quality + 0.2 + rng.gauss(0, 1.0), 0, 10)
            figures["nps"] = score if figures["nps"] is None else figures["nps"]
        elif kind == "csat":
            score = _clamp(1 + 4 * (quality + 0.02) + rng.gauss(0, 0.3), 1, 5)
            figures["csat"] = score if figures["csat"] is None else figures["csat"]
        else:
            continue
        answers[pk] = score
    for dimension in OFFSETS:
        values = by_dimension.get(dimension)
        figures[dimension] = ((Decimal(sum(values)) / len(values)).quantize(CENT, rounding=ROUND_HALF_UP)
                              if values else None)
    return answers, figures


def comment_for(rng: random.Random, quality: float) -> str:
    from guanxi.service import demo_texts as tx

    if rng.random() >= 0.35:
        return ""
    pool = tx.COMMENTS_GOOD if quality >= 0.75 else tx.COMMENTS_MIDDLE if quality >= 0.5 else tx.COMMENTS_BAD
    return rng.choice(pool)


def _sources(seed: int, size: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every touchpoint of the year that gets an invitation, as the listeners would address it."""
    from guanxi.sales.models import Order
    from guanxi.service.demo import CASES, demo_rng
    from guanxi.service.models import Case, Visit

    sources: list[dict[str, Any]] = []
    for row in Case.objects.filter(state="closed", wants_reply=True, closed_at__gte=start, closed_at__lt=end).order_by(
            "pk").values("pk", "code", "closed_at", "account_id", "contact_id", "contact__name", "contact__mobile",
                         "contact__email", "sender_name", "sender_email", "sender_phone", "owner_id",
                         "department_id", "resolution_breached", "response_breached", "reopen_count", "severity",
                         "kind"):
        penalty = (0.22 * row["resolution_breached"] + 0.12 * row["response_breached"]
                   + 0.15 * (row["reopen_count"] > 0) + 0.05 * (row["severity"] in ("high", "critical"))
                   + 0.03 * (row["kind"] == "complaint") - 0.05 * (row["kind"] == "suggestion"))
        sources.append({
            "touchpoint": "case_closed", "source": f"service.case:{row['pk']}", "key": row["code"],
            "at": row["closed_at"],
            "account_id": row["account_id"], "contact_id": row["contact_id"],
            "recipient_name": row["contact__name"] or row["sender_name"],
            "email": row["contact__email"] or row["sender_email"],
            "phone": row["contact__mobile"] or row["sender_phone"], "owner_id": row["owner_id"],
            "department_id": row["department_id"], "penalty": penalty, "slow": row["response_breached"]})
    for row in Visit.objects.filter(state__in=("done", "confirmed"), finished_at__gte=start, finished_at__lt=end,
                                    case__wants_reply=True, case__deleted_at__isnull=True).order_by("pk").values(
            "pk", "case__code", "scheduled_start", "finished_at", "case__account_id", "case__contact_id", "case__contact__name",
            "case__contact__mobile", "case__contact__email", "case__sender_name", "case__sender_email",
            "case__sender_phone", "technician_id", "technician__department_id"):
        sources.append({
            "touchpoint": "visit_done", "source": f"service.visit:{row['pk']}",
            "key": f"{row['case__code']}@{row['scheduled_start']:%Y%m%d%H%M}",
            "at": row["finished_at"] + timedelta(minutes=30), "account_id": row["case__account_id"],
            "contact_id": row["case__contact_id"],
            "recipient_name": row["case__contact__name"] or row["case__sender_name"],
            "email": row["case__contact__email"] or row["case__sender_email"],
            "phone": row["case__contact__mobile"] or row["case__sender_phone"], "owner_id": row["technician_id"],
            "department_id": row["technician__department_id"], "penalty": 0.0, "slow": False})
    delivered = list(Order.objects.filter(state="delivered", delivered_on__gte=start.date(),
                                          delivered_on__lt=end.date()).order_by("pk").values_list("pk", flat=True))
    wanted = min(len(delivered), int(CASES[size] * ORDER_SHARE))
    chosen = sorted(demo_rng(seed, "order-surveys").sample(delivered, wanted))
    tz = timezone.get_default_timezone()
    for first in range(0, len(chosen), BATCH):
        for row in Order.objects.filter(pk__in=chosen[first:first + BATCH]).order_by("pk").values(
                "pk", "code", "delivered_on", "account_id", "contact_id", "contact__name", "contact__mobile",
                "contact__email", "account__name", "account__email", "account__phone", "owner_id",
                "owner__department_id"):
            sources.append({
                "touchpoint": "order_delivered", "source": f"sales.order:{row['pk']}", "key": row["code"],
                "at": datetime.combine(row["delivered_on"], dtime(17, 30), tzinfo=tz),
                "account_id": row["account_id"], "contact_id": row["contact_id"],
                "recipient_name": row["contact__name"] or row["account__name"],
                "email": row["contact__email"] or ("" if row["contact_id"] else row["account__email"] or ""),
                "phone": row["contact__mobile"] or ("" if row["contact_id"] else row["account__phone"] or ""),
                "owner_id": row["owner_id"], "department_id": row["owner__department_id"], "penalty": 0.0,
                "slow": False})
    return [s for s in sources if s["at"] < end]


def build_loyalty(*, size: str, seed: int, now: datetime, stdout: _Writer | None = None) -> bool:
    """Write the year's survey invitations and answers unless they are there; False when there
    was nothing to do (or the service demo is not built yet)."""
    from guanxi.core.demo_load import Table, analyze, bulk_load, bulk_session, next_ids, reset_sequences
    from guanxi.core.models import CodeSequence
    from guanxi.demo import _anchor
    from guanxi.loyalty.models import Answer, Invitation, Question, Response, Survey
    from guanxi.service.demo import DONE as SERVICE_DONE
    from guanxi.service.demo import demo_rng, fake_hash

    if CodeSequence.objects.filter(name=MARKER).exists() or not CodeSequence.objects.filter(
            name=SERVICE_DONE).exists():
        return False
    started = time.perf_counter()
    tz = timezone.get_default_timezone()
    end = datetime.combine(_anchor(now), dtime(0), tzinfo=tz)
    start = end - timedelta(days=HISTORY_DAYS)
    surveys: dict[str, tuple[Survey, list[tuple[int, str, str]], int | None]] = {}
    for survey in Survey.objects.filter(active=True).exclude(touchpoint="manual").order_by("pk"):
        questions = list(Question.objects.filter(survey=survey).order_by("position", "pk").values_list(
            "pk", "type", "dimension"))
        text = next((pk for pk, kind, _d in questions if kind == "text"), None)
        if questions:
            surveys.setdefault(survey.touchpoint, (survey, questions, text))
    if stdout is not None:
        stdout.write("正在生成满意度调查 / building satisfaction surveys …\n")
    counts = {"invitations": 0, "responses": 0, "answers": 0}
    bulk_session()
    with bulk_load(Invitation, Response, Answer), transaction.atomic():
        sources = [s for s in _sources(seed, size, start, end) if s["touchpoint"] in surveys]
        sources.sort(key=lambda s: (s["at"], s["touchpoint"], s["key"]))
        ids = next_ids(Invitation, Response)
        for first in range(0, len(sources), BATCH):
            tables = {"invitations": Table(Invitation, with_id=True), "responses": Table(Response, with_id=True),
                      "answers": Table(Answer)}
            for s in sources[first:first + BATCH]:
                survey, questions, text_question = surveys[s["touchpoint"]]
                rng = demo_rng(seed, s["touchpoint"], s["key"])  # codes, not ids: the same in every database
                created = s["at"]
                expires = created + timedelta(days=survey.expires_days)
                age = (created - start) / (end - start)
                quality = min(1.0, max(0.0, BASE[s["touchpoint"]] - s["penalty"] + 0.06 * age + rng.gauss(0, 0.13)))
                answered_at = None
                if rng.random() < RATES[s["touchpoint"]] * (0.8 + 0.4 * quality):
                    moment = created + timedelta(hours=min(rng.expovariate(1 / 30), 24 * survey.expires_days - 1))
                    answered_at = moment if moment < min(expires, end) else None
                email = (s["email"] or "")[:254]
                invitation = {
                    "id": ids["Invitation"], "survey_id": survey.pk, "touchpoint": s["touchpoint"],
                    "source": s["source"], "account_id": s["account_id"], "contact_id": s["contact_id"],
                    "recipient_name": (s["recipient_name"] or "")[:100], "email": email,
                    "phone": (s["phone"] or "")[:40], "token_hash": fake_hash(seed, s["source"]),
                    "owner_id": s["owner_id"], "department_id": s["department_id"], "created_at": created,
                    "expires_at": expires, "answered_at": answered_at,
                    "mailed_at": created + timedelta(minutes=1) if email else None, "sent_by_id": None}
                ids["Invitation"] += 1
                tables["invitations"].add(invitation)
                if answered_at is None:
                    continue
                by_question, figures = scores(rng, quality, questions, s["slow"])
                comment = comment_for(rng, quality)
                response_id = ids["Response"]
                ids["Response"] += 1
                tables["responses"].add({
                    "id": response_id, "invitation_id": invitation["id"], "survey_id": survey.pk,
                    "touchpoint": s["touchpoint"], "account_id": s["account_id"], "owner_id": s["owner_id"],
                    "department_id": s["department_id"], "submitted_at": answered_at, "comment": comment, **figures})
                for pk, score in by_question.items():
                    tables["answers"].add({"response_id": response_id, "question_id": pk, "score": score, "text": ""})
                if comment and text_question is not None:
                    tables["answers"].add({"response_id": response_id, "question_id": text_question, "score": None,
                                           "text": comment})
            for name, table in tables.items():
                counts[name] += table.flush()
        reset_sequences(Invitation, Response)
        CodeSequence.objects.get_or_create(name=MARKER)
    analyze(Invitation, Response, Answer)
    if stdout is not None:
        stdout.write(f"  {counts['invitations']:,} invitations, {counts['responses']:,} responses, "
                     f"{counts['answers']:,} answers; {time.perf_counter() - started:.1f} s\n")
    return True
