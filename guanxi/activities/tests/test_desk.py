"""My desk (R3.3) and overdue notices (R3.2): the panels, their one-click actions, the panel
registry, the query budget, and the quarter-hourly overdue job with a moved clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from guanxi.activities import tasks
from guanxi.activities.models import DeskPreference, FollowUp
from guanxi.activities.selectors import desk as reads
from guanxi.activities.services.desk import desk_preference_set, followup_notify_overdue
from guanxi.core import desk
from guanxi.core.models import AuditEvent, ChangeRequest, Notification
from guanxi.customers.models import Contact, OwnershipChange

pytestmark = pytest.mark.django_db

# BENCHMARKS.md: no page issues more than 15 queries. The panels' counts and flags come in one
# statement (the desk's facts), their lists one query each; with the session, the user, roles,
# access and the shell's unread badge that is about 12. It must never grow with the rows.
DESK_BUDGET = 15


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    """Messages and pages are checked in English: every persona reads English (pages follow
    the signed-in user's language, notifications the recipient's)."""
    from guanxi.core.models import User

    User.objects.update(language="en")
    with translation.override("en"):
        yield


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


@pytest.fixture
def noon() -> dt.datetime:
    """Noon today, local time: "later today" and "earlier today" both exist."""
    return local(timezone.localdate(), 12)


def followup(account: Any, owner: Any, title: str, due_at: dt.datetime, **fields: Any) -> FollowUp:
    return FollowUp.objects.create(account=account, owner=owner, title=title, due_at=due_at, **fields)


def desk_html(client: Any) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


# --- Follow-ups panel ---------------------------------------------------------------------------
def test_desk_lists_my_overdue_and_todays_follow_ups_only(org, login, account_factory, noon):
    mine = account_factory(org.salesperson, name="宁波港务有限公司")
    theirs = account_factory(org.teammate, name="杭州钢铁有限公司")
    late = followup(mine, org.salesperson, "催回款", timezone.now() - dt.timedelta(days=2))
    later_today = followup(mine, org.salesperson, "送样品", reads.end_of_day(timezone.now()) - dt.timedelta(minutes=1))
    followup(mine, org.salesperson, "下周拜访", timezone.now() + dt.timedelta(days=3))
    followup(theirs, org.teammate, "同事的跟进", timezone.now() - dt.timedelta(days=1))
    followup(mine, org.salesperson, "已完成的", timezone.now() - dt.timedelta(days=1), state=FollowUp.State.DONE)
    html = desk_html(login(org.salesperson))
    assert f'data-testid="desk-followup-{late.pk}"' in html and "催回款" in html
    assert f'data-testid="desk-followup-{later_today.pk}"' in html and "送样品" in html
    assert "下周拜访" not in html and "同事的跟进" not in html and "已完成的" not in html
    assert "1 overdue" in html and "1 due today" in html
    # One click to log a contact for the row's account (the quick-log form of interactions).
    assert f"/activities/interactions/new/?account={mine.pk}" in html


def test_due_followups_split_at_now_and_end_of_day(org, account_factory, noon):
    account = account_factory(org.salesperson)
    morning = followup(account, org.salesperson, "上午", noon - dt.timedelta(hours=3))
    evening = followup(account, org.salesperson, "晚上", noon + dt.timedelta(hours=8))
    followup(account, org.salesperson, "明天", noon + dt.timedelta(hours=13))
    due = reads.due_followups(org.salesperson, noon)
    assert [f.pk for f in due.overdue] == [morning.pk] and due.overdue_count == (1, False)
    assert [f.pk for f in due.today] == [evening.pk] and due.today_count == (1, False)


def test_counts_are_capped_and_rows_limited(org, account_factory, noon):
    account = account_factory(org.salesperson)
    FollowUp.objects.bulk_create([FollowUp(account=account, owner=org.salesperson, title=f"第{i}项",
                                           due_at=noon - dt.timedelta(hours=1, minutes=i))
                                  for i in range(reads.COUNT_CAP + 5)])
    due = reads.due_followups(org.salesperson, noon, limit=10)
    assert len(due.overdue) == 10 and due.overdue_count == (reads.COUNT_CAP, True)
    assert due.overdue[0].title == f"第{reads.COUNT_CAP + 4}项"  # the oldest first


def test_mark_done_from_the_desk_plans_the_cadence_and_is_audited(org, login, account_factory):
    account = account_factory(org.salesperson)
    item = followup(account, org.salesperson, "回访", timezone.now() - dt.timedelta(hours=1))
    response = login(org.salesperson).post(f"/activities/desk/followups/{item.pk}/done/", {"version": item.version})
    assert response.status_code == 302 and response.url == "/"
    item.refresh_from_db()
    assert item.state == FollowUp.State.DONE and item.done_by == org.salesperson
    assert AuditEvent.objects.filter(object_id=str(item.pk), action="update").exists()


def test_htmx_action_answers_with_the_panel_again(org, login, account_factory):
    account = account_factory(org.salesperson)
    done = followup(account, org.salesperson, "打电话", timezone.now() - dt.timedelta(hours=1))
    stays = followup(account, org.salesperson, "发报价", timezone.now() - dt.timedelta(hours=2))
    response = login(org.salesperson).post(f"/activities/desk/followups/{done.pk}/done/",
                                           {"version": done.version}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="desk-followups"' in html and "<html" not in html
    assert 'data-testid="desk-flash"' in html and "Done: 打电话" in html
    assert f"desk-followup-{stays.pk}" in html and f"desk-followup-{done.pk}" not in html


def test_a_stale_desk_action_changes_nothing(org, login, account_factory):
    account = account_factory(org.salesperson)
    item = followup(account, org.salesperson, "回访", timezone.now() - dt.timedelta(hours=1))
    FollowUp.objects.filter(pk=item.pk).update(version=item.version + 1)  # someone else saved meanwhile
    response = login(org.salesperson).post(f"/activities/desk/followups/{item.pk}/done/", {"version": item.version},
                                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "alert-danger" in response.content.decode()
    item.refresh_from_db()
    assert item.state == FollowUp.State.OPEN


def test_snooze_moves_to_tomorrow_morning_and_re_arms_the_overdue_notice(org, login, account_factory):
    account = account_factory(org.salesperson)
    item = followup(account, org.salesperson, "回访", timezone.now() - dt.timedelta(hours=1),
                    overdue_notified_at=timezone.now())
    client = login(org.salesperson)
    client.post(f"/activities/desk/followups/{item.pk}/snooze/", {"version": item.version, "to": "tomorrow"})
    item.refresh_from_db()
    assert item.due_at == local(timezone.localdate() + dt.timedelta(days=1), 9)
    assert item.overdue_notified_at is None
    client.post(f"/activities/desk/followups/{item.pk}/snooze/", {"version": item.version, "to": "week"})
    item.refresh_from_db()
    assert item.due_at == local(timezone.localdate() + dt.timedelta(days=7), 9)
    before = item.version
    client.post(f"/activities/desk/followups/{item.pk}/snooze/", {"version": item.version, "to": "someday"})
    item.refresh_from_db()
    assert item.version == before


def test_the_rows_buttons_post_one_shared_form(org, login, account_factory):
    """Each row's buttons name the panel's one form (its CSRF token written once) and post to
    their own address with the row's version; without JavaScript the browser does the same."""
    account = account_factory(org.salesperson)
    items = [followup(account, org.salesperson, f"回访{i}", timezone.now() - dt.timedelta(hours=i + 1))
             for i in range(3)]
    client = login(org.salesperson)
    html = desk_html(client)
    panel = html[html.index('id="desk-followups"'):].split("</section>")[0]
    assert panel.count('id="desk-followup-actions"') == 1 and panel.count("csrfmiddlewaretoken") == 1
    item = items[0]
    week = f"/activities/desk/followups/{item.pk}/snooze/?to=week"
    assert (f'form="desk-followup-actions" formaction="{week}" hx-post="{week}" name="version" '
            f'value="{item.version}" data-testid="week-{item.pk}"') in panel
    # What the button sends: the shared form's token, its own name and value, to its formaction.
    response = client.post(week, {"version": item.version})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.due_at == local(timezone.localdate() + dt.timedelta(days=7), 9)
    done = f"/activities/desk/followups/{items[1].pk}/done/"
    assert f'formaction="{done}"' in panel
    assert client.post(done, {"version": items[1].version}).status_code == 302
    assert FollowUp.objects.get(pk=items[1].pk).state == FollowUp.State.DONE


