"""Customer-file writes: classification. Every one: one transaction, access checked first, audited.

The rating engine (R2.2, R2.3)
------------------------------
An account's score is the weighted mean of the points (0–100) of the *active* rating
factors with a weight above zero:

* a **rule** factor gets its points from a built-in rule (``RULES`` below) reading the
  account's own data: its contacts' relationship depth, its credit standing, how complete
  its profile is, how important it is to us;
* a **manual** factor gets the points a person gave it (``AccountFactorScore``). A manual
  factor nobody has scored yet is **left out of the weighting** (the other factors' weights
  count in full), so an unscored account is rated on what is known rather than pulled
  towards an invented middle. Its entry in the rating's ``factors`` is ``null``.

The grade is the one with the highest minimum score the score reaches; a score below every
threshold gets the lowest grade. Every rating is kept (``AccountRating``), which is what the
account page draws as the relationship curve. ``Account.grade/score`` are derived copies of
the latest rating and ``Account.rated_at`` says since when the account has had them: written
with a plain UPDATE (no version bump, like the search text) only when the grade or the score
moves, and audited only when the grade moves. A rating that finds both unchanged adds its row
to the series (which keeps its date) and leaves the account row alone: the monthly re-rating
of a company whose accounts mostly stay where they were writes few account rows, and each
account row written costs an entry in every index of the accounts table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.core import audit, context, jobs
from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent, Job
from guanxi.core.permissions import has_perm
from guanxi.core.services.records import apply_update
from guanxi.customers.models import (
    Account,
    AccountFactorScore,
    AccountRating,
    Category,
    Contact,
    Grade,
    RatingFactor,
)
from guanxi.customers.selectors import account_scope

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
RERATE_JOB = "customers.rerate"
CHUNK = 2_000


def _points(value: Any) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# --- Rules: name → fn(account) → 0–100 points ---------------------------------------------------
@dataclass(frozen=True)
class Rule:
    label: Any  # lazy translated text, shown where an administrator picks the rule
    fn: Callable[[Account], float]
    # Optional: load what ``fn`` needs for many accounts at once (sets attributes on them),
    # so the bulk re-rating reads contacts once per chunk instead of once per account.
    prefetch: Callable[[list[Account]], None] | None = None


RULES: dict[str, Rule] = {}


def rule(name: str, label: Any, prefetch: Callable[[list[Account]], None] | None = None
         ) -> Callable[[Callable[[Account], float]], Callable[[Account], float]]:
    def register(fn: Callable[[Account], float]) -> Callable[[Account], float]:
        RULES[name] = Rule(label=label, fn=fn, prefetch=prefetch)
        return fn

    return register


def rule_choices() -> list[tuple[str, str]]:
    return [(name, str(r.label)) for name, r in RULES.items()]


DEPTH_POINTS: dict[str, float] = {
    Contact.Depth.PASSER_BY: 10.0,
    Contact.Depth.ACQUAINTANCE: 40.0,
    Contact.Depth.FRIEND: 75.0,
    Contact.Depth.CONFIDANT: 100.0,
}


def _id_range(accounts: list[Account]) -> dict[str, int]:
    """A chunk's accounts as an id range: cheaper to send than thousands of ids (extra rows are ignored)."""
    ids = [a.pk for a in accounts]
    return {"account_id__gte": min(ids), "account_id__lte": max(ids)}


def _prefetch_depths(accounts: list[Account]) -> None:
    depths: dict[int, list[str]] = defaultdict(list)
    rows = Contact.objects.filter(**_id_range(accounts)).values_list("account_id", "depth")
    for account_id, depth in rows:
        depths[account_id].append(depth)
    for account in accounts:
        account._rating_depths = depths.get(account.pk, [])  # type: ignore[attr-defined]


@rule("contact_depth", gettext_lazy("Relationship depth of the contacts (deepest 60%, average 40%)"),
      prefetch=_prefetch_depths)
def contact_depth(account: Account) -> float:
    depths = getattr(account, "_rating_depths", None)
    if depths is None:
        depths = list(Contact.objects.filter(account_id=account.pk).values_list("depth", flat=True))
    points = [DEPTH_POINTS.get(d, 0.0) for d in depths]
    if not points:
        return 0.0
    return 0.6 * max(points) + 0.4 * sum(points) / len(points)


