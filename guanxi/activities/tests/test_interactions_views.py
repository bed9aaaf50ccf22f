"""Interactions in the browser's HTML (R3.1): the quick-log form from the account page, the
detail page with edit (409 on a stale version) and delete, the list with its filters, and
the account page's "Contacts & follow-ups" tab. Scope: hidden = 404; marketing may not log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from guanxi.activities import selectors, services
from guanxi.activities.models import CadenceRule, FollowUp, Interaction
from guanxi.core.models import AuditEvent, User
from guanxi.customers.models import Account, AccountAttachment, Contact

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NEW = "/activities/interactions/new/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def _english(org: Any) -> Iterator[None]:
    """Pages in English (each user's own language decides a page's), to match the messages."""
    User.objects.update(language="en")
    with translation.override("en"):
        yield


def local(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def log(client: Any, account: Account, **fields: Any) -> Any:
    data = {"account": account.pk, "kind": "visit", "purpose": "information", **fields}
    return client.post(NEW, data)


def test_salesperson_logs_a_visit_from_the_account_page_in_two_clicks(org: Any, login: Any,
                                                                      account_factory: Any) -> None:
    CadenceRule.objects.create(grade="A", urgency="urgent", interval_days=7)
    account = account_factory(org.salesperson, grade="A", urgency="urgent")
    client = login(org.salesperson)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert f'href="{NEW}?account={account.pk}"' in page  # click one: "Log contact"
    assert 'data-testid="activities-tab"' in page and "Contacts &amp; follow-ups" in page
    form = client.get(NEW, {"account": account.pk})
    assert form.status_code == 200
    body = form.content.decode()
    assert 'data-testid="quick-log"' in body and 'value="visit"' in body
    assert 'id="id_kind_0" value="visit" autocomplete="off" checked' in body  # a visit unless chosen
    before = timezone.now()
    response = log(client, account, summary="拜访张总，谈明年框架协议")  # click two: "Save contact"
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/{account.pk}/#tab-activities"
    visit = Interaction.objects.get(account=account)
    assert (visit.kind, visit.purpose, visit.owner) == ("visit", "information", org.salesperson)
    assert before <= visit.occurred_at <= timezone.now()  # "when" defaults to now
    account.refresh_from_db()
    assert account.last_activity_at == visit.occurred_at
    planned = FollowUp.objects.get(account=account, state="open")
    assert planned.source == "cadence" and planned.due_at == visit.occurred_at + dt.timedelta(days=7)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    panel = page[page.index('data-testid="activities-panel"'):]
    assert "拜访张总" in panel and f'data-testid="followup-{planned.pk}"' in panel
    assert timezone.localtime(planned.due_at).strftime("%Y-%m-%d %H:%M") in panel


def test_quick_log_takes_people_files_a_new_upload_a_gift_and_the_next_step(org: Any, login: Any,
                                                                            account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总", title="总经理")
    Contact.objects.create(account=account, name="李会计")
    old_file = AccountAttachment.objects.create(account=account, kind="other", file="attachments/a.pdf",
                                                original_name="报价单.pdf", content_type="application/pdf", size=10,
                                                uploaded_by=org.salesperson)
    client = login(org.salesperson)
    form = client.get(NEW, {"account": account.pk}).content.decode()
    for text in ("张总 · 总经理", "李会计", "报价单.pdf", str(org.teammate), 'name="upload"', 'name="next_title"'):
        assert text in form, text
    when = timezone.now() - dt.timedelta(hours=3)
    due = timezone.now() + dt.timedelta(days=2)
    response = client.post(NEW, {
        "account": account.pk, "kind": "meeting", "purpose": "deal", "occurred_at": local(when),
        "subject": "年度框架", "summary": "谈妥价格", "outcome": "同意试单", "agreements": "单价95元\n月底前下单",
        "their_people": [boss.pk], "our_people": [org.teammate.pk], "attachments": [old_file.pk],
        "upload": SimpleUploadedFile("会议纪要.pdf", PDF, content_type="application/pdf"), "upload_kind": "agreement",
        "gift": "茶叶", "gift_value": "300.00", "next_title": "寄送合同", "next_due": local(due),
    })
    body = response.content.decode()
    assert response.status_code == 302, [body[i:i + 200] for i in range(len(body)) if body.startswith("invalid-feedback", i)]
    meeting = Interaction.objects.get(account=account)
    assert (meeting.subject, meeting.outcome, meeting.gift, str(meeting.gift_value)) == ("年度框架", "同意试单", "茶叶",
                                                                                       "300.00")
    assert meeting.occurred_at == when.replace(second=0, microsecond=0)
    assert list(meeting.their_people.all()) == [boss]
    assert list(meeting.our_people.all()) == [org.teammate]
    assert {a.original_name for a in meeting.attachments.all()} == {"报价单.pdf", "会议纪要.pdf"}
    uploaded = AccountAttachment.objects.get(original_name="会议纪要.pdf")
    assert uploaded.account == account and uploaded.kind == "agreement"
    step = FollowUp.objects.get(account=account)
    assert (step.title, step.source, step.interaction) == ("寄送合同", "manual", meeting)
    assert step.due_at == due.replace(second=0, microsecond=0)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"summary": ""}, "summary", "Write what was said or done."),
    ({"summary": "x", "kind": "telepathy"}, "kind", "Select a valid choice"),
    ({"summary": "x", "occurred_at": "2099-01-01T10:00"}, "occurred_at", "cannot be logged in the future"),
    ({"summary": "x", "next_due": "2030-01-01T10:00"}, "next_title", "Write the next step."),
    ({"summary": "x", "next_title": "回访"}, "next_due", "Choose when it is due."),
    ({"summary": "x", "gift_value": "-5"}, "gift_value", "greater than or equal to 0"),
])
def test_bad_input_keeps_the_form_with_a_message_and_changes_nothing(org: Any, login: Any, account_factory: Any,
                                                                     fields: dict[str, str], field: str,
                                                                     message: str) -> None:
    account = account_factory(org.salesperson)
    response = log(login(org.salesperson), account, **fields)
    assert response.status_code == 422
    body = response.content.decode()
    assert f'data-testid="error-{field}"' in body and message in body
    assert not Interaction.objects.exists() and not FollowUp.objects.exists()


def test_a_refused_upload_logs_nothing_and_stores_nothing(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    response = log(login(org.salesperson), account, summary="带了文件",
                   upload=SimpleUploadedFile("脚本.html", b"<script>alert(1)</script>", content_type="text/html"))
    assert response.status_code == 422
    assert 'data-testid="error-upload"' in response.content.decode()
    assert not Interaction.objects.exists() and not AccountAttachment.all_objects.exists()


def test_htmx_gets_only_the_form_so_the_desk_can_load_it(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    response = login(org.salesperson).get(NEW, {"account": account.pk, "next": "/"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.count('data-testid="quick-log"') == 1 and 'name="next" value="/"' in body


def test_next_must_stay_on_this_site(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    client = login(org.salesperson)
    assert log(client, account, summary="a", next="https://evil.example/").headers["Location"] == \
        f"/accounts/{account.pk}/#tab-activities"
    assert log(client, account, summary="b", next="/activities/followups/").headers["Location"] == "/activities/followups/"


def test_logging_from_a_follow_up_marks_it_done(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    step = services.followup_create(actor=org.salesperson, account=account, title="回访",
                                    due_at=timezone.now() + dt.timedelta(hours=1))
    client = login(org.salesperson)
    assert "Saving marks the follow-up" in client.get(NEW, {"account": account.pk, "followup": step.pk}).content.decode()
    assert log(client, account, followup=step.pk, summary="电话回访完成").status_code == 302
    step.refresh_from_db()
    assert step.state == "done" and step.outcome == "电话回访完成" and step.done_by == org.salesperson
    other = account_factory(org.salesperson)
    elsewhere = services.followup_create(actor=org.salesperson, account=other, title="x", due_at=timezone.now())
    assert log(client, account, followup=elsewhere.pk, summary="wrong").status_code == 404


def test_another_departments_salesperson_gets_404_and_nothing_is_logged(org: Any, login: Any,
                                                                         account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    visit = services.interaction_create(actor=org.salesperson, account=account, kind="visit", summary="已拜访")
    outsider = login(org.outsider)
    assert outsider.get(NEW, {"account": account.pk}).status_code == 404
    assert log(outsider, account, summary="偷偷记").status_code == 404
    assert outsider.get(NEW, {"account": 999999}).status_code == 404  # hidden looks like missing
    for path in (f"/activities/interactions/{visit.pk}/", f"/activities/interactions/{visit.pk}/edit/"):
        assert outsider.get(path).status_code == 404
    assert "已拜访" not in outsider.get("/activities/interactions/").content.decode()
    assert Interaction.objects.count() == 1


def test_marketing_may_not_log_contacts_and_sees_no_button(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.marketing)  # marketing sees its own department's accounts
    client = login(org.marketing)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="activities-panel"' in page and 'data-testid="log-contact"' not in page
    events = AuditEvent.objects.count()
    assert log(client, account, summary="市场部").status_code == 403
    assert client.get(NEW, {"account": account.pk}).status_code == 403
    assert not Interaction.objects.exists() and AuditEvent.objects.count() == events


def test_a_service_agent_logs_a_contact_but_cannot_upload_to_the_customer_file(org: Any, login: Any,
                                                                               account_factory: Any) -> None:
    account = account_factory(org.service)
    client = login(org.service)
    form = client.get(NEW, {"account": account.pk}).content.decode()
    assert 'name="upload"' not in form
    assert log(client, account, kind="call", purpose="service", summary="售后回访").status_code == 302
    assert Interaction.objects.get().purpose == "service"


def test_detail_shows_everything_and_links_history(org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    visit = services.interaction_create(actor=org.salesperson, account=account, kind="visit", purpose="care",
                                        summary="<b>生日</b>问候", their_people=[boss.pk], gift="蛋糕",
                                        next_step={"title": "送样品", "due_at": timezone.now() + dt.timedelta(days=1)})
    body = login(org.manager).get(f"/activities/interactions/{visit.pk}/").content.decode()
    assert "&lt;b&gt;生日&lt;/b&gt;问候" in body and "<b>生日" not in body
    assert "张总" in body and "蛋糕" in body and "送样品" in body
    assert f'href="/history/activities.interaction/{visit.pk}/"' in body
    assert login(org.manager).get(f"/history/activities.interaction/{visit.pk}/").status_code == 200


def test_edit_saves_with_the_version_read_and_a_stale_one_is_a_conflict(org: Any, login: Any,
                                                                         account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    boss = Contact.objects.create(account=account, name="张总")
    visit = services.interaction_create(actor=org.salesperson, account=account, kind="visit", summary="初次拜访")
    client = login(org.salesperson)
    form = client.get(f"/activities/interactions/{visit.pk}/edit/").content.decode()
    assert 'name="version"' in form and "初次拜访" in form
    data = {"version": 1, "kind": "call", "purpose": "deal", "occurred_at": local(visit.occurred_at),
            "summary": "改为电话", "their_people": [boss.pk]}
    assert client.post(f"/activities/interactions/{visit.pk}/edit/", data).status_code == 302
    visit.refresh_from_db()
    assert (visit.kind, visit.summary, visit.version) == ("call", "改为电话", 3)  # fields, then the people
    assert list(visit.their_people.all()) == [boss]
    stale = client.post(f"/activities/interactions/{visit.pk}/edit/", {**data, "summary": "过时的修改"})
    assert stale.status_code == 409
    assert "Someone else changed this record" in stale.content.decode()
    visit.refresh_from_db()
    assert visit.summary == "改为电话"


def test_delete_moves_to_the_recycle_bin_and_needs_the_delete_right(org: Any, login: Any,
                                                                    account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    visit = services.interaction_create(actor=org.salesperson, account=account, kind="visit", summary="拜访")
    assert 'data-testid="delete-interaction"' not in login(org.salesperson).get(
        f"/activities/interactions/{visit.pk}/").content.decode()
    assert login(org.salesperson).post(f"/activities/interactions/{visit.pk}/delete/").status_code == 403
    assert Interaction.objects.filter(pk=visit.pk).exists()
    response = login(org.manager).post(f"/activities/interactions/{visit.pk}/delete/", {"version": 1})
    assert response.status_code == 302 and response["Location"] == f"/accounts/{account.pk}/#tab-activities"
    assert not Interaction.objects.filter(pk=visit.pk).exists()
    assert Interaction.all_objects.get(pk=visit.pk).deleted_by == org.manager
    assert login(org.manager).get(f"/activities/interactions/{visit.pk}/").status_code == 404


def test_the_list_filters_by_kind_purpose_dates_and_a_colleague_one_manages(org: Any, login: Any,
                                                                            account_factory: Any) -> None:
    mine, theirs = account_factory(org.salesperson), account_factory(org.teammate)
    now = timezone.now()
    services.interaction_create(actor=org.salesperson, account=mine, kind="visit", purpose="deal", summary="甲-拜访",
                                occurred_at=now - dt.timedelta(days=10))
    services.interaction_create(actor=org.salesperson, account=mine, kind="call", purpose="care", summary="甲-电话")
    services.interaction_create(actor=org.teammate, account=theirs, kind="call", purpose="care", summary="乙-电话")
    sales, manager = login(org.salesperson), login(org.manager)

    def rows(client: Any, **params: Any) -> set[str]:
        body = client.get("/activities/interactions/", params).content.decode()
        return {s for s in ("甲-拜访", "甲-电话", "乙-电话") if s in body}

    assert rows(sales) == {"甲-拜访", "甲-电话"}
    assert rows(manager) == {"甲-拜访", "甲-电话", "乙-电话"}
    assert rows(manager, kind="call") == {"甲-电话", "乙-电话"}
    assert rows(manager, purpose="deal") == {"甲-拜访"}
    assert rows(manager, owner=org.teammate.pk) == {"乙-电话"}
    since = timezone.localdate() - dt.timedelta(days=2)
    assert rows(manager, **{"from": since.isoformat()}) == {"甲-电话", "乙-电话"}
    assert rows(manager, to=(since - dt.timedelta(days=1)).isoformat()) == {"甲-拜访"}
    assert rows(manager, account=mine.pk) == {"甲-拜访", "甲-电话"}
    # Filtering by a colleague one does not manage would reveal their work: refused (S4).
    assert sales.get("/activities/interactions/", {"owner": org.teammate.pk}).status_code == 400
    assert sales.get("/activities/interactions/", {"from": "yesterday"}).status_code == 400
    assert rows(login(org.outsider)) == set()


def test_the_account_tab_shows_recent_contacts_and_open_follow_ups_to_whoever_sees_the_account(
        org: Any, login: Any, account_factory: Any) -> None:
    account = account_factory(org.salesperson)
    services.interaction_create(actor=org.salesperson, account=account, kind="call", summary="电话沟通")
    step = services.followup_create(actor=org.salesperson, account=account, title="上门拜访",
                                    due_at=timezone.now() - dt.timedelta(days=1))
    body = login(org.manager).get(f"/accounts/{account.pk}/").content.decode()
    panel = body[body.index('data-testid="activities-panel"'):]
    assert "电话沟通" in panel and "上门拜访" in panel and "overdue" in panel
    assert f'data-testid="done-{step.pk}"' in panel and f'data-testid="reassign-{step.pk}"' in panel
    assert login(org.outsider).get(f"/accounts/{account.pk}/").status_code == 404


def test_the_tab_and_the_timeline_each_read_interactions_once_and_follow_ups_once(
        org: Any, login: Any, account_factory: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = account_factory(org.salesperson)
    start = timezone.now() - dt.timedelta(days=200)
    done = FollowUp.objects.bulk_create([
        FollowUp(account=account, owner=org.salesperson, title=f"已办{i:02d}", due_at=start, state="done",
                 done_at=start + dt.timedelta(days=i), done_by=org.salesperson, outcome=f"结果{i:02d}")
        for i in range(55)])
    for i in range(3):
        services.followup_create(actor=org.salesperson, account=account, title=f"待办{i}",
                                 due_at=timezone.now() + dt.timedelta(days=3 - i))
    for i in range(12):
        services.interaction_create(actor=org.salesperson, account=account, kind="call", summary=f"通话{i:02d}",
                                    occurred_at=timezone.now() - dt.timedelta(hours=12 - i))
    client = login(org.manager)
    # The page (its tab) and the Timeline tab, which the page loads when it is opened.
    bodies = []
    for path, extra in ((f"/accounts/{account.pk}/", {}), (f"/accounts/{account.pk}/timeline/",
                                                            {"HTTP_HX_REQUEST": "true"})):
        client.get(path, **extra)
        with CaptureQueriesContext(connection) as ctx:
            bodies.append(client.get(path, **extra).content.decode())
        sql = [q["sql"] for q in ctx.captured_queries]
        for table in ("activities_interaction", "activities_followup"):
            assert len([s for s in sql if s.startswith(f'SELECT "{table}"')]) == 1, (path, table)
    body, timeline = bodies
    panel = body[body.index('data-testid="activities-panel"'):body.index('id="tab-timeline"')]
    assert [t for t in ("待办2", "待办1", "待办0") if t in panel] == ["待办2", "待办1", "待办0"]
    assert panel.index("待办2") < panel.index("待办1") < panel.index("待办0")  # soonest due first
    assert "通话11" in panel and "通话02" in panel and "通话01" not in panel  # the newest ten
    assert "已办" not in panel
    assert 'data-testid="timeline"' in timeline
    assert "结果54" in timeline and "结果04" not in timeline
    open_ones, newest_done = selectors.page_followups(Account.objects.get(pk=account.pk))
    assert [f.title for f in open_ones] == ["待办2", "待办1", "待办0"]
    assert [f.pk for f in newest_done] == [f.pk for f in done[::-1][:50]]  # the newest fifty done