def test_hidden_follow_up_answers_404_and_nothing_changes(org, login, account_factory):
    account = account_factory(org.teammate)
    item = followup(account, org.teammate, "同事的回访", timezone.now() - dt.timedelta(hours=1))
    for action, data in (("done", {}), ("snooze", {"to": "tomorrow"})):
        response = login(org.outsider).post(f"/activities/desk/followups/{item.pk}/{action}/",
                                            {"version": item.version, **data})
        assert response.status_code == 404
    item.refresh_from_db()
    assert (item.state, item.version) == (FollowUp.State.OPEN, 1)
    # Marketing may not change follow-ups at all: refused before anything is read.
    assert login(org.marketing).post(f"/activities/desk/followups/{item.pk}/done/").status_code == 403
    assert login(org.salesperson).get(f"/activities/desk/followups/{item.pk}/done/").status_code in (403, 405)


# --- New and pool-returning customers -----------------------------------------------------------------
def test_new_customers_are_those_that_became_mine_this_week(org, login, account_factory, noon):
    fresh = account_factory(org.salesperson, name="新客户甲")
    OwnershipChange.objects.create(account=fresh, to_user=org.salesperson, kind="created", at=noon - dt.timedelta(days=1))
    handed = account_factory(org.salesperson, name="转来的乙")
    OwnershipChange.objects.create(account=handed, from_user=org.teammate, to_user=org.salesperson, kind="reassigned",
                                   at=noon - dt.timedelta(days=3))
    old = account_factory(org.salesperson, name="老客户丙")
    OwnershipChange.objects.create(account=old, to_user=org.salesperson, kind="created", at=noon - dt.timedelta(days=30))
    gone = account_factory(org.teammate, name="又转走的丁")
    OwnershipChange.objects.create(account=gone, to_user=org.salesperson, kind="reassigned", at=noon - dt.timedelta(days=2))
    names = [c.account.name for c in reads.new_accounts(org.salesperson, noon)]
    assert names == ["新客户甲", "转来的乙"]
    html = desk_html(login(org.salesperson))
    assert "新客户甲" in html and "老客户丙" not in html and "又转走的丁" not in html