CREDIT_POINTS: dict[str, float] = {
    Account.CreditStanding.EXCELLENT: 100.0,
    Account.CreditStanding.GOOD: 80.0,
    Account.CreditStanding.FAIR: 55.0,
    Account.CreditStanding.POOR: 15.0,
}


@rule("credit_standing", gettext_lazy("Credit standing in the profile"))
def credit_standing(account: Account) -> float:
    return CREDIT_POINTS.get(account.credit_standing, 40.0)  # unknown or not entered


# The profile fields whose filling-in the completeness rule counts.
PROFILE_FIELDS = ("credit_code", "phone", "region", "address", "email", "website", "size", "operating_status",
                  "founded_on", "industry", "business_scope", "credit_standing", "importance", "category_id")


@rule("profile_completeness", gettext_lazy("Share of the main profile fields filled in"))
def profile_completeness(account: Account) -> float:
    filled = sum(1 for name in PROFILE_FIELDS if getattr(account, name) not in (None, ""))
    return 100.0 * filled / len(PROFILE_FIELDS)


IMPORTANCE_POINTS: dict[str, float] = {
    Account.Importance.KEY: 100.0,
    Account.Importance.IMPORTANT: 70.0,
    Account.Importance.GENERAL: 40.0,
}


@rule("importance", gettext_lazy("Importance to us in the profile"))
def importance(account: Account) -> float:
    return IMPORTANCE_POINTS.get(account.importance, 30.0)


# The account columns the rules read (the bulk job loads only these).
RULE_COLUMNS = ("id", "name", "grade", "score", "credit_standing", "importance", *PROFILE_FIELDS)


# --- The engine ------------------------------------------------------------------------------------
def active_factors() -> list[RatingFactor]:
    return [f for f in RatingFactor.objects.filter(active=True).order_by("sort_order", "key") if f.weight > 0]


def grades_by_threshold() -> list[Grade]:
    return list(Grade.objects.order_by("-min_score", "sort_order"))


def grade_for(score: Decimal, grades: list[Grade]) -> str:
    """The grade whose threshold ``score`` reaches, highest first; below all: the lowest grade."""
    for grade in grades:
        if score >= grade.min_score:
            return grade.code
    return grades[-1].code if grades else ""


def compute(account: Account, factors: list[RatingFactor], manual: dict[int, Decimal]
            ) -> tuple[Decimal, dict[str, float | None]]:
    """Return (score, {factor key: points or None}) for one account.

    ``manual`` maps factor id → the hand score of this account. Rule factors whose rule is
    unknown (removed from the code) count like an unscored manual factor: left out.
    """
    total = Decimal(0)
    weights = Decimal(0)
    detail: dict[str, float | None] = {}
    for factor in factors:
        points: Decimal | None
        if factor.method == RatingFactor.Method.RULE:
            found = RULES.get(factor.rule)
            points = _points(min(100.0, max(0.0, found.fn(account)))) if found else None
        else:
            points = manual.get(factor.pk)
        detail[factor.key] = float(points) if points is not None else None
        if points is not None:
            total += points * factor.weight
            weights += factor.weight
    score = _points(total / weights) if weights else Decimal("0.00")
    return score, detail


def _rate_one(*, actor: Any, account: Account, kind: str, note: str) -> AccountRating:
    factors = active_factors()
    if not factors:
        raise Invalid(_("No active rating factor has a weight: set up the rating factors first."))
    grades = grades_by_threshold()
    if not grades:
        raise Invalid(_("No grades are defined: set up the grades first."))
    manual = dict(AccountFactorScore.objects.filter(account=account).values_list("factor_id", "score"))
    score, detail = compute(account, factors, manual)
    grade = grade_for(score, grades)
    now = timezone.now()
    previous = account.grade
    rating = AccountRating.objects.create(
        account=account, score=score, grade=grade, previous_grade=previous, kind=kind, factors=detail,
        note=note.strip(), rated_by=actor if getattr(actor, "is_authenticated", False) else None, rated_at=now)
    # Only a move is written to the account (what the database has, not what was read).
    if Account.all_objects.filter(pk=account.pk).exclude(grade=grade, score=score).update(
            grade=grade, score=score, rated_at=now):
        account.rated_at = now
    old_score = account.score
    account.grade, account.score = grade, score
    if grade != previous:
        audit.record(actor=actor, action="rate", obj=account,
                     changes={"grade": [previous, grade], "score": [audit.serialise(old_score), str(score)]},
                     note=note.strip())
    return rating


