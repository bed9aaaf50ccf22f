"""The customer pool (R13.1): claim with a cap, release, automatic return after notice, history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone, translation

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent, Notification
from guanxi.customers.models import Account, Grade, OwnershipChange, PoolSettings
from guanxi.customers.selectors import pool as reads
from guanxi.customers.services import pool as services
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Service messages are checked in English here; pages get the user's language from the request."""
    with translation.override("en"):
        yield


@pytest.fixture
def pooled(account_factory):
    def make(**fields):
        fields.setdefault("pool_entered_at", timezone.now())
        return account_factory(None, **fields)

    return make


def idle(account, days, notice=None):
    """Make ``account`` look idle for ``days`` (and announced ``notice`` days ago)."""
    now = timezone.now()
    Account.all_objects.filter(pk=account.pk).update(
        last_activity_at=now - dt.timedelta(days=days),
        pool_notice_at=None if notice is None else now - dt.timedelta(days=notice))


# --- Claim ---------------------------------------------------------------------------------------
def test_salesperson_claims_a_pool_account_and_it_becomes_theirs(org, pooled):
    account = pooled(name="公海客户甲")
    assert account in reads.pool_scope(org.salesperson)
    claimed = services.pool_claim(actor=org.salesperson, account=account)
    assert (claimed.owner_id, claimed.department_id, claimed.pool_entered_at) == (org.salesperson.pk, org.east.pk, None)
    assert claimed.version == 2
    change = OwnershipChange.objects.get(account=account)
    assert (change.kind, change.from_user, change.to_user, change.actor) == ("claimed", None, org.salesperson,
                                                                             org.salesperson)
    event = AuditEvent.objects.get(action="claim", object_id=str(account.pk))
    assert event.changes["owner"][0] is None and event.changes["owner"][1]["id"] == org.salesperson.pk
    assert not reads.pool_scope(org.salesperson).filter(pk=account.pk).exists()
    assert services.claim_count(org.salesperson) == 1


def test_second_claim_of_the_same_account_is_refused_and_the_first_owner_keeps_it(org, pooled):
    account = pooled()
    stale = Account.objects.get(pk=account.pk)  # both saw it in the pool
    services.pool_claim(actor=org.salesperson, account=account)
    with pytest.raises(Conflict) as exc:
        services.pool_claim(actor=org.teammate, account=stale)
    assert "claimed" in exc.value.message
    account.refresh_from_db()
    assert account.owner_id == org.salesperson.pk
    assert OwnershipChange.objects.filter(account=account).count() == 1
    assert AuditEvent.objects.filter(action="claim").count() == 1


def test_claims_stop_at_the_cap_with_a_clear_message(org, pooled):
    PoolSettings.objects.update_or_create(pk=PoolSettings.current().pk, defaults={"claim_cap": 2})
    first, second, third = pooled(), pooled(), pooled()
    services.pool_claim(actor=org.salesperson, account=first)
    services.pool_claim(actor=org.salesperson, account=second)
    before = fingerprint()
    with pytest.raises(Invalid) as exc:
        services.pool_claim(actor=org.salesperson, account=third)
    assert "2" in exc.value.message
    assert fingerprint() == before
    # Accounts given by a manager do not count against the cap; released ones free a place.
    services.pool_release(actor=org.salesperson, account=Account.objects.get(pk=first.pk), reason="不跟了")
    assert services.claim_count(org.salesperson) == 1
    services.pool_claim(actor=org.salesperson, account=third)
    assert services.claim_count(org.salesperson) == 2


def test_account_handed_over_by_a_manager_does_not_count_as_a_claim(org, pooled):
    account = pooled()
    services.pool_claim(actor=org.teammate, account=account)
    services.account_reassign(actor=org.manager, accounts=[account], to_user=org.salesperson, reason="调整")
    assert services.claim_count(org.salesperson) == 0
    assert services.claim_count(org.teammate) == 0


def test_service_agent_cannot_claim_and_nothing_changes(org, pooled):
    account = pooled()
    before = fingerprint()
    with pytest.raises(Forbidden):
        services.pool_claim(actor=org.service, account=account)
    assert fingerprint() == before
    assert not reads.pool_scope(org.service).exists()


