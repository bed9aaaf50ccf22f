"""Customer-file reads: classification, always scoped by the access engine first."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from guanxi.core.permissions import has_perm
from guanxi.customers.models import Account, AccountFactorScore, AccountRating, Category, Grade, RatingFactor
from guanxi.customers.selectors import page_read

RATINGS_SHOWN = 120  # ten years of monthly ratings


def category_tree() -> list[Category]:
    """Every category, parents before children (the materialised path orders the tree)."""
    categories = list(Category.objects.all())
    by_id = {c.pk: c for c in categories}

    def key(c: Category) -> list[tuple[int, str]]:
        ids = [int(p) for p in c.path.strip("/").split("/") if p]
        return [(by_id[i].sort_order, by_id[i].name) if i in by_id else (0, "") for i in ids]

    categories.sort(key=key)
    for c in categories:
        c.depth = max(0, c.path.count("/") - 2)  # type: ignore[attr-defined]
    return categories


def category_path_names(category: Category | None) -> list[str]:
    """The names from the root down to ``category``: 工商业 → 餐饮."""
    if category is None:
        return []
    ids = [int(p) for p in category.path.strip("/").split("/") if p]
    # The parents the caller already loaded (select_related) answer without a query.
    chain: list[Category] = [category]
    while Category.parent.is_cached(chain[0]) and chain[0].parent is not None:  # type: ignore[attr-defined]
        chain.insert(0, chain[0].parent)  # type: ignore[arg-type]
    if [c.pk for c in chain] == ids:
        return [c.name for c in chain]
    names = dict(Category.objects.filter(pk__in=ids).values_list("pk", "name"))
    return [names[i] for i in ids if i in names] or [category.name]


def grade_list() -> QuerySet[Grade]:
    return Grade.objects.order_by("-min_score", "sort_order")


def factor_list() -> QuerySet[RatingFactor]:
    return RatingFactor.objects.order_by("sort_order", "key")


def rating_series(account: Account, limit: int = RATINGS_SHOWN) -> list[AccountRating]:
    """The account's ratings, oldest first (the relationship curve). The caller checked visibility."""
    latest = list(AccountRating.objects.filter(account=account).select_related("rated_by")
                  .order_by("-rated_at", "-id")[:limit])
    return latest[::-1]


def page_ratings(account: Account) -> list[AccountRating]:
    """The account's newest ``RATINGS_SHOWN`` ratings, newest first, read once for its 360
    page (the curve, the ratings table and the timeline show the same rows)."""
    return page_read(account, "ratings", lambda: list(
        AccountRating.objects.filter(account=account).select_related("rated_by").order_by("-rated_at", "-id")
        [:RATINGS_SHOWN]))


def page_grades(account: Account) -> list[Grade]:
    """Every grade, lowest first, read once for the 360 page (curve axis, current grade, pool return)."""
    return page_read(account, "grades", lambda: list(Grade.objects.order_by("min_score", "sort_order")))


def curve_data(ratings: list[AccountRating], factor_names: dict[str, str],
               grade_codes: list[str] | None = None) -> dict[str, Any]:
    """What curve.js draws: one point per rating, a marker where the grade moved, hover text."""
    points = []
    for r in ratings:
        parts = [f"{factor_names.get(k, k)} {v:g}" for k, v in (r.factors or {}).items() if v is not None]
        moved = bool(r.previous_grade) and r.previous_grade != r.grade
        points.append({
            "at": r.rated_at.isoformat(),
            "score": float(r.score),
            "grade": r.grade,
            "previous_grade": r.previous_grade,
            "moved": moved,
            "kind": r.get_kind_display(),
            "note": r.note,
            "by": str(r.rated_by) if r.rated_by_id else _("system"),
            "factors": "; ".join(parts),
        })
    return {
        "points": points,
        # The grade axis, lowest first, so the curve shows the whole ladder and not only the
        # grades the account has held.
        "grades": grade_codes if grade_codes is not None
        else list(Grade.objects.order_by("min_score").values_list("code", flat=True)),
        "labels": {"score": _("Score"), "grade": _("Grade"), "moved": _("Grade changed"),
                   "date": _("Date"), "by": _("By"), "note": _("Note")},
    }


def account_panel(user: Any, account: Account) -> dict[str, Any]:
    """Context for this area's part of the account 360 page (customers/_panel_classification.html)."""
    factors = list(factor_list())
    names = {f.key: f.name for f in factors}
    newest_first = page_ratings(account)
    ratings = newest_first[::-1]
    manual_factors = [f for f in factors if f.method == RatingFactor.Method.MANUAL and f.active]
    hand: dict[int, AccountFactorScore] = {}
    if manual_factors:  # no factor scored by hand: nothing to read
        scores = AccountFactorScore.objects.filter(account=account).select_related("scored_by")
        hand = {s.factor_id: s for s in scores}
    manual = [(f, hand.get(f.pk)) for f in manual_factors]
    grades = page_grades(account)
    grade = next((g for g in grades if g.code == account.grade), None) if account.grade else None
    latest = newest_first[0] if newest_first else None
    latest_factors = []
    if latest is not None:
        latest_factors = [(names.get(k, k), v) for k, v in (latest.factors or {}).items()]
    return {
        "rating_grade": grade,
        "rating_category_path": category_path_names(account.category) if account.category_id else [],
        "rating_tags": list(account.tags.all()),
        "rating_manual_factors": manual,
        "rating_latest_factors": latest_factors,
        "rating_history": newest_first,
        "rating_curve": curve_data(ratings, names, [g.code for g in grades]),
        "rating_can_rate": has_perm(user, "account.rate"),
    }
