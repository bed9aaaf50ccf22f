"""Classification and rating (R2): the engine's arithmetic, grade thresholds, the rules, the
kept history (the relationship curve), hand scores, rights, the category tree, the API, the
monthly job on the real queue."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent, Job
from guanxi.customers.models import (
    Account,
    AccountFactorScore,
    AccountRating,
    Category,
    Contact,
    Grade,
    RatingFactor,
)
from guanxi.customers.services import classification as svc
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db
MANUAL = ("contribution", "law_abiding", "integrity", "influence")


def factor(key: str) -> RatingFactor:
    return RatingFactor.objects.get(key=key)


def manual_only() -> None:
    """Switch the rule factors off, so a test controls every point."""
    RatingFactor.objects.filter(method=RatingFactor.Method.RULE).update(active=False)


def score_all(actor: Any, account: Account, points: dict[str, Any]) -> None:
    for key, value in points.items():
        svc.account_score_factor(actor=actor, account=account, factor=factor(key), score=value)


# --- The seeded defaults ---------------------------------------------------------------------
def test_migration_seeds_grades_factors_and_an_example_tree() -> None:
    grades = {g.code: g for g in Grade.objects.all()}
    assert {c: g.min_score for c, g in grades.items()} == {
        "A": Decimal("85"), "B": Decimal("70"), "C": Decimal("50"), "D": Decimal("0")}
    assert {c: g.pool_return_days for c, g in grades.items()} == {"A": 180, "B": 120, "C": 90, "D": 60}
    assert "重点客户" in grades["A"].service_policy and "发展计划" in grades["C"].service_policy
    assert "收缩" in grades["D"].service_policy
    factors = {f.key: f for f in RatingFactor.objects.all()}
    assert {k for k, f in factors.items() if f.method == "manual"} == set(MANUAL)
    assert {f.rule for f in factors.values() if f.method == "rule"} == {
        "contact_depth", "credit_standing", "profile_completeness", "importance",
        "satisfaction"}  # the surveys' factor, seeded inactive by the loyalty app
    assert not factors["satisfaction"].active
    assert all(f.rule in svc.RULES for f in factors.values() if f.method == "rule")
    assert factors["integrity"].name == "诚信"
    food = Category.objects.get(name="餐饮")
    assert food.path == f"{food.parent.path}{food.pk}/" and food.parent.name == "工商业"


# --- The engine ----------------------------------------------------------------------------------
def test_score_is_the_weighted_mean_of_the_factors(org: Any, account_factory: Any) -> None:
    manual_only()
    account = account_factory(owner=org.salesperson)
    # weights: contribution 3, law_abiding 1, integrity 2, influence 2
    score_all(org.manager, account, {"contribution": 90, "law_abiding": 100, "integrity": 80, "influence": 60})
    rating = svc.account_rate(actor=org.manager, account=account)
    expected = (Decimal(90) * 3 + 100 + 80 * 2 + 60 * 2) / 8  # 81.25
    assert rating.score == Decimal("81.25") == expected
    assert rating.grade == "B"
    assert rating.factors == {"contribution": 90.0, "law_abiding": 100.0, "integrity": 80.0, "influence": 60.0}


def test_an_unscored_manual_factor_is_left_out_of_the_weighting(org: Any, account_factory: Any) -> None:
    manual_only()
    account = account_factory(owner=org.salesperson)
    score_all(org.manager, account, {"contribution": 90, "integrity": 60})
    rating = svc.account_rate(actor=org.manager, account=account)
    assert rating.score == Decimal("78.00")  # (90*3 + 60*2) / 5, not pulled down by two missing factors
    assert rating.factors["law_abiding"] is None and rating.factors["influence"] is None


def test_inactive_and_zero_weight_factors_do_not_count(org: Any, account_factory: Any) -> None:
    manual_only()
    account = account_factory(owner=org.salesperson)
    score_all(org.manager, account, {"contribution": 100, "integrity": 0})
    RatingFactor.objects.filter(key="integrity").update(weight=0)
    assert svc.account_rate(actor=org.manager, account=account).score == Decimal("100.00")
    RatingFactor.objects.filter(key="contribution").update(active=False)
    RatingFactor.objects.filter(key="integrity").update(weight=2)
    assert svc.account_rate(actor=org.manager, account=account).score == Decimal("0.00")


@pytest.mark.parametrize("score,grade", [("100", "A"), ("85", "A"), ("84.99", "B"), ("70", "B"), ("69.99", "C"),
                                         ("50", "C"), ("49.99", "D"), ("0", "D")])
def test_grade_thresholds(score: str, grade: str) -> None:
    assert svc.grade_for(Decimal(score), svc.grades_by_threshold()) == grade


def test_a_score_below_every_threshold_gets_the_lowest_grade() -> None:
    Grade.objects.filter(code="D").update(min_score=10)
    assert svc.grade_for(Decimal("3"), svc.grades_by_threshold()) == "D"


def test_rules_read_the_accounts_data(org: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.salesperson)
    assert svc.contact_depth(account) == 0.0
    Contact.objects.create(account=account, name="甲", depth=Contact.Depth.CONFIDANT)
    Contact.objects.create(account=account, name="乙", depth=Contact.Depth.PASSER_BY)
    assert svc.contact_depth(account) == pytest.approx(0.6 * 100 + 0.4 * 55)
    assert svc.credit_standing(account) == 40.0
    account.credit_standing = Account.CreditStanding.EXCELLENT
    assert svc.credit_standing(account) == 100.0
    account.credit_standing = Account.CreditStanding.POOR
    assert svc.credit_standing(account) == 15.0
    assert svc.importance(account) == 30.0
    account.importance = Account.Importance.KEY
    assert svc.importance(account) == 100.0
    empty = svc.profile_completeness(account)
    account.phone, account.industry, account.email = "02112345678", "餐饮", "a@example.com"
    assert svc.profile_completeness(account) == pytest.approx(empty + 300 / len(svc.PROFILE_FIELDS))


def test_rule_factors_enter_the_score(org: Any, account_factory: Any) -> None:
    RatingFactor.objects.exclude(key="importance").update(active=False)
    account = account_factory(owner=org.salesperson, importance=Account.Importance.KEY)
    rating = svc.account_rate(actor=org.manager, account=account)
    assert rating.score == Decimal("100.00") and rating.grade == "A"
    assert rating.factors == {"importance": 100.0}


def test_every_rating_is_kept_and_the_account_carries_the_latest(org: Any, account_factory: Any) -> None:
    manual_only()
    account = account_factory(owner=org.salesperson)
    version = account.version
    score_all(org.manager, account, dict.fromkeys(MANUAL, 90))
    first = svc.account_rate(actor=org.manager, account=account, note="年度评审")
    score_all(org.manager, account, dict.fromkeys(MANUAL, 40))
    second = svc.account_rate(actor=org.manager, account=account, note="拖欠货款")
    assert (first.grade, first.previous_grade) == ("A", "")
    assert (second.grade, second.previous_grade) == ("D", "A")
    assert AccountRating.objects.filter(account=account).count() == 2
    account.refresh_from_db()
    assert (account.grade, account.score, account.version) == ("D", Decimal("40.00"), version)
    assert account.rated_at == second.rated_at
    moves = AuditEvent.objects.filter(action="rate", object_id=str(account.pk)).order_by("id")
    assert [e.changes["grade"] for e in moves] == [["", "A"], ["A", "D"]]
    assert moves.last().note == "拖欠货款"  # type: ignore[union-attr]
    # Re-rating without a change of grade keeps a rating but writes no grade-move audit row.
    svc.account_rate(actor=org.manager, account=account)
    assert AuditEvent.objects.filter(action="rate", object_id=str(account.pk)).count() == 2
    assert AccountRating.objects.filter(account=account).count() == 3


def test_rating_needs_factors_and_grades(org: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.salesperson)
    RatingFactor.objects.update(active=False)
    with pytest.raises(Invalid):
        svc.account_rate(actor=org.manager, account=account)
    assert not AccountRating.objects.exists()


# --- Hand scores -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["101", "-1", "abc", "", "NaN", "Infinity"])
def test_hand_scores_must_be_0_to_100(org: Any, account_factory: Any, bad: str) -> None:
    account = account_factory(owner=org.salesperson)
    with pytest.raises(Invalid) as exc:
        svc.account_score_factor(actor=org.manager, account=account, factor=factor("integrity"), score=bad)
    assert "score" in exc.value.errors
    assert not AccountFactorScore.objects.exists()


def test_a_rule_factor_cannot_be_scored_by_hand(org: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.salesperson)
    with pytest.raises(Invalid) as exc:
        svc.account_score_factor(actor=org.manager, account=account, factor=factor("importance"), score=50)
    assert "factor" in exc.value.errors


def test_hand_scores_are_kept_once_and_audited(org: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.salesperson)
    svc.account_score_factor(actor=org.manager, account=account, factor=factor("integrity"), score="70.5")
    svc.account_score_factor(actor=org.manager, account=account, factor=factor("integrity"), score=75)
    svc.account_score_factor(actor=org.manager, account=account, factor=factor("integrity"), score=75)  # same
    kept = AccountFactorScore.objects.get(account=account)
    assert kept.score == Decimal("75.00") and kept.scored_by == org.manager
    changes = [e.changes for e in AuditEvent.objects.filter(object_id=str(account.pk), action="update").order_by("id")]
    assert changes == [{"factor:integrity": [None, "70.50"]}, {"factor:integrity": ["70.50", "75.00"]}]


# --- Rights: denied writes change nothing ----------------------------------------------------------------
def test_a_salesperson_may_not_rate_or_score_even_their_own_account(org: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.salesperson)
    before = fingerprint()
    with pytest.raises(Forbidden):
        svc.account_rate(actor=org.salesperson, account=account)
    with pytest.raises(Forbidden):
        svc.account_score_factor(actor=org.salesperson, account=account, factor=factor("integrity"), score=50)
    with pytest.raises(Forbidden):
        svc.rerate_all_start(actor=org.manager)  # rating.manage: general manager and admin only
    with pytest.raises(Forbidden):
        svc.grade_update(actor=org.manager, grade=Grade.objects.get(code="A"), expected_version=None, min_score=90)
    with pytest.raises(Forbidden):
        svc.category_create(actor=org.gm, name="车用气")  # category.manage: admin only
    assert fingerprint() == before


def test_a_manager_cannot_rate_an_account_they_cannot_see(org: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.outsider)  # South: not the East manager's
    before = fingerprint()
    with pytest.raises(NotFound):
        svc.account_rate(actor=org.manager, account=account)
    with pytest.raises(NotFound):
        svc.account_score_factor(actor=org.manager, account=account, factor=factor("integrity"), score=50)
    assert fingerprint() == before


# --- The category tree ----------------------------------------------------------------------------------
def test_category_tree_create_move_rename_deactivate(org: Any) -> None:
    vehicles = svc.category_create(actor=org.admin, name="车用气")
    private = svc.category_create(actor=org.admin, name="私家车", parent=vehicles)
    taxi = svc.category_create(actor=org.admin, name="出租车", parent=private)
    assert taxi.path == f"/{vehicles.pk}/{private.pk}/{taxi.pk}/"
    industry = Category.objects.get(name="工商业")
    svc.category_update(actor=org.admin, category=private, expected_version=private.version, parent=industry)
    private.refresh_from_db()
    taxi.refresh_from_db()
    assert private.path == f"{industry.path}{private.pk}/"
    assert taxi.path == f"{industry.path}{private.pk}/{taxi.pk}/"  # the subtree followed
    with pytest.raises(Invalid) as exc:  # under its own child
        svc.category_update(actor=org.admin, category=private, expected_version=private.version, parent=taxi)
    assert "parent" in exc.value.errors
    with pytest.raises(Invalid) as exc:
        svc.category_update(actor=org.admin, category=private, expected_version=private.version, active=False)
    assert "active" in exc.value.errors  # an active child is still below it
    svc.category_update(actor=org.admin, category=taxi, expected_version=taxi.version, active=False, name="的士")
    svc.category_update(actor=org.admin, category=private, expected_version=private.version, active=False)
    assert Category.objects.filter(pk__in=[private.pk, taxi.pk], active=False).count() == 2
    with pytest.raises(Invalid):
        svc.category_create(actor=org.admin, name="网约车", parent=private)  # inactive parent
    with pytest.raises(Invalid):
        svc.category_create(actor=org.admin, name="  ")
    assert AuditEvent.objects.filter(content_type__model="category", action="update").count() == 3


def test_a_stale_category_edit_is_refused(org: Any) -> None:
    from guanxi.core.errors import Conflict

    food = Category.objects.get(name="餐饮")
    with pytest.raises(Conflict):
        svc.category_update(actor=org.admin, category=food, expected_version=food.version + 1, name="饮食")


# --- Grades and factors ------------------------------------------------------------------------------------
def test_grade_thresholds_must_be_distinct_and_in_range(org: Any) -> None:
    a = Grade.objects.get(code="A")
    with pytest.raises(Invalid) as exc:
        svc.grade_update(actor=org.gm, grade=a, expected_version=a.version, min_score=70)
    assert "min_score" in exc.value.errors
    with pytest.raises(Invalid):
        svc.grade_update(actor=org.gm, grade=a, expected_version=a.version, min_score=120)
    with pytest.raises(Invalid):
        svc.grade_update(actor=org.gm, grade=a, expected_version=a.version, pool_return_days=0)
    svc.grade_update(actor=org.gm, grade=a, expected_version=a.version, min_score="90", name="战略客户",
                     pool_return_days=365, service_policy="专人专线")
    a.refresh_from_db()
    assert (a.min_score, a.name, a.pool_return_days, a.service_policy) == (Decimal("90"), "战略客户", 365, "专人专线")
    assert svc.grade_for(Decimal("88"), svc.grades_by_threshold()) == "B"


def test_factor_method_and_rule_are_checked(org: Any) -> None:
    integrity = factor("integrity")
    with pytest.raises(Invalid) as exc:
        svc.factor_update(actor=org.admin, factor=integrity, expected_version=integrity.version, method="rule",
                          rule="astrology")
    assert "rule" in exc.value.errors
    with pytest.raises(Invalid):
        svc.factor_update(actor=org.admin, factor=integrity, expected_version=integrity.version, weight=-1)
    svc.factor_update(actor=org.admin, factor=integrity, expected_version=integrity.version, weight="4.5")
    integrity.refresh_from_db()
    assert integrity.weight == Decimal("4.5")
    made = svc.factor_create(actor=org.admin, key="payment_speed", name="回款速度", weight=2)
    assert made.method == "manual" and made.rule == ""
    with pytest.raises(Invalid):
        svc.factor_create(actor=org.admin, key="payment_speed", name="again")


# --- Re-rating everyone ---------------------------------------------------------------------------------------
def test_bulk_rerating_matches_the_single_rating(org: Any, account_factory: Any) -> None:
    accounts = [account_factory(owner=org.salesperson, importance=imp, credit_standing=credit)
                for imp, credit in [("key", "excellent"), ("general", "poor"), ("", ""), ("important", "good")]]
    Contact.objects.create(account=accounts[0], name="老王", depth=Contact.Depth.FRIEND)
    score_all(org.manager, accounts[1], {"contribution": 20, "integrity": 10})
    expected = {}
    for account in accounts:
        score, _detail = svc.compute(account, svc.active_factors(), dict(
            AccountFactorScore.objects.filter(account=account).values_list("factor_id", "score")))
        expected[account.pk] = score
    assert svc.rerate_all() == 4
    for account in accounts:
        account.refresh_from_db()
        assert account.score == expected[account.pk]
        assert account.grade == svc.grade_for(expected[account.pk], svc.grades_by_threshold())
        rating = AccountRating.objects.get(account=account)
        assert rating.kind == "scheduled" and rating.score == account.score
    assert AuditEvent.objects.filter(action="rate", object_id__in=[str(a.pk) for a in accounts]).count() == 4
    svc.rerate_all()  # nothing moved: ratings kept, no new grade-move rows
    assert AccountRating.objects.count() == 8
    assert AuditEvent.objects.filter(action="rate", object_id__in=[str(a.pk) for a in accounts]).count() == 4


def test_a_rerating_that_moves_nothing_leaves_the_account_row_alone(org: Any, account_factory: Any) -> None:
    moved, still = account_factory(owner=org.salesperson), account_factory(owner=org.salesperson)
    svc.rerate_all()
    month_ago = timezone.now() - dt.timedelta(days=30)
    Account.objects.filter(pk__in=[moved.pk, still.pk]).update(version=7, updated_at=month_ago)
    before = Account.objects.get(pk=still.pk)
    Account.objects.filter(pk=moved.pk).update(importance=Account.Importance.KEY)  # its importance rule moves
    with CaptureQueriesContext(connection) as queries:
        assert svc.rerate_all() == 2
    written = [q["sql"] for q in queries.captured_queries if "UPDATE customers_account" in q["sql"]
               or 'UPDATE "customers_account"' in q["sql"]]
    assert len(written) == 1 and written[0].startswith("1 times: ")  # the account that moved, only
    after = Account.objects.get(pk=still.pk)
    assert (after.grade, after.score, after.rated_at, after.version, after.updated_at) == (
        before.grade, before.score, before.rated_at, 7, month_ago)
    series = list(AccountRating.objects.filter(account=still).order_by("-rated_at", "-id"))
    assert len(series) == 2 and series[0].rated_at > after.rated_at  # the series keeps the date
    assert (series[0].score, series[0].grade, series[0].previous_grade) == (after.score, after.grade, after.grade)
    moved.refresh_from_db()
    latest = AccountRating.objects.filter(account=moved).order_by("-rated_at", "-id").first()
    assert latest is not None and (moved.score, moved.grade, moved.rated_at) == (
        latest.score, latest.grade, latest.rated_at)
    # Rating one account by hand follows the same rule.
    svc.account_rate(actor=org.manager, account=after)
    after.refresh_from_db()
    assert after.rated_at == before.rated_at and AccountRating.objects.filter(account=still).count() == 3


def test_bulk_rerating_resumes_after_its_checkpoint(org: Any, account_factory: Any) -> None:
    accounts = [account_factory(owner=org.salesperson) for _ in range(3)]
    assert svc.rerate_all(after_id=accounts[0].pk) == 2
    assert not AccountRating.objects.filter(account=accounts[0]).exists()


def test_rerate_all_runs_as_a_job_on_the_real_queue(org: Any, account_factory: Any, api: Any, run_queue: Any,
                                                    django_capture_on_commit_callbacks: Any) -> None:
    accounts = [account_factory(owner=org.salesperson) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(org.gm).post("/api/v1/ratings/rerate-all", {"note": "季度评审"})
    assert response.status_code == 202, response.content
    job_id = response.json()["job"]
    assert run_queue() >= 1
    job = Job.objects.get(pk=job_id)
    assert job.state == "done", job.errors
    assert job.done == job.total == 3 and job.result == {"rated": 3}
    assert AccountRating.objects.filter(account__in=accounts, kind="manual", note="季度评审").count() == 3
    assert api(org.manager).post("/api/v1/ratings/rerate-all", {}).status_code == 403


def test_the_monthly_schedule_starts_the_job(org: Any, account_factory: Any, run_queue: Any,
                                             django_capture_on_commit_callbacks: Any) -> None:
    account_factory(owner=org.salesperson)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = svc.monthly_rerating.call_local()
    run_queue()
    job = Job.objects.get(pk=job_id)
    assert job.state == "done" and job.params["kind"] == "scheduled" and job.created_by is None
    assert AccountRating.objects.filter(kind="scheduled", rated_by=None).count() == 1
    import datetime as dt

    task = svc.monthly_rerating.s()
    assert task.validate_datetime(dt.datetime(2026, 3, 1, 2, 30))  # the 1st of the month, 02:30
    assert not task.validate_datetime(dt.datetime(2026, 3, 2, 2, 30))
    assert not task.validate_datetime(dt.datetime(2026, 3, 1, 3, 30))


# --- HTML -----------------------------------------------------------------------------------------------------
def test_the_rating_tab_shows_grade_policy_factors_curve_and_table(org: Any, account_factory: Any,
                                                                     login: Any) -> None:
    manual_only()
    account = account_factory(owner=org.salesperson, lifecycle="intent", urgency="soon",
                              category=Category.objects.get(name="餐饮"))
    client = login(org.manager)
    response = client.post(f"/accounts/{account.pk}/rating/factors/", {
        "factor-contribution": "95", "factor-integrity": "90", "factor-law_abiding": "", "factor-influence": "88"})
    assert response.status_code == 302 and response["Location"].endswith("?tab=rating")
    assert AccountFactorScore.objects.filter(account=account).count() == 3
    response = client.post(f"/accounts/{account.pk}/rating/rate/", {"note": "首次评级"})
    assert response.status_code == 302
    assert 'data-testid="header-grade"' in client.get(f"/accounts/{account.pk}/").content.decode()
    # The Rating tab, which the account page loads when it is opened.
    page = client.get(f"/accounts/{account.pk}/rating/", HTTP_HX_REQUEST="true").content.decode()
    assert "重点客户" in page and 'data-testid="service-policy"' in page  # the A grade's policy
    assert "工商业 → 餐饮" in page
    assert 'id="relationship-curve-data"' in page and "curve.js" in page and "plotly.min.js" in page
    assert "首次评级" in page
    assert "<script>" not in page.split('data-testid="rating-panel"')[1].split("</script>")[0].replace(
        'type="application/json"', "")  # no inline script


def test_bad_hand_score_in_the_form_shows_a_message_and_saves_nothing(org: Any, account_factory: Any,
                                                                      login: Any) -> None:
    account = account_factory(owner=org.salesperson)
    client = login(org.manager)
    response = client.post(f"/accounts/{account.pk}/rating/factors/", {"factor-integrity": "150"}, follow=True)
    assert "0 到 100" in response.content.decode() or "0 to 100" in response.content.decode()
    assert not AccountFactorScore.objects.exists()


def test_rating_views_refuse_without_the_right(org: Any, account_factory: Any, login: Any) -> None:
    account = account_factory(owner=org.salesperson)
    hidden = account_factory(owner=org.outsider)
    client, manager = login(org.salesperson), login(org.manager)  # signing in touches last_login
    before = fingerprint()
    assert client.post(f"/accounts/{account.pk}/rating/rate/").status_code == 403
    assert client.post(f"/accounts/{account.pk}/rating/factors/", {"factor-integrity": "50"}).status_code == 403
    assert manager.post(f"/accounts/{hidden.pk}/rating/rate/").status_code == 404
    assert manager.post(f"/accounts/{hidden.pk}/rating/factors/", {"factor-integrity": "50"}).status_code == 404
    for url in ("/accounts/settings/categories/", "/accounts/settings/grades/", "/accounts/settings/rating-factors/"):
        assert client.get(url).status_code == 403
    assert manager.post("/accounts/settings/grades/rerate-all/").status_code == 403
    assert fingerprint() == before


def test_settings_pages_edit_the_configuration(org: Any, login: Any) -> None:
    admin = login(org.admin)
    home = admin.get("/").content.decode()
    for url in ("/accounts/settings/categories/", "/accounts/settings/grades/", "/accounts/settings/rating-factors/"):
        assert url in home  # linked from the Administration menu
        assert admin.get(url).status_code == 200
    assert "/accounts/settings/categories/" not in login(org.gm).get("/").content.decode()
    response = admin.post("/accounts/settings/categories/", {"name": "车用气", "sort_order": "9"})
    assert response.status_code == 302 and Category.objects.filter(name="车用气").exists()
    food = Category.objects.get(name="餐饮")
    response = admin.post(f"/accounts/settings/categories/{food.pk}/", {
        "name": "餐饮酒店", "parent": Category.objects.get(name="车用气").pk, "sort_order": "1",
        "version": food.version, "active": "on"})
    assert response.status_code == 302
    food.refresh_from_db()
    assert food.name == "餐饮酒店" and food.path.startswith(Category.objects.get(name="车用气").path)
    b = Grade.objects.get(code="B")
    response = admin.post(f"/accounts/settings/grades/{b.pk}/", {
        "name": b.name, "min_score": "85", "version": b.version, "service_policy": "x"})
    assert response.status_code == 200 and "data-testid=\"error-min_score\"" in response.content.decode()
    response = admin.post(f"/accounts/settings/grades/{b.pk}/", {
        "name": b.name, "min_score": "75", "version": b.version, "service_policy": "每月回访"})
    assert response.status_code == 302
    assert Grade.objects.get(code="B").min_score == Decimal("75")
    response = admin.post("/accounts/settings/rating-factors/", {
        "key": "payment", "name": "回款", "weight": "2", "method": "rule", "rule": "credit_standing", "sort_order": ""})
    assert response.status_code == 302 and factor("payment").rule == "credit_standing"
    response = admin.post("/accounts/settings/grades/rerate-all/")
    assert response.status_code == 302 and "/jobs/" in response["Location"]


# --- API ----------------------------------------------------------------------------------------------------------
def test_api_categories(org: Any, api: Any) -> None:
    listed = api(org.salesperson).get("/api/v1/categories").json()
    assert [c["name"] for c in listed][:2] == ["潜在客户", "工商业"]
    assert api(org.salesperson).post("/api/v1/categories", {"name": "x"}).status_code == 403
    admin = api(org.admin)
    made = admin.post("/api/v1/categories", {"name": "车用气"})
    assert made.status_code == 201
    child = admin.post("/api/v1/categories", {"name": "公交", "parent": made.json()["id"]}).json()
    assert child["path"] == f"{made.json()['path']}{child['id']}/"
    assert admin.post("/api/v1/categories", {"name": "x", "parent": 99999}).status_code == 422
    assert admin.post("/api/v1/categories", {"name": "x", "colour": "red"}).status_code == 422
    moved = admin.patch(f"/api/v1/categories/{child['id']}", {"version": child["version"], "parent": None})
    assert moved.status_code == 200 and moved.json()["path"] == f"/{child['id']}/"
    stale = admin.patch(f"/api/v1/categories/{child['id']}", {"version": child["version"], "name": "y"})
    assert stale.status_code == 409


def test_api_grades_and_factors(org: Any, api: Any) -> None:
    grades = api(org.salesperson).get("/api/v1/grades").json()
    assert [g["code"] for g in grades] == ["A", "B", "C", "D"]
    a = grades[0]
    assert api(org.manager).patch(f"/api/v1/grades/{a['id']}", {"version": a["version"]}).status_code == 403
    clash = api(org.gm).patch(f"/api/v1/grades/{a['id']}", {"version": a["version"], "min_score": "50"})
    assert clash.status_code == 422 and "min_score" in clash.json()["errors"]
    ok = api(org.gm).patch(f"/api/v1/grades/{a['id']}", {"version": a["version"], "min_score": "88"})
    assert ok.status_code == 200 and Decimal(ok.json()["min_score"]) == Decimal("88")
    factors = api(org.salesperson).get("/api/v1/rating-factors").json()
    assert len(factors) == 9  # eight of the customer file, the surveys' satisfaction
    f = next(x for x in factors if x["key"] == "influence")
    ok = api(org.admin).patch(f"/api/v1/rating-factors/{f['id']}", {"version": f["version"], "active": False})
    assert ok.status_code == 200 and ok.json()["active"] is False


def test_api_ratings_hand_scores_and_the_curve(org: Any, api: Any, account_factory: Any) -> None:
    account = account_factory(owner=org.salesperson)
    manager = api(org.manager)
    url = f"/api/v1/accounts/{account.pk}"
    assert manager.put(f"{url}/factor-scores/integrity", {"score": "88"}).status_code == 200
    bad = manager.put(f"{url}/factor-scores/integrity", {"score": "101"})
    assert bad.status_code == 422 and "score" in bad.json()["errors"]
    assert manager.put(f"{url}/factor-scores/nonexistent", {"score": "1"}).status_code == 404
    assert manager.put(f"{url}/factor-scores/importance", {"score": "1"}).status_code == 422
    assert manager.post(f"{url}/ratings", {"note": "一"}).status_code == 201
    assert manager.post(f"{url}/ratings", {"note": "二"}).status_code == 201
    curve = api(org.salesperson).get(f"{url}/ratings").json()
    assert [r["note"] for r in curve] == ["一", "二"]  # oldest first
    assert curve[1]["previous_grade"] == curve[0]["grade"] and curve[0]["rated_by_name"] == "刘洋"
    assert api(org.salesperson).post(f"{url}/ratings", {}).status_code == 403
    assert api(org.outsider).get(f"{url}/ratings").status_code == 404
    assert api(org.south_manager).post(f"{url}/ratings", {}).status_code == 404
    assert AccountRating.objects.count() == 2