# --- Release -------------------------------------------------------------------------------------
def test_owner_releases_an_account_to_the_pool_with_a_reason(org, account_factory):
    account = account_factory(org.salesperson)
    released = services.pool_release(actor=org.salesperson, account=account, reason="客户已转行")
    assert (released.owner_id, released.department_id) == (None, None)
    assert released.pool_entered_at is not None
    change = OwnershipChange.objects.get(account=account)
    assert (change.kind, change.from_user, change.to_user, change.reason) == ("released", org.salesperson, None,
                                                                              "客户已转行")
    assert AuditEvent.objects.filter(action="release", object_id=str(account.pk), note="客户已转行").count() == 1
    assert list(reads.pool_list_for(org.teammate)) == [released]
    assert reads.with_last_owners(list(reads.pool_list_for(org.teammate)))[0].last_owner == org.salesperson


def test_release_needs_a_reason(org, account_factory):
    account = account_factory(org.salesperson)
    with pytest.raises(Invalid) as exc:
        services.pool_release(actor=org.salesperson, account=account, reason="  ")
    assert "reason" in exc.value.errors
    account.refresh_from_db()
    assert account.owner_id == org.salesperson.pk


def test_manager_releases_a_salespersons_account(org, account_factory):
    account = account_factory(org.salesperson)
    services.pool_release(actor=org.manager, account=account, reason="长期不跟进")
    account.refresh_from_db()
    assert account.owner_id is None


def test_teammate_cannot_release_someone_elses_account_and_nothing_changes(org, account_factory):
    account = account_factory(org.salesperson)
    before = fingerprint()
    with pytest.raises(Forbidden):
        services.pool_release(actor=org.teammate, account=account, reason="抢客户")
    assert fingerprint() == before


# --- Automatic return ------------------------------------------------------------------------------
def settings_(**values):
    obj = PoolSettings.current()
    PoolSettings.objects.filter(pk=obj.pk).update(**values)
    return PoolSettings.current()


def test_idle_account_gets_notice_first_then_returns_when_the_time_is_up(org, account_factory):
    settings_(default_return_days=30, notice_days=7)
    account = account_factory(org.salesperson, name="沉睡客户")
    fresh = account_factory(org.salesperson, name="活跃客户")
    idle(account, 24)
    idle(fresh, 2)
    stats = services.pool_return_idle()
    assert stats == {"noticed": 1, "returned": 0}
    account.refresh_from_db()
    assert account.owner_id == org.salesperson.pk and account.pool_notice_at is not None
    note = Notification.objects.get(user=org.salesperson)
    assert "沉睡客户" in note.body and "7" in note.title
    # A second run the same day neither returns it nor repeats the notice.
    assert services.pool_return_idle() == {"noticed": 0, "returned": 0}
    # Seven days on, still idle: back to the pool, audited, in the history, owner told.
    later = timezone.now() + dt.timedelta(days=7, minutes=1)
    assert services.pool_return_idle(now=later) == {"noticed": 0, "returned": 1}
    account.refresh_from_db()
    assert (account.owner_id, account.department_id, account.pool_notice_at) == (None, None, None)
    change = OwnershipChange.objects.get(account=account)
    assert (change.kind, change.from_user, change.to_user, change.actor) == ("returned", org.salesperson, None, None)
    event = AuditEvent.objects.get(action="return", object_id=str(account.pk))
    assert event.actor_name == "system" and event.changes["owner"][1] is None
    assert Notification.objects.filter(user=org.salesperson).count() == 2
    fresh.refresh_from_db()
    assert fresh.owner_id == org.salesperson.pk


def test_a_follow_up_after_the_notice_cancels_the_return(org, account_factory):
    settings_(default_return_days=30, notice_days=7)
    account = account_factory(org.salesperson)
    idle(account, 29)
    services.pool_return_idle()
    account.refresh_from_db()
    assert account.pool_notice_at is not None
    services.account_touch(account.pk)
    account.refresh_from_db()
    assert account.pool_notice_at is None
    assert services.pool_return_idle(now=timezone.now() + dt.timedelta(days=8)) == {"noticed": 0, "returned": 0}
    account.refresh_from_db()
    assert account.owner_id == org.salesperson.pk


def test_activity_recorded_without_clearing_the_notice_still_stops_the_return(org, account_factory):
    settings_(default_return_days=30, notice_days=7)
    account = account_factory(org.salesperson)
    idle(account, 40, notice=10)  # announced 10 days ago …
    Account.objects.filter(pk=account.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=31))
    # … but the last activity (31 days ago) is older than the notice: it returns.
    assert services.pool_return_idle()["returned"] == 1
    other = account_factory(org.salesperson)
    idle(other, 40, notice=10)
    # Activity after the notice (5 days ago) though older than N would be: no return, a new notice later.
    Account.objects.filter(pk=other.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=5))
    assert services.pool_return_idle()["returned"] == 0