def test_pool_panel_shows_my_announced_accounts_and_recent_returns(org, login, account_factory, noon):
    from guanxi.customers.models import PoolSettings

    notice_days = PoolSettings.current().notice_days
    announced = account_factory(org.salesperson, name="快回公海的",
                                pool_notice_at=noon - dt.timedelta(days=1))
    account_factory(org.salesperson, name="正常的")
    back = account_factory(None, name="刚回公海的", pool_entered_at=noon - dt.timedelta(days=1))
    OwnershipChange.objects.create(account=back, from_user=org.teammate, kind="returned", at=noon - dt.timedelta(days=1))
    rows = reads.pool_returning(org.salesperson, noon)
    assert [a.name for a in rows] == ["快回公海的"]
    assert rows[0].returns_at == announced.pool_notice_at + dt.timedelta(days=notice_days)
    html = desk_html(login(org.salesperson))
    assert "快回公海的" in html and "刚回公海的" in html and f'data-testid="desk-claim-{back.pk}"' in html
    assert "正常的" not in html


# --- Other panels ----------------------------------------------------------------------------------
def test_notifications_approvals_and_care_appear(org, login, account_factory):
    Notification.objects.create(user=org.salesperson, title="您的授权申请已批准", url="/grants/")
    Notification.objects.create(user=org.teammate, title="别人的通知")
    account = account_factory(org.salesperson, name="生日客户")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    Contact.objects.create(account=account, name="赵总", birthday=tomorrow.replace(year=1980))
    client = login(org.salesperson)
    html = desk_html(client)
    assert "您的授权申请已批准" in html and "别人的通知" not in html
    # Care loads after the page (its birthday read is the slow one): a placeholder fetches it.
    assert 'hx-get="/desk/activities.care/"' in html and "赵总" not in html
    care = client.get("/desk/activities.care/")
    assert care.status_code == 200 and 'data-testid="desk-care"' in care.content.decode()
    assert "赵总" in care.content.decode() and "<html" not in care.content.decode()
    # Someone with no role has no care right: no placeholder, and the panel answers like a missing one.
    from guanxi.core.models import User

    nobody = login(User.objects.create_user(username="intern", password="x", department=org.east))
    assert "activities.care" not in desk_html(nobody)
    assert nobody.get("/desk/activities.care/").status_code == 404
    assert client.get("/desk/no.such-panel/").status_code == 404


