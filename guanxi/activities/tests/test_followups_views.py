"""Follow-ups in HTML (R3.2): my list and its filters, the detail page, planning one from the
account page, and done / reschedule / reassign / cancel from the account page or the detail
page (stale versions refused, nothing changed). Cadence rules: the administration page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone, translation

from guanxi.activities import services
from guanxi.activities.models import CadenceRule, FollowUp
from guanxi.core.models import AuditEvent, User
from guanxi.customers.models import Account, Contact

pytestmark = pytest.mark.django_db
LIST = "/activities/followups/"


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    """Pages in English (each user's own language decides a page's), to match the messages."""
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def local(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def plan(actor: Any, account: Account, title: str, days: float = 1, **fields: Any) -> FollowUp:
    return services.followup_create(actor=actor, account=account, title=title,
                                    due_at=timezone.now() + dt.timedelta(days=days), **fields)


def titles(client: Any, **params: Any) -> list[str]:
    response = client.get(LIST, params)
    assert response.status_code == 200, response.status_code
    body = response.content.decode()
    return [t for t in ("甲-逾期", "甲-明天", "甲-已完成", "乙-队友", "丙-外部") if t in body]


def test_the_follow_ups_page_is_in_the_menu_and_lists_mine_by_default(org: Any, login: Any,
                                                                      account_factory: Any) -> None:
    mine, theirs = account_factory(org.salesperson), account_factory(org.teammate)
    plan(org.salesperson, mine, "甲-逾期", days=-2)
    plan(org.salesperson, mine, "甲-明天", days=1)
    done = plan(org.salesperson, mine, "甲-已完成", days=3)
    services.followup_complete(actor=org.salesperson, followup=done, outcome="ok")
    plan(org.teammate, theirs, "乙-队友")
    plan(org.outsider, account_factory(org.outsider), "丙-外部")
    sales = login(org.salesperson)
    assert f'href="{LIST}"' in sales.get("/").content.decode()
    assert titles(sales) == ["甲-逾期", "甲-明天"]
    assert titles(sales, state="done") == ["甲-已完成"]
    assert titles(sales, state="all") == ["甲-逾期", "甲-明天", "甲-已完成"]
    assert titles(sales, overdue="1") == ["甲-逾期"]
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    assert titles(sales, due_from=tomorrow, due_to=tomorrow) == ["甲-明天"]
    assert "overdue" in sales.get(LIST).content.decode()
    # A manager looks at a salesperson's list, or everyone's they see; never the south's.
    manager = login(org.manager)
    assert titles(manager) == []
    assert titles(manager, owner=org.teammate.pk) == ["乙-队友"]
    assert titles(manager, owner="all") == ["甲-逾期", "甲-明天", "乙-队友"]
    # A salesperson manages nobody: a colleague's list is refused, not emptied (S4).
    assert sales.get(LIST, {"owner": org.teammate.pk}).status_code == 400
    assert sales.get(LIST, {"state": "someday"}).status_code == 400
    assert titles(sales, owner="all") == ["甲-逾期", "甲-明天"]


def test_detail_page_and_hidden_follow_ups_are_404(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    step = plan(org.salesperson, account, "送样品", contact=boss.pk, notes="<i>带两箱</i>")
    body = login(org.salesperson).get(f"{LIST}{step.pk}/").content.decode()
    assert "送样品" in body and "张总" in body and "&lt;i&gt;带两箱&lt;/i&gt;" in body
    assert f'data-testid="done-{step.pk}"' in body
    assert f"/activities/interactions/new/?account={account.pk}&amp;followup={step.pk}" in body
    for who in (org.outsider, org.south_manager):
        assert login(who).get(f"{LIST}{step.pk}/").status_code == 404
    assert login(org.outsider).get(f"{LIST}999999/").status_code == 404


def test_done_from_the_account_page_with_an_outcome_and_a_next_step(org: Any, login: Any,
                                                                    account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "送样品")
    client = login(org.salesperson)
    here = f"/accounts/{account.pk}/#tab-activities"
    due = timezone.now() + dt.timedelta(days=4)
    response = client.post(f"{LIST}{step.pk}/done/", {"version": step.version, "outcome": "样品已签收", "next": here,
                                                       "next_title": "电话确认", "next_due": local(due)})
    assert response.status_code == 302 and response["Location"] == here
    step.refresh_from_db()
    assert (step.state, step.outcome, step.done_by) == ("done", "样品已签收", org.salesperson)
    nxt = FollowUp.objects.get(account=account, state="open")
    assert nxt.title == "电话确认" and nxt.due_at == due.replace(second=0, microsecond=0)
    page = client.get(here).content.decode()
    assert "电话确认" in page and "Done: 送样品." in page
    # Done again (an old page): refused with a message, nothing changes.
    again = client.post(f"{LIST}{step.pk}/done/", {"version": step.version, "outcome": "重复", "next": here},
                        follow=True)
    assert "already closed" in again.content.decode()
    step.refresh_from_db()
    assert step.outcome == "样品已签收"


def test_done_with_nothing_left_open_lets_the_cadence_plan_the_next_contact(org: Any, login: Any,
                                                                            account_factory: Any) -> None:
    CadenceRule.objects.create(grade="B", interval_days=21)
    account = account_factory(org.salesperson, grade="B")
    step = plan(org.salesperson, account, "回访")
    login(org.salesperson).post(f"{LIST}{step.pk}/done/", {"version": 1})
    nxt = FollowUp.objects.get(account=account, state="open")
    assert nxt.source == "cadence" and (nxt.due_at - timezone.now()).days in (20, 21)


def test_reschedule_checks_the_version(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "回访")
    client = login(org.salesperson)
    later = timezone.now() + dt.timedelta(days=9)
    response = client.post(f"{LIST}{step.pk}/reschedule/", {"version": 1, "due_at": local(later), "note": "客户出差"})
    assert response.status_code == 302 and response["Location"] == f"{LIST}{step.pk}/"
    step.refresh_from_db()
    assert step.due_at == later.replace(second=0, microsecond=0) and step.version == 2
    stale = client.post(f"{LIST}{step.pk}/reschedule/", {"version": 1, "due_at": local(timezone.now())}, follow=True)
    assert "Someone else changed this record" in stale.content.decode()
    bad = client.post(f"{LIST}{step.pk}/reschedule/", {"version": 2, "due_at": "soon"}, follow=True)
    assert "valid date and time" in bad.content.decode()
    step.refresh_from_db()
    assert step.due_at == later.replace(second=0, microsecond=0) and step.version == 2


def test_reassign_offers_only_colleagues_who_see_the_account(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "回访")
    client = login(org.salesperson)
    fragment = client.get(f"{LIST}{step.pk}/reassign/", {"next": "/"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    assert f'value="{org.manager.pk}"' in fragment and f'value="{org.gm.pk}"' in fragment
    for hidden in (org.teammate, org.outsider, org.south_manager, org.marketing):
        assert f'value="{hidden.pk}"' not in fragment, hidden
    assert client.get(f"{LIST}{step.pk}/reassign/").status_code == 200  # the full page without htmx
    refused = client.post(f"{LIST}{step.pk}/reassign/", {"version": 1, "owner": org.teammate.pk}, follow=True)
    assert "cannot see the account" in refused.content.decode()
    step.refresh_from_db()
    assert step.owner == org.salesperson and step.version == 1
    client.post(f"{LIST}{step.pk}/reassign/", {"version": 1, "owner": org.manager.pk, "note": "经理亲自跟"})
    step.refresh_from_db()
    assert step.owner == org.manager
    # The new owner finds it in their list; the old one no longer does.
    assert f'data-testid="followup-row-{step.pk}"' in login(org.manager).get(LIST).content.decode()
    assert f'data-testid="followup-row-{step.pk}"' not in client.get(LIST).content.decode()


def test_cancel(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "回访")
    login(org.salesperson).post(f"{LIST}{step.pk}/cancel/", {"version": 1, "note": "客户已答复"})
    step.refresh_from_db()
    assert step.state == "cancelled"
    assert AuditEvent.objects.filter(object_id=str(step.pk), note="客户已答复").exists()


def test_actions_need_the_change_right_and_scope(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = plan(org.salesperson, account, "回访")
    marketing_account = account_factory(org.marketing)
    theirs = FollowUp.objects.create(account=marketing_account, owner=org.marketing, title="x",
                                     due_at=timezone.now())
    outsider, marketing = login(org.outsider), login(org.marketing)
    events = AuditEvent.objects.count()
    for action in ("done", "reschedule", "reassign", "cancel"):
        assert outsider.post(f"{LIST}{step.pk}/{action}/", {"version": 1}).status_code == 404
        assert marketing.post(f"{LIST}{theirs.pk}/{action}/", {"version": 1}).status_code == 403
    step.refresh_from_db()
    theirs.refresh_from_db()
    assert step.state == theirs.state == "open" and step.version == theirs.version == 1
    assert AuditEvent.objects.count() == events


def test_plan_a_follow_up_from_the_account_page(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    client = login(org.salesperson)
    here = f"/accounts/{account.pk}/#tab-activities"
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert f"/activities/followups/new/?account={account.pk}" in page
    form = client.get(f"{LIST}new/", {"account": account.pk, "next": here}).content.decode()
    assert "张总" in form and f'value="{org.manager.pk}"' in form and f'value="{org.teammate.pk}"' not in form
    due = timezone.now() + dt.timedelta(days=3)
    response = client.post(f"{LIST}new/", {"account": account.pk, "title": "寄合同", "due_at": local(due),
                                           "owner": org.salesperson.pk, "contact": boss.pk, "next": here})
    assert response.status_code == 302 and response["Location"] == here
    step = FollowUp.objects.get()
    assert (step.title, step.contact, step.owner, step.source) == ("寄合同", boss, org.salesperson, "manual")
    # Bad input keeps the form; a hidden account is missing; marketing may not plan.
    assert client.post(f"{LIST}new/", {"account": account.pk, "title": "", "due_at": "",
                                       "owner": org.salesperson.pk}).status_code == 422
    assert login(org.outsider).get(f"{LIST}new/", {"account": account.pk}).status_code == 404
    assert login(org.marketing).get(f"{LIST}new/", {"account": account.pk}).status_code == 403
    assert FollowUp.objects.count() == 1


def test_edit_title_notes_and_contact_with_the_version_read(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    step = plan(org.salesperson, account, "回访")
    client = login(org.salesperson)
    assert client.post(f"{LIST}{step.pk}/edit/", {"version": 1, "title": "上门回访", "notes": "带礼品",
                                                  "contact": boss.pk}).status_code == 302
    step.refresh_from_db()
    assert (step.title, step.notes, step.contact, step.version) == ("上门回访", "带礼品", boss, 2)
    stale = client.post(f"{LIST}{step.pk}/edit/", {"version": 1, "title": "过时", "notes": ""})
    assert stale.status_code == 409
    step.refresh_from_db()
    assert step.title == "上门回访"


def test_cadence_rules_page_for_the_general_manager_only(org: Any, login: Any) -> None:
    gm = login(org.gm)
    assert 'href="/activities/cadence/"' in gm.get("/").content.decode()  # Administration menu
    assert 'href="/activities/cadence/"' not in login(org.manager).get("/").content.decode()
    form = gm.get("/activities/cadence/new/").content.decode()
    assert 'value="A"' in form and 'value="urgent"' in form
    assert gm.post("/activities/cadence/new/", {"grade": "A", "urgency": "urgent", "interval_days": 7,
                                                 "active": "on"}).status_code == 302
    rule = CadenceRule.objects.get()
    assert (rule.grade, rule.urgency, rule.interval_days, rule.active) == ("A", "urgent", 7, True)
    duplicate = gm.post("/activities/cadence/new/", {"grade": "A", "urgency": "urgent", "interval_days": 9})
    assert duplicate.status_code == 422 and "exists already" in duplicate.content.decode()
    assert gm.post("/activities/cadence/new/", {"grade": "Z", "interval_days": 9}).status_code == 422
    assert gm.post("/activities/cadence/new/", {"interval_days": 0}).status_code == 422
    edit = f"/activities/cadence/{rule.pk}/edit/"
    assert gm.post(edit, {"version": 1, "interval_days": 10, "title": "保持联系",
                          "grade": "B"}).status_code == 302  # grade and urgency stay as they are
    rule.refresh_from_db()
    assert (rule.grade, rule.interval_days, rule.title, rule.active) == ("A", 10, "保持联系", False)
    assert gm.post(edit, {"version": 1, "interval_days": 12, "active": "on"}).status_code == 409
    assert "保持联系" in gm.get("/activities/cadence/").content.decode()
    for who in (org.manager, org.salesperson):
        client = login(who)
        assert client.get("/activities/cadence/").status_code == 403
        assert client.post("/activities/cadence/new/", {"interval_days": 3}).status_code == 403
        assert client.post(edit, {"version": 2, "interval_days": 3}).status_code == 403
    assert CadenceRule.objects.count() == 1 and CadenceRule.objects.get().interval_days == 10