def test_grade_sets_its_own_days_before_return(org, account_factory):
    settings_(default_return_days=90, notice_days=5)
    Grade.objects.update_or_create(code="A", defaults={"name": "重点", "min_score": 80, "pool_return_days": 180})
    Grade.objects.update_or_create(code="C", defaults={"name": "一般", "min_score": 40, "pool_return_days": 20})
    Grade.objects.exclude(code__in=["A", "C"]).update(pool_return_days=None)
    a = account_factory(org.salesperson, grade="A")
    c = account_factory(org.salesperson, grade="C")
    plain = account_factory(org.salesperson)
    for account in (a, c, plain):
        idle(account, 100, notice=6)
    stats = services.pool_return_idle()
    assert stats["returned"] == 2
    owners = dict(Account.objects.values_list("pk", "owner_id"))
    assert owners[a.pk] == org.salesperson.pk  # A accounts wait 180 days
    assert owners[c.pk] is None and owners[plain.pk] is None
    assert reads.return_days_for(Account.objects.get(pk=a.pk)) == 180


def test_auto_return_off_does_nothing(org, account_factory):
    settings_(auto_return=False)
    account = account_factory(org.salesperson)
    idle(account, 400, notice=30)
    assert services.pool_return_idle() == {"noticed": 0, "returned": 0}


def test_a_registered_keeper_keeps_accounts_out_of_the_automatic_return(org, account_factory, monkeypatch):
    from django.db.models import Q

    settings_(default_return_days=30, notice_days=7)
    kept = account_factory(org.salesperson, name="有合同的客户")
    gone = account_factory(org.salesperson)
    for account in (kept, gone):
        idle(account, 60, notice=10)
    monkeypatch.setattr(services, "_KEEPERS", [])
    services.register_pool_keeper(lambda now: Q(name="有合同的客户"))
    assert services.pool_return_idle()["returned"] == 1
    assert Account.objects.get(pk=kept.pk).owner_id == org.salesperson.pk


def test_periodic_task_is_registered_and_returns_accounts(org, account_factory):
    from huey.contrib.djhuey import HUEY

    assert any("return_idle_accounts" in name for name in HUEY._registry._registry)
    settings_(default_return_days=30, notice_days=7)
    account = account_factory(org.salesperson)
    idle(account, 60, notice=10)
    services.return_idle_accounts.call_local()
    assert Account.objects.get(pk=account.pk).owner_id is None


def test_return_is_bulk_at_a_few_queries_per_thousand(org, account_factory, django_assert_max_num_queries):
    settings_(default_return_days=30, notice_days=7)
    past = timezone.now() - dt.timedelta(days=60)
    Account.objects.bulk_create([Account(code=f"KH-T-{i:05d}", name=f"批量{i}", owner=org.salesperson,
                                         department=org.east, last_activity_at=past,
                                         pool_notice_at=past + dt.timedelta(days=1)) for i in range(300)])
    with django_assert_max_num_queries(40):
        stats = services.pool_return_idle()
    assert stats["returned"] == 300
    assert OwnershipChange.objects.filter(kind="returned").count() == 300
    assert AuditEvent.objects.filter(action="return").count() == 300