def test_a_manager_sees_change_requests_waiting_for_them(org, login, account_factory):
    from django.contrib.contenttypes.models import ContentType

    account = account_factory(org.salesperson, name="待审批客户")
    ChangeRequest.objects.create(content_type=ContentType.objects.get_for_model(account), object_id=str(account.pk),
                                 object_repr=str(account), changes={"name": ["待审批客户", "新名"]},
                                 requested_by=org.salesperson, approver_role="general_manager",
                                 target_version=account.version)
    assert "待审批客户" in desk_html(login(org.gm))
    assert "待审批客户" not in desk_html(login(org.teammate))
    # An access-grant request into the manager's department waits for them, not for the asker.
    from guanxi.core.services.grants import grant_request

    grant_request(actor=org.outsider, reason="协同报价", days=3, department=org.east)
    assert "Access for 周杰 to 华东销售部" in desk_html(login(org.manager))
    assert "Access for 周杰" not in desk_html(login(org.outsider))


def test_every_persona_gets_a_desk(org, login):
    for who in ("salesperson", "manager", "gm", "service", "marketing", "admin"):
        assert 'data-testid="desk"' in desk_html(login(getattr(org, who)))


# --- The panel registry ------------------------------------------------------------------------------
def test_apps_add_panels_in_order_and_a_provider_may_hide_its_panel(org, login):
    seen: list[Any] = []

    def provider(user: Any, now: dt.datetime) -> dict[str, Any] | None:
        seen.append(now)
        return {"count": 1} if user.has_role("general_manager") else None

    desk.register("test.first", template="core/desk_accounts.html", order=1, width="full")(provider)
    try:
        keys = [p.key for p in desk.panels()]
        assert keys[0] == "test.first" and keys.index("activities.followups") < keys.index("core.approvals")
        assert next(s.key for s in desk.panels_for(org.gm)) == "test.first"
        assert "test.first" not in [s.key for s in desk.panels_for(org.salesperson)]
        assert 'data-testid="panel-test.first"' in desk_html(login(org.gm))
        with pytest.raises(ValueError):
            desk.register("test.bad", template="x.html", width="huge")
        # A lazy panel: only a placeholder on the page; its provider runs when it is fetched.
        desk.register("test.slow", template="core/desk_accounts.html", lazy=True,
                      visible=lambda user: user.has_role("general_manager"))(provider)
        seen.clear()
        gm = login(org.gm)
        assert 'hx-get="/desk/test.slow/"' in desk_html(gm) and len(seen) == 1  # test.first only
        assert 'data-testid="account-count"' in gm.get("/desk/test.slow/").content.decode()
        assert "test.slow" not in desk_html(login(org.salesperson))
        assert login(org.salesperson).get("/desk/test.slow/").status_code == 404
    finally:
        desk.unregister("test.first")
        desk.unregister("test.slow")
    assert "test.first" not in [p.key for p in desk.panels()]


def test_the_panels_facts_come_in_one_statement(org, login, account_factory, noon):
    """Every panel's counts and flags are columns of one SELECT; a panel fetched on its own
    (or a provider called directly) reads its fact alone."""
    account = account_factory(org.salesperson)
    followup(account, org.salesperson, "逾期", noon - dt.timedelta(days=1))
    followup(account, org.salesperson, "今天", noon + dt.timedelta(minutes=5))
    asked: list[str] = []

    @desk.fact("test.counter")
    def counter(user: Any, now: dt.datetime) -> dict[str, Any] | None:
        asked.append(user.username)
        if not user.has_role("salesperson"):
            return None
        return {"mine": desk.CappedCount(FollowUp.objects.filter(owner_id=user.pk), 1)}

    try:
        with CaptureQueriesContext(connection) as ctx:
            shown = desk.panels_for(org.salesperson, noon)
        facts = [q["sql"] for q in ctx.captured_queries if "fact_0" in q["sql"]]
        assert len(facts) == 1 and asked == ["sales"]
        assert "activities_followup" in facts[0] and "activities_deskpreference" in facts[0]
        panel = next(p for p in shown if p.key == "activities.followups")
        assert panel.context["due"].overdue_count == (1, False) and panel.context["due"].today_count == (1, False)
        # Outside the desk: one query for the one fact; a capped count says "more than".
        with CaptureQueriesContext(connection) as ctx:
            assert desk.facts(org.salesperson, noon, "test.counter") == {"mine": 2}
        assert len(ctx.captured_queries) == 1
        assert desk.capped(2, 1) == (1, True) and desk.capped(None, 1) == (0, False)
        assert desk.facts(org.manager, noon, "test.counter") is None
        assert desk.facts(org.salesperson, noon, "test.unknown") is None
    finally:
        desk.unregister_fact("test.counter")