def _check_visible(actor: Any, account: Account) -> None:
    if not account_scope(actor).filter(pk=account.pk).exists():
        raise NotFound()


@transaction.atomic
def account_rate(*, actor: Any, account: Account, kind: str = AccountRating.Kind.MANUAL,
                 note: str = "") -> AccountRating:
    """Re-rate one account now (the "Re-rate now" button, the API's POST …/ratings)."""
    if not has_perm(actor, "account.rate"):
        raise Forbidden()
    _check_visible(actor, account)
    if kind not in AccountRating.Kind.values:
        raise Invalid(errors={"kind": [_("Choose a valid kind of rating.")]})
    if len(note) > 2000:
        raise Invalid(errors={"note": [_("At most %(n)d characters.") % {"n": 2000}]})
    return _rate_one(actor=actor, account=account, kind=kind, note=note)


def _parse_score(value: Any) -> Decimal:
    try:
        score = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid(errors={"score": [_("Enter a number from 0 to 100.")]})
    if not score.is_finite() or score < 0 or score > HUNDRED:
        raise Invalid(errors={"score": [_("Enter a number from 0 to 100.")]})
    return _points(score)


@transaction.atomic
def account_score_factor(*, actor: Any, account: Account, factor: RatingFactor, score: Any) -> AccountFactorScore:
    """Give a manual factor its points (0–100) for one account; it counts from the next rating."""
    if not has_perm(actor, "account.rate"):
        raise Forbidden()
    _check_visible(actor, account)
    if factor.method != RatingFactor.Method.MANUAL:
        raise Invalid(errors={"factor": [_("This factor is scored by a rule, not by hand.")]})
    if not factor.active:
        raise Invalid(errors={"factor": [_("This factor is no longer used.")]})
    points = _parse_score(score)
    existing = AccountFactorScore.objects.filter(account=account, factor=factor).first()
    before = existing.score if existing else None
    if existing is not None and existing.score == points:
        return existing
    obj, _created = AccountFactorScore.objects.update_or_create(
        account=account, factor=factor,
        defaults={"score": points, "scored_by": actor, "scored_at": timezone.now()})
    audit.record(actor=actor, action="update", obj=account,
                 changes={f"factor:{factor.key}": [audit.serialise(before), str(points)]},
                 note=_("Factor score: %(factor)s") % {"factor": factor.name})
    return obj