# --- Pages ------------------------------------------------------------------------------------------
def test_pool_page_lists_pool_accounts_with_claim_buttons_and_my_count(org, login, pooled, account_factory):
    pooled(name="公海里的客户", province="上海")
    account_factory(org.salesperson, name="我自己的客户")
    response = login(org.salesperson).get("/accounts/pool/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "公海里的客户" in html and "我自己的客户" not in html
    assert 'data-testid="claim-count"' in html
    assert login(org.salesperson).get("/accounts/pool/?region=北京").content.decode().count("公海里的客户") == 0
    released = account_factory(org.teammate, name="被放弃的客户乙")
    services.pool_release(actor=org.teammate, account=released, reason="不跟了")
    html = login(org.salesperson).get("/accounts/pool/").content.decode()
    row = html[html.index("被放弃的客户乙"):]
    assert str(org.teammate) in row[:row.index("</tr>")]  # the last owner column
    assert login(org.service).get("/accounts/pool/").status_code == 403


def test_claim_button_makes_it_mine_and_second_click_says_it_is_gone(org, login, pooled):
    account = pooled()
    response = login(org.salesperson).post(f"/accounts/pool/{account.pk}/claim/")
    assert response.status_code == 302 and response.url == f"/accounts/{account.pk}/"
    response = login(org.teammate).post(f"/accounts/pool/{account.pk}/claim/", follow=True)
    assert "no longer in the pool" in response.content.decode() or "不在公海" in response.content.decode()
    assert Account.objects.get(pk=account.pk).owner_id == org.salesperson.pk


def test_ownership_tab_shows_history_and_release(org, login, account_factory):
    account = account_factory(org.salesperson)
    services.pool_release(actor=org.salesperson, account=account, reason="放弃")
    services.pool_claim(actor=org.salesperson, account=Account.objects.get(pk=account.pk))
    # The Ownership tab, which the account page loads when it is opened.
    html = login(org.salesperson).get(f"/accounts/{account.pk}/ownership/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="ownership-history"' in html and "放弃" in html
    assert 'data-testid="release-form"' in html and 'data-testid="reassign-form"' not in html
    assert 'data-testid="pool-return-due"' in html
    response = login(org.salesperson).post(f"/accounts/{account.pk}/release/", {"reason": "再放"})
    assert response.status_code == 302
    assert Account.objects.get(pk=account.pk).owner_id is None


def test_pool_settings_page_for_pool_managers_only(org, login):
    current = PoolSettings.current()
    assert login(org.manager).get("/accounts/pool/settings/").status_code == 403
    response = login(org.gm).post("/accounts/pool/settings/", {
        "claim_cap": 5, "default_return_days": 60, "notice_days": 3, "auto_return": "on", "version": current.version})
    assert response.status_code == 302
    assert PoolSettings.current().claim_cap == 5
    response = login(org.gm).post("/accounts/pool/settings/", {
        "claim_cap": 5, "default_return_days": 10, "notice_days": 30, "version": current.version + 1})
    assert response.status_code == 200 and PoolSettings.current().notice_days == 3
    assert AuditEvent.objects.filter(action="update", content_type__model="poolsettings").count() == 1


# --- API ----------------------------------------------------------------------------------------------
def test_api_pool_list_claim_release_and_history(org, api, pooled):
    account = pooled(name="接口公海客户")
    sales = api(org.salesperson)
    listed = sales.get("/api/v1/pool").json()["results"]
    assert [row["id"] for row in listed] == [account.pk]
    response = sales.post(f"/api/v1/pool/{account.pk}/claim")
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == org.salesperson.pk
    assert api(org.teammate).post(f"/api/v1/pool/{account.pk}/claim").status_code == 404
    response = sales.post(f"/api/v1/accounts/{account.pk}/release", {"reason": ""})
    assert response.status_code == 422 and "reason" in response.json()["errors"]
    response = sales.post(f"/api/v1/accounts/{account.pk}/release", {"reason": "不合适"})
    assert response.status_code == 200 and response.json()["owner"] is None
    history = api(org.gm).get(f"/api/v1/accounts/{account.pk}/ownership").json()
    assert [h["kind"] for h in history] == ["released", "claimed"]
    assert history[0]["from_user"] == org.salesperson.pk and history[0]["reason"] == "不合适"
    assert sales.get(f"/api/v1/accounts/{account.pk}/ownership").status_code == 404  # in the pool: not theirs


def test_api_claim_over_the_cap_is_422_and_settings_round_trip(org, api, pooled):
    gm = api(org.gm)
    current = gm.get("/api/v1/pool/settings").json()
    response = gm.put("/api/v1/pool/settings", {"version": current["version"], "claim_cap": 1})
    assert response.status_code == 200 and response.json()["claim_cap"] == 1
    assert gm.put("/api/v1/pool/settings", {"version": current["version"], "claim_cap": 3}).status_code == 409
    assert api(org.manager).put("/api/v1/pool/settings", {"version": 2, "claim_cap": 9}).status_code == 403
    first, second = pooled(), pooled()
    sales = api(org.salesperson)
    assert sales.post(f"/api/v1/pool/{first.pk}/claim").status_code == 200
    response = sales.post(f"/api/v1/pool/{second.pk}/claim")
    assert response.status_code == 422
    assert Account.objects.get(pk=second.pk).owner_id is None
    assert sales.get("/api/v1/pool/settings").json()["claimed_by_me"] == 1