def test_a_panel_provided_outside_the_desk_reads_its_facts_itself(org, account_factory, noon):
    account = account_factory(org.salesperson)
    followup(account, org.salesperson, "逾期", noon - dt.timedelta(days=1))
    panel = desk.get("activities.followups")
    assert panel is not None
    context = panel.provide(org.salesperson, noon)
    assert context is not None and context["due"].overdue_count == (1, False)
    assert [f.title for f in context["rows"]] == ["逾期"] and context["rows"][0].overdue_row


# --- Speed: no N+1 ----------------------------------------------------------------------------------
def _fill(org: Any, account_factory: Any, n: int, tag: str) -> None:
    now = timezone.now()
    for i in range(n):
        account = account_factory(org.salesperson, name=f"{tag}客户{i}", pool_notice_at=now - dt.timedelta(days=1))
        person = Contact.objects.create(account=account, name=f"{tag}联系人{i}",
                                        birthday=(timezone.localdate() + dt.timedelta(days=1)).replace(year=1985))
        followup(account, org.salesperson, f"{tag}逾期{i}", now - dt.timedelta(hours=i + 1), contact=person)
        followup(account, org.salesperson, f"{tag}今天{i}", min(now + dt.timedelta(minutes=i + 1),
                                                              reads.end_of_day(now) - dt.timedelta(seconds=1)))
        OwnershipChange.objects.create(account=account, to_user=org.salesperson, kind="created", at=now)
        pool = account_factory(None, name=f"{tag}公海{i}")
        OwnershipChange.objects.create(account=pool, from_user=org.teammate, kind="returned", at=now)
        Notification.objects.create(user=org.salesperson, title=f"{tag}通知{i}", url="/")


def _count(client: Any) -> int:
    client.get("/")  # warm: content types, session, language
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    return len(ctx.captured_queries)


def test_the_desk_costs_the_same_queries_however_many_rows(org, login, account_factory):
    client = login(org.salesperson)
    empty = _count(client)  # nothing to list: the facts say so, and the lists are not asked
    _fill(org, account_factory, 2, "少")
    few = _count(client)
    _fill(org, account_factory, 10, "多")
    full = _count(client)  # 12 of each: the panels are full, the counts capped
    _fill(org, account_factory, 10, "更多")
    more = _count(client)
    assert empty < few == full == more, (empty, few, full, more)
    assert full <= DESK_BUDGET, full
    html = desk_html(client)
    assert "22 overdue" in html and "22 due today" in html and "All overdue follow-ups" in html
    care = client.get("/desk/activities.care/")  # the lazy panel, on its own
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/desk/activities.care/").status_code == 200
    assert len(ctx.captured_queries) <= 10 and care.content.decode().count("<li>") == 10


# --- The digest switch ------------------------------------------------------------------------------
def test_digest_switch_is_personal_and_audited(org, login):
    client = login(org.salesperson)
    assert reads.wants_digest(org.salesperson)  # on by default
    assert client.post("/activities/desk/digest/", {"morning_digest": "0"}).status_code == 302
    assert not reads.wants_digest(org.salesperson) and reads.wants_digest(org.teammate)
    assert 'data-testid="digest-on"' in desk_html(client)
    assert AuditEvent.objects.filter(action="update", changes__morning_digest=[True, False]).count() == 1
    client.post("/activities/desk/digest/", {"morning_digest": "1"})
    assert DeskPreference.objects.get(user=org.salesperson).morning_digest is True
    desk_preference_set(actor=org.salesperson, morning_digest=True)  # no change, no audit row
    assert AuditEvent.objects.filter(content_type__model="deskpreference").count() == 2