# --- Re-rating everyone (the monthly job) ------------------------------------------------------------
def _rate_chunk(accounts: list[Account], factors: list[RatingFactor], grades: list[Grade], *, kind: str,
                actor: Any, note: str, now: dt.datetime, content_type: ContentType) -> int:
    """Rate ``accounts`` in bulk: one INSERT of ratings, one batched UPDATE of the accounts whose grade or
    score moved, audit rows for grade moves."""
    for name in {f.rule for f in factors if f.method == RatingFactor.Method.RULE}:
        found = RULES.get(name)
        if found and found.prefetch:
            found.prefetch(accounts)
    manual: dict[int, dict[int, Decimal]] = defaultdict(dict)
    manual_ids = [f.pk for f in factors if f.method == RatingFactor.Method.MANUAL]
    if manual_ids:
        for account_id, factor_id, score in AccountFactorScore.objects.filter(
                factor_id__in=manual_ids, **_id_range(accounts)).values_list(
                "account_id", "factor_id", "score"):
            manual[account_id][factor_id] = score
    user = actor if getattr(actor, "is_authenticated", False) else None
    origin = context.current()
    ops = connection.ops
    at = ops.adapt_datetimefield_value(now)
    by = user.pk if user else None
    ratings: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    actor_name = (user.get_username() if user else "system")[:150]
    texts: dict[tuple[float | None, ...], str] = {}  # the rules give few distinct results: encode each once
    for account in accounts:
        score, detail = compute(account, factors, manual.get(account.pk, {}))
        grade = grade_for(score, grades)
        value = ops.adapt_decimalfield_value(score, 6, 2)
        points = tuple(detail.values())
        text = texts.get(points)
        if text is None:
            text = texts[points] = json.dumps(detail)
        ratings.append((account.pk, value, grade, account.grade, kind, text, note, by, at))
        if grade != account.grade or score != account.score:
            updates.append((grade, value, at, account.pk))
        if grade != account.grade:
            # The same row audit.record writes, for every account whose grade moved.
            events.append((at, by, actor_name, origin.ip, origin.channel, "rate", content_type.pk, str(account.pk),
                           account.name[:200], json.dumps({"grade": [account.grade, grade], "score": [
                               audit.serialise(account.score), str(score)]}), note))
    # Plain parameterised statements: the ORM's bulk_create and bulk_update spend most of
    # their time preparing values, and these rows are append-only and all alike.
    with connection.cursor() as cursor:
        if events:
            cursor.executemany(
                f"INSERT INTO {AuditEvent._meta.db_table} (at, actor_id, actor_name, ip, channel, action, "  # noqa: S608 (constant table name)
                "content_type_id, object_id, object_repr, changes, note) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", events)
        cursor.executemany(
            f"INSERT INTO {AccountRating._meta.db_table} (account_id, score, grade, previous_grade, kind, "  # noqa: S608 (constant table name)
            "factors, note, rated_by_id, rated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", ratings)
        if updates:
            cursor.executemany(f"UPDATE {Account._meta.db_table} SET grade = %s, score = %s, rated_at = %s "  # noqa: S608
                               "WHERE id = %s", updates)
    return len(accounts)


def rerate_all(*, kind: str = AccountRating.Kind.SCHEDULED, actor: Any = None, note: str = "",
               progress: jobs.Progress | None = None, after_id: int = 0,
               account_ids: Iterable[int] | None = None, at: dt.datetime | None = None) -> int:
    """Re-rate every alive account (or ``account_ids``) in chunks, each chunk its own transaction.

    Resumable: ``after_id`` skips accounts already done (the job's checkpoint). Returns the
    number of accounts rated. Not a user-facing service: the job behind it is started by
    ``rerate_all_start`` (rights checked there) or by the monthly schedule. ``at`` pins the
    ratings' time (the demo's pinned "now"); by default each chunk takes the clock's.
    """
    factors = active_factors()
    grades = grades_by_threshold()
    if not factors or not grades:
        return 0
    content_type = ContentType.objects.get_for_model(Account)
    qs = Account.objects.order_by("id").only(*RULE_COLUMNS)
    if account_ids is not None:
        qs = qs.filter(pk__in=list(account_ids))
    if progress is not None and after_id == 0:
        progress.set_total(qs.count())
    done = 0
    last_id = after_id
    while True:
        chunk = list(qs.filter(pk__gt=last_id)[:CHUNK])
        if not chunk:
            break
        with transaction.atomic():
            done += _rate_chunk(chunk, factors, grades, kind=kind, actor=actor, note=note,
                                now=at or timezone.now(), content_type=content_type)
            last_id = chunk[-1].pk
            if progress is not None:
                progress.advance(len(chunk), checkpoint={"after_id": last_id})
    return done


@transaction.atomic
def rerate_all_start(*, actor: Any, note: str = "") -> Job:
    """Start re-rating every account as a background job (the "Re-rate all" button)."""
    if not has_perm(actor, "rating.manage"):
        raise Forbidden()
    return jobs.job_start(actor=actor, kind=RERATE_JOB,
                          params={"kind": AccountRating.Kind.MANUAL, "note": note.strip()[:500]})