# --- Overdue notices --------------------------------------------------------------------------------
def test_overdue_follow_ups_are_announced_once_per_owner_with_a_link(org, account_factory, noon):
    account = account_factory(org.salesperson, name="宁波港务")
    other = account_factory(org.teammate, name="杭州钢铁")
    a = followup(account, org.salesperson, "回访", noon + dt.timedelta(hours=1))
    b = followup(account, org.salesperson, "报价", noon + dt.timedelta(hours=2))
    c = followup(other, org.teammate, "送样", noon + dt.timedelta(hours=1))
    followup(account, org.salesperson, "已完成", noon - dt.timedelta(hours=1), state=FollowUp.State.DONE)
    assert followup_notify_overdue(now=noon) == 0  # nothing is overdue yet
    assert Notification.objects.count() == 0
    later = noon + dt.timedelta(hours=3)  # the clock moves on
    assert followup_notify_overdue(now=later) == 3
    mine = Notification.objects.get(user=org.salesperson)
    assert mine.title == "2 follow-ups are overdue" and mine.url == "/activities/followups/?overdue=1"
    assert "宁波港务 · 回访" in mine.body and "宁波港务 · 报价" in mine.body
    assert Notification.objects.get(user=org.teammate).title == "1 follow-up is overdue"
    assert {f.overdue_notified_at for f in FollowUp.objects.filter(pk__in=[a.pk, b.pk, c.pk])} == {later}
    # A second run tells nobody again.
    assert followup_notify_overdue(now=later + dt.timedelta(minutes=15)) == 0
    assert Notification.objects.count() == 2


def test_one_notice_per_owner_per_run_across_batches_in_their_language(org, account_factory, noon):
    org.teammate.language = "zh-hans"
    org.teammate.save(update_fields=["language"])
    org.salesperson.language = "en"
    org.salesperson.save(update_fields=["language"])
    account = account_factory(org.salesperson)
    for i in range(7):
        followup(account, org.salesperson, f"第{i}项", noon - dt.timedelta(minutes=i + 1))
    followup(account_factory(org.teammate), org.teammate, "同事的", noon - dt.timedelta(minutes=1))
    assert followup_notify_overdue(now=noon, batch=3) == 8
    mine = Notification.objects.get(user=org.salesperson)
    assert mine.title == "7 follow-ups are overdue" and "and 2 more" in mine.body
    with translation.override("zh-hans"):
        from django.utils.translation import ngettext

        expected = ngettext("%(count)d follow-up is overdue", "%(count)d follow-ups are overdue", 1) % {"count": 1}
    assert Notification.objects.get(user=org.teammate).title == expected


def test_rescheduled_or_deleted_follow_ups_and_inactive_owners(org, account_factory, noon):
    account = account_factory(org.salesperson)
    item = followup(account, org.salesperson, "回访", noon - dt.timedelta(hours=1))
    followup_notify_overdue(now=noon)
    # Rescheduling clears the mark (services.followup_reschedule): overdue again later, told again.
    FollowUp.objects.filter(pk=item.pk).update(due_at=noon + dt.timedelta(hours=1), overdue_notified_at=None)
    assert followup_notify_overdue(now=noon + dt.timedelta(hours=2)) == 1
    assert Notification.objects.filter(user=org.salesperson).count() == 2
    # An account in the recycle bin raises nothing; an inactive owner gets no notice.
    binned = account_factory(org.salesperson, deleted_at=noon)
    followup(binned, org.salesperson, "回收站里的", noon - dt.timedelta(hours=1))
    org.teammate.is_active = False
    org.teammate.save(update_fields=["is_active"])
    followup(account_factory(org.teammate), org.teammate, "离职同事的", noon - dt.timedelta(hours=1))
    assert followup_notify_overdue(now=noon + dt.timedelta(hours=3)) == 1
    assert not Notification.objects.filter(user=org.teammate).exists()


def test_the_periodic_task_runs_on_the_real_queue(org, account_factory, run_queue):
    account = account_factory(org.salesperson)
    followup(account, org.salesperson, "回访", timezone.now() - dt.timedelta(minutes=5))
    tasks.notify_overdue_followups()  # enqueue, as the scheduler does
    assert run_queue() == 1
    assert Notification.objects.filter(user=org.salesperson).count() == 1


def test_digest_schedule_fires_at_local_time():
    validate = tasks.at_local_time("07:30")
    from huey.contrib.djhuey import HUEY

    at = timezone.make_aware(dt.datetime(2026, 3, 2, 7, 30))  # 07:30 in guanxi's time zone
    naive = at.astimezone(dt.UTC).replace(tzinfo=None) if HUEY.utc else at.replace(tzinfo=None)
    assert validate(naive) is True
    assert validate(naive + dt.timedelta(minutes=1)) is False
    assert validate(at) is True  # an aware time is taken as it is