@jobs.handler(RERATE_JOB)
def _rerate_job(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    after_id = int((job.checkpoint or {}).get("after_id", 0))
    kind = job.params.get("kind", AccountRating.Kind.SCHEDULED)
    rated = rerate_all(kind=kind, actor=job.created_by, note=job.params.get("note", ""), progress=progress,
                       after_id=after_id)
    audit.record(actor=job.created_by, action="rate", obj=None, object_repr=f"accounts ({rated})",
                 changes={"rated": rated, "kind": kind})
    return {"rated": rated}


@db_periodic_task(crontab(day="1", hour="2", minute="30"))
def monthly_rerating() -> str:
    """定期测评: re-rate every account on the first of each month at 02:30, as a visible job."""
    job = jobs.job_start(actor=None, kind=RERATE_JOB, params={"kind": AccountRating.Kind.SCHEDULED})
    return str(job.pk)


# --- Configuration: categories ---------------------------------------------------------------------
def _require(actor: Any, perm: str) -> None:
    if not has_perm(actor, perm):
        raise Forbidden()


def _clean_text(value: Any, field: str, max_length: int, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise Invalid(errors={field: [_("This field is required.")]})
    if len(text) > max_length:
        raise Invalid(errors={field: [_("At most %(n)d characters.") % {"n": max_length}]})
    return text


def _category_path(category: Category) -> str:
    parent = Category.objects.filter(pk=category.parent_id).first() if category.parent_id else None
    return f"{parent.path if parent else '/'}{category.pk}/"


@transaction.atomic
def category_create(*, actor: Any, name: str, parent: Category | None = None, description: str = "",
                    sort_order: int = 0) -> Category:
    _require(actor, "category.manage")
    name = _clean_text(name, "name", 100, required=True)
    if parent is not None and not parent.active:
        raise Invalid(errors={"parent": [_("Choose an active parent category.")]})
    category = Category.objects.create(name=name, parent=parent, description=_clean_text(description, "description",
                                                                                         2000),
                                       sort_order=max(0, int(sort_order or 0)))
    category.path = _category_path(category)
    Category.objects.filter(pk=category.pk).update(path=category.path)
    audit.record(actor=actor, action="create", obj=category,
                 changes=audit.creation_changes(category, ["name", "parent", "path", "description", "sort_order"]))
    return category


@transaction.atomic
def category_update(*, actor: Any, category: Category, expected_version: int | None, name: str | None = None,
                    parent: Category | Any | None = ..., active: bool | None = None, description: str | None = None,
                    sort_order: int | None = None) -> Category:
    """Rename, move under another parent (the subtree's paths follow), (de)activate. Never deletes."""
    _require(actor, "category.manage")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _clean_text(name, "name", 100, required=True)
    if description is not None:
        changes["description"] = _clean_text(description, "description", 2000)
    if sort_order is not None:
        if int(sort_order) < 0:
            raise Invalid(errors={"sort_order": [_("Enter a number of 0 or more.")]})
        changes["sort_order"] = int(sort_order)
    if parent is not ...:
        if parent is not None and parent.path.startswith(category.path):
            raise Invalid(errors={"parent": [_("A category cannot be placed under itself or its own sub-category.")]})
        if parent is not None and not parent.active and parent.pk != category.parent_id:
            raise Invalid(errors={"parent": [_("Choose an active parent category.")]})
        changes["parent"] = parent
    if active is not None:
        if not active and Category.objects.filter(parent=category, active=True).exists():
            raise Invalid(errors={"active": [_("Deactivate its sub-categories first.")]})
        if active and category.parent_id and not Category.objects.filter(pk=category.parent_id, active=True).exists():
            raise Invalid(errors={"active": [_("Reactivate its parent category first.")]})
        changes["active"] = bool(active)
    old_path = category.path
    delta = apply_update(actor=actor, obj=category, changes=changes, expected_version=expected_version)
    if "parent" in delta:
        category.path = _category_path(category)
        Category.objects.filter(pk=category.pk).update(path=category.path)
        # The whole subtree moves with it: every descendant's path starts with the old prefix.
        for child in Category.objects.filter(path__startswith=old_path).exclude(pk=category.pk):
            Category.objects.filter(pk=child.pk).update(path=category.path + child.path[len(old_path):])
    return category


# --- Configuration: grades and factors ----------------------------------------------------------------
def _decimal(value: Any, field: str, low: Decimal, high: Decimal) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite() or number < low or number > high:
        raise Invalid(errors={field: [_("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high}]})
    return _points(number)


@transaction.atomic
def grade_update(*, actor: Any, grade: Grade, expected_version: int | None, name: str | None = None,
                 min_score: Any = None, service_policy: str | None = None, pool_return_days: Any = ...,
                 sort_order: int | None = None) -> Grade:
    """Edit a grade: its name, threshold (distinct from every other grade's), service policy, pool days."""
    _require(actor, "rating.manage")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _clean_text(name, "name", 50, required=True)
    if min_score is not None and str(min_score).strip() != "":
        threshold = _decimal(min_score, "min_score", Decimal(0), HUNDRED)
        if Grade.objects.exclude(pk=grade.pk).filter(min_score=threshold).exists():
            raise Invalid(errors={"min_score": [_("Another grade already starts at this score.")]})
        changes["min_score"] = threshold
    elif min_score is not None:
        raise Invalid(errors={"min_score": [_("This field is required.")]})
    if service_policy is not None:
        changes["service_policy"] = _clean_text(service_policy, "service_policy", 4000)
    if pool_return_days is not ...:
        if pool_return_days in (None, ""):
            changes["pool_return_days"] = None
        else:
            try:
                days = int(pool_return_days)
            except (TypeError, ValueError):
                days = -1
            if days < 1 or days > 3650:
                raise Invalid(errors={"pool_return_days": [_("Enter a number of days from 1 to 3650, or leave it empty.")]})
            changes["pool_return_days"] = days
    if sort_order is not None:
        changes["sort_order"] = max(0, int(sort_order))
    apply_update(actor=actor, obj=grade, changes=changes, expected_version=expected_version)
    return grade


def _factor_changes(factor: RatingFactor | None, data: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if data.get("name") is not None:
        changes["name"] = _clean_text(data["name"], "name", 100, required=True)
    if data.get("weight") is not None:
        changes["weight"] = _decimal(data["weight"], "weight", Decimal(0), Decimal(1000))
    if data.get("description") is not None:
        changes["description"] = _clean_text(data["description"], "description", 2000)
    if data.get("active") is not None:
        changes["active"] = bool(data["active"])
    if data.get("sort_order") is not None:
        changes["sort_order"] = max(0, int(data["sort_order"]))
    method = data.get("method") if data.get("method") is not None else (factor.method if factor else None)
    if method not in RatingFactor.Method.values:
        raise Invalid(errors={"method": [_("Choose how the factor is scored.")]})
    if data.get("method") is not None:
        changes["method"] = method
    rule_name = data.get("rule") if data.get("rule") is not None else (factor.rule if factor else "")
    if method == RatingFactor.Method.RULE:
        if rule_name not in RULES:
            raise Invalid(errors={"rule": [_("Choose one of the built-in rules.")]})
    else:
        rule_name = ""
    if factor is None or rule_name != factor.rule:
        changes["rule"] = rule_name
    return changes


@transaction.atomic
def factor_create(*, actor: Any, key: str, name: str, weight: Any = 1, method: str = RatingFactor.Method.MANUAL,
                  rule: str = "", description: str = "", sort_order: int = 0) -> RatingFactor:
    _require(actor, "rating.manage")
    key = _clean_text(key, "key", 50, required=True).lower()
    if not all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        raise Invalid(errors={"key": [_("Use only letters, digits, hyphens and underscores.")]})
    if RatingFactor.objects.filter(key=key).exists():
        raise Invalid(errors={"key": [_("Another factor already has this key.")]})
    changes = _factor_changes(None, {"name": name, "weight": weight, "method": method, "rule": rule,
                                     "description": description, "sort_order": sort_order})
    factor = RatingFactor.objects.create(key=key, **changes)
    audit.record(actor=actor, action="create", obj=factor, changes=audit.creation_changes(
        factor, ["key", "name", "weight", "method", "rule", "description", "active", "sort_order"]))
    return factor


@transaction.atomic
def factor_update(*, actor: Any, factor: RatingFactor, expected_version: int | None, name: str | None = None,
                  weight: Any = None, method: str | None = None, rule: str | None = None, active: bool | None = None,
                  description: str | None = None, sort_order: int | None = None) -> RatingFactor:
    """Edit a factor's weight, method (hand or rule), rule, active flag. The next rating uses it."""
    _require(actor, "rating.manage")
    changes = _factor_changes(factor, {"name": name, "weight": weight, "method": method, "rule": rule,
                                       "active": active, "description": description, "sort_order": sort_order})
    apply_update(actor=actor, obj=factor, changes=changes, expected_version=expected_version)
    return factor
