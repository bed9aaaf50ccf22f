"""Case pages: the list (tabs, filters, sorting, scope), one case (owner's actions, read-only
for others), the actions, the customer's public page, the desk panels, the account's Service
tab and timeline."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone, translation

from guanxi.core.models import User
from guanxi.service.models import Case, CaseEvent, Handover
from guanxi.service.services import cases as services
from guanxi.service.services import handovers
from guanxi.service.tests.cases_support import S, advance, category, fresh, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org):
    User.objects.update(language="en")
    with translation.override("en"):
        yield


@pytest.fixture
def account(org, account_factory):
    return account_factory(org.salesperson, name="华东机械有限公司")


def listed(client, query: str = "") -> list[str]:
    response = client.get("/service/cases/" + query)
    assert response.status_code == 200, response.content[:500]
    return [c.title for c in response.context["rows"]]


# --- The list ------------------------------------------------------------------------------
def test_the_list_is_scoped(org, login, account, account_factory):
    make_case(org.service, title="客户的投诉", account=account)
    make_case(org.service2, title="同事的投诉", account=account_factory(org.marketing))
    make_case(org.outsider, title="华南的投诉", account=account_factory(org.outsider))
    make_case(org.service_manager, title="未匹配的来信")  # unmatched, the manager's own
    make_case(org.service2, title="同事的未匹配来信")
    assert set(listed(login(org.service))) == {"客户的投诉"}
    assert set(listed(login(org.service_lead))) == {"客户的投诉", "同事的投诉"}
    assert set(listed(login(org.salesperson))) == {"客户的投诉"}  # their customer's case
    assert set(listed(login(org.outsider))) == {"华南的投诉"}
    assert set(listed(login(org.service_manager))) == {"客户的投诉", "同事的投诉", "未匹配的来信", "同事的未匹配来信"}
    assert len(listed(login(org.gm))) == 5
    assert login(org.admin).get("/service/cases/").status_code == 403  # no service rights


def test_tabs_and_filters(org, login, account, account_factory):
    drink = category("交付延误")
    old = timezone.now() - dt.timedelta(days=30)
    elsewhere = account_factory(org.marketing)  # a customer nobody here owns: the cases' reach decides
    make_case(org.service, title="投诉A", account=account, category=drink, severity="high", channel="web",
              received_at=old)
    make_case(org.service, title="建议B", kind="suggestion", sender_name="李雷", sender_phone="13912345678",
              account=elsewhere)
    make_case(org.service, title="工单C", kind="ticket", ticket_type="repair", account=elsewhere)
    other = make_case(org.service2, title="同事的D", account=elsewhere)
    advance(make_case(org.service, title="已解决E", account=elsewhere), org.service, S.RESOLVED)
    client = login(org.service_lead)
    assert set(listed(client)) == {"投诉A", "建议B", "工单C", "同事的D"}  # open ones by default
    assert listed(client, "?kind=suggestion") == ["建议B"]
    assert listed(client, "?kind=ticket") == ["工单C"]
    assert set(listed(client, "?status=closed")) == {"已解决E"}
    assert len(listed(client, "?status=")) == 5
    assert set(listed(client, "?status=&state=resolved")) == {"已解决E"}
    assert listed(client, f"?category={drink.pk}") == ["投诉A"]
    assert listed(client, "?severity=high") == ["投诉A"]
    assert listed(client, "?channel=web") == ["投诉A"]
    assert listed(client, f"?account={account.pk}") == ["投诉A"]
    assert set(listed(client, "?unmatched=1")) == set()  # a team leader does not see unmatched senders
    assert listed(client, "?q=李雷") == ["建议B"]
    assert listed(client, "?q=lilei") == ["建议B"]
    assert listed(client, "?q=345678") == ["建议B"]
    assert listed(client, f"?q={other.code}") == ["同事的D"]
    assert "同事的D" not in listed(client, "?mine=1")
    assert set(listed(client, "?team=1")) == {"投诉A", "建议B", "工单C", "同事的D"}
    assert listed(login(org.gm), "?team=1") == []  # the general manager is in no team
    since = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    assert "投诉A" not in listed(client, f"?received_from={since}")
    assert listed(client, f"?received_to={(old + dt.timedelta(days=1)).date().isoformat()}") == ["投诉A"]
    assert listed(client, "?sort=oldest")[0] == "投诉A"
    assert listed(client, "?sort=severity")[0] == "投诉A"
    assert len(listed(client, "?sort=nonsense&kind=bogus&category=x")) == 4  # bad values are ignored


def test_the_sla_filters_and_colours(org, login):
    late = make_case(org.service, title="超时", received_at=timezone.now() - dt.timedelta(days=20))
    soon = make_case(org.service, title="将超时")
    Case.objects.filter(pk=soon.pk).update(response_warned_at=timezone.now())
    make_case(org.service, title="正常")
    client = login(org.service)
    assert listed(client, "?sla=overdue") == ["超时"]
    assert listed(client, "?sla=at_risk") == ["将超时"]
    page = client.get("/service/cases/?sort=response").content.decode()
    assert re.search(rf'data-case="{late.pk}".*?data-sla="breached"', page, re.S)
    assert 'data-sla="ok"' in page


def test_the_list_reads_a_fixed_number_of_queries(org, login, django_assert_max_num_queries):
    for n in range(8):
        make_case(org.service, title=f"投诉{n}")
    client = login(org.service)
    client.get("/service/cases/")
    with django_assert_max_num_queries(22):
        assert len(listed(client)) == 8


# --- One case ------------------------------------------------------------------------------
def test_the_owner_sees_the_actions_others_read_only(org, login, account):
    case = make_case(org.service, account=account)
    owner_page = login(org.service).get(f"/service/cases/{case.pk}/")
    body = owner_page.content.decode()
    assert owner_page.status_code == 200 and 'data-testid="case-readonly"' not in body
    assert 'data-testid="move-acknowledged"' in body and 'data-testid="handover-form"' in body
    assert 'data-testid="visits-block"' in body and 'data-testid="sla-status"' in body
    sales_page = login(org.salesperson).get(f"/service/cases/{case.pk}/").content.decode()
    assert 'data-testid="case-readonly"' in sales_page and "Only the owner (赵静)" in sales_page
    assert "<fieldset disabled" in sales_page and 'data-testid="handover-form"' not in sales_page
    assert login(org.outsider).get(f"/service/cases/{case.pk}/").status_code == 404
    assert login(org.marketing).get(f"/service/cases/{case.pk}/").status_code == 403


def test_a_salesperson_cannot_act_on_their_customers_case(org, login, account):
    case = make_case(org.service, account=account)
    client = login(org.salesperson)
    refused = client.post(f"/service/cases/{case.pk}/move/", {"to": "acknowledged", "version": case.version})
    assert refused.status_code == 403 and "Only the owner (赵静)" in refused.content.decode()
    assert client.post(f"/service/cases/{case.pk}/steps/", {"step": "listen", "note": "x"}).status_code == 403
    assert client.get(f"/service/cases/{case.pk}/reply/").status_code == 403
    assert client.get(f"/service/cases/{case.pk}/edit/").status_code == 403
    assert client.post(f"/service/cases/{case.pk}/handover/", {"to_user": org.salesperson.pk}).status_code == 403
    row = fresh(case)
    assert (row.state, row.version, row.owner_id) == (S.NEW, case.version, org.service.pk)
    assert login(org.outsider).post(f"/service/cases/{case.pk}/move/", {"to": "acknowledged"}).status_code == 404


def test_the_workflow_through_the_pages(org, login, django_capture_on_commit_callbacks):
    case = make_case(org.service, sender_email="zhang@example.com")
    client = login(org.service)
    moved = client.post(f"/service/cases/{case.pk}/move/", {"to": "acknowledged", "version": case.version})
    assert moved.status_code == 302 and fresh(case).state == S.ACKNOWLEDGED
    client.post(f"/service/cases/{case.pk}/move/", {"to": "investigating", "version": fresh(case).version})
    assert client.post(f"/service/cases/{case.pk}/steps/", {"step": "apologise", "note": "电话致歉"}).status_code == 302
    form = client.get(f"/service/cases/{case.pk}/reply/")
    assert form.status_code == 200
    bad = client.post(f"/service/cases/{case.pk}/reply/", {"proposal": "x", "reply": "", "version": fresh(case).version})
    assert bad.status_code == 422 and "Write the reply to the customer." in bad.content.decode()
    saved = client.post(f"/service/cases/{case.pk}/reply/", {"proposal": "换新", "reply": "为您换新机。",
                                                             "version": fresh(case).version})
    assert saved.status_code == 302 and fresh(case).reply == "为您换新机。"
    client.post(f"/service/cases/{case.pk}/move/", {"to": "proposed", "version": fresh(case).version})
    early = client.post(f"/service/cases/{case.pk}/move/", {"to": "closed", "version": fresh(case).version},
                        follow=True)
    assert "cannot become closed" in early.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        resolved = client.post(f"/service/cases/{case.pk}/move/", {"to": "resolved", "version": fresh(case).version})
    body = resolved.content.decode()
    assert resolved.status_code == 200 and 'data-testid="confirm-url"' in body and "zhang@example.com" in body
    url = re.search(r'value="(http[^"]+/feedback/confirm/[^"]+/)"', body).group(1)
    # A new link replaces it.
    renewed = client.post(f"/service/cases/{case.pk}/link/").content.decode()
    new_url = re.search(r'value="(http[^"]+/feedback/confirm/[^"]+/)"', renewed).group(1)
    assert new_url != url
    assert Client().get(urlsplit(url).path).status_code == 404  # the first link stopped working
    assert Client().get(urlsplit(new_url).path).status_code == 200
    detail = client.get(f"/service/cases/{case.pk}/").content.decode()
    assert 'data-testid="case-waiting"' in detail and 'data-testid="case-step"' in detail


def test_review_through_the_page(org, login):
    quality = category("产品质量", needs_review=True)
    case = advance(make_case(org.service, category=quality), org.service, S.INVESTIGATING)
    services.reply_set(actor=org.service, case=case, proposal="", reply="抱歉", expected_version=None)
    manager = login(org.service_manager)
    page = manager.get(f"/service/cases/{case.pk}/").content.decode()
    assert 'data-testid="case-review-form"' in page
    assert login(org.service).get(f"/service/cases/{case.pk}/").content.decode().count("case-review-form") == 0
    returned = manager.post(f"/service/cases/{case.pk}/review/", {"decision": "return", "note": "",
                                                                  "version": fresh(case).version}, follow=True)
    assert "Say what should change." in returned.content.decode()
    manager.post(f"/service/cases/{case.pk}/review/", {"decision": "approve", "version": fresh(case).version})
    assert fresh(case).review_state == Case.Review.APPROVED
    assert login(org.service2).post(f"/service/cases/{case.pk}/review/", {"decision": "approve"}).status_code == 403


def test_handover_through_the_pages(org, login, account_factory):
    case = make_case(org.service, account=account_factory(org.marketing))
    owner = login(org.service)
    owner.post(f"/service/cases/{case.pk}/handover/", {"to_user": org.service2.pk, "note": "请接手"})
    offer = Handover.objects.get(case=case)
    colleague = login(org.service2)
    page = colleague.get(f"/service/cases/{case.pk}/").content.decode()
    assert 'data-testid="handover-accept"' in page
    assert login(org.service_lead).post(f"/service/handovers/{offer.pk}/accept/").status_code == 403
    accepted = colleague.post(f"/service/handovers/{offer.pk}/accept/", {"version": offer.version})
    assert accepted.status_code == 302 and fresh(case).owner == org.service2
    again = make_case(org.service)
    owner.post(f"/service/cases/{again.pk}/handover/", {"to_user": org.service2.pk})
    second = Handover.objects.get(case=again)
    owner.post(f"/service/handovers/{second.pk}/withdraw/", {"version": second.version})
    assert Handover.objects.get(pk=second.pk).state == Handover.State.WITHDRAWN
    assert login(org.outsider).post(f"/service/handovers/{second.pk}/accept/").status_code == 404


def test_matching_through_the_page(org, login, account):
    case = make_case(org.service_manager, sender_company="华东机械")
    client = login(org.gm)
    page = client.get(f"/service/cases/{case.pk}/match/")
    assert page.status_code == 200 and [a.pk for a in page.context["accounts"]] == [account.pk]
    done = client.post(f"/service/cases/{case.pk}/match/", {"account": account.pk, "version": case.version})
    assert done.status_code == 302 and fresh(case).account_id == account.pk
    hidden = make_case(org.service_manager)
    refused = login(org.service_manager).post(f"/service/cases/{hidden.pk}/match/", {"account": account.pk},
                                              follow=True)
    assert "Choose an account you can see." in refused.content.decode() and fresh(hidden).account_id is None


def test_edit_delete_and_restore_through_the_pages(org, login):
    case = make_case(org.service)
    client = login(org.service)
    form = client.get(f"/service/cases/{case.pk}/edit/")
    assert form.status_code == 200
    data = {"version": case.version, "kind": "complaint", "title": "漏水严重", "description": "地板被泡",
            "category": "", "severity": "high", "ticket_type": "", "product": "", "order": "",
            "sender_name": "张先生", "sender_company": "", "sender_phone": "13800138000", "sender_email": "",
            "wants_reply": "on"}
    assert client.post(f"/service/cases/{case.pk}/edit/", data).status_code == 302
    assert (fresh(case).title, fresh(case).severity) == ("漏水严重", "high")
    stale = client.post(f"/service/cases/{case.pk}/edit/", {**data, "title": "x"})
    assert stale.status_code == 409
    assert client.post(f"/service/cases/{case.pk}/delete/").status_code == 403
    manager = login(org.service_manager)
    assert manager.post(f"/service/cases/{case.pk}/delete/").status_code == 302
    assert manager.get(f"/service/cases/{case.pk}/").status_code == 404
    assert manager.post(f"/service/cases/{case.pk}/restore/").status_code == 302
    assert manager.get(f"/service/cases/{case.pk}/").status_code == 200


def test_files_on_a_case(org, login):
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = make_case(org.service)
    client = login(org.service)
    ok = client.post(f"/service/cases/{case.pk}/attachments/", {
        "files": SimpleUploadedFile("照片.pdf", b"%PDF-1.4 test", content_type="application/pdf")})
    assert ok.status_code == 302 and case.attachments.count() == 1
    bad = client.post(f"/service/cases/{case.pk}/attachments/", {
        "files": SimpleUploadedFile("x.html", b"<script>alert(1)</script>", content_type="text/html")}, follow=True)
    assert case.attachments.count() == 1 and "x.html" in bad.content.decode()


# --- The customer's page --------------------------------------------------------------------
def _link(case):
    return "/feedback/confirm/" + case.confirm_link.rstrip("/").rsplit("/", 1)[-1] + "/"


def test_the_customer_confirms_on_the_public_page(org, client):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    path = _link(case)
    page = client.get(path)
    assert page.status_code == 200 and "明天上门处理" in page.content.decode()
    assert fresh(case).state == S.RESOLVED  # reading writes nothing
    done = client.post(path, {"decision": "accept", "comment": "谢谢"})
    assert done.status_code == 200 and 'data-testid="confirm-done"' in done.content.decode()
    assert fresh(case).state == S.CONFIRMED
    assert client.get(path).status_code == 404
    assert client.post(path, {"decision": "accept"}).status_code == 404


def test_the_customer_rejects_on_the_public_page(org, client):
    case = advance(make_case(org.service), org.service, S.RESOLVED)
    path = _link(case)
    assert client.post(path, {"decision": "reject", "comment": ""}).status_code == 422
    assert client.post(path, {"comment": "x"}).status_code == 422  # no decision
    client.post(path, {"decision": "reject", "comment": "还是漏水"})
    row = fresh(case)
    assert row.state == S.INVESTIGATING and row.reopen_count == 1
    assert client.get("/feedback/confirm/unknown-token/").status_code == 404


# --- The desk ----------------------------------------------------------------------------------
def test_the_desk_panels(org, login, django_assert_max_num_queries):
    soon = make_case(org.service, title="快到期", severity="critical")
    later = make_case(org.service, title="不急", severity="low")
    offered = make_case(org.service2, title="转给赵静")
    offer = handovers.handover_offer(actor=org.service2, case=offered, to_user=org.service)
    quality = category("产品质量", needs_review=True)
    pending = advance(make_case(org.service2, category=quality, title="待审核"), org.service2, S.INVESTIGATING)
    services.reply_set(actor=org.service2, case=pending, proposal="", reply="抱歉", expected_version=None)

    home = login(org.service).get("/").content.decode()
    cases_panel = home[home.index('data-testid="desk-cases"'):]
    assert cases_panel.index(soon.title) < cases_panel.index(later.title)
    assert 'data-testid="desk-handover"' in home and f'data-handover="{offer.pk}"' in home
    assert 'data-testid="desk-reviews"' not in home  # agents do not review
    manager_home = login(org.service_manager).get("/").content.decode()
    assert f'data-case="{pending.pk}"' in manager_home and 'data-testid="desk-handovers"' not in manager_home
    # Accept inline, back to the desk.
    accepted = login(org.service).post(f"/service/handovers/{offer.pk}/accept/", {"back": "desk",
                                                                                   "version": offer.version})
    assert accepted.status_code == 302 and accepted["Location"] == "/"
    assert fresh(offered).owner == org.service
    # A salesperson without cases is not shown an empty service panel.
    assert 'data-testid="desk-cases"' not in login(org.salesperson).get("/").content.decode()
    from guanxi.core import desk

    manager = User.objects.get(pk=org.service_manager.pk)
    with django_assert_max_num_queries(10):  # 9 today: no query per row
        shown = [desk.render_one(manager, key) for key in ("service.cases", "service.handovers", "service.reviews")]
    assert shown[1] is None and [c.pk for c in shown[2].context["cases"]] == [pending.pk]


def test_declining_from_the_desk_needs_a_reason(org, login):
    case = make_case(org.service2)
    offer = handovers.handover_offer(actor=org.service2, case=case, to_user=org.service)
    client = login(org.service)
    refused = client.post(f"/service/handovers/{offer.pk}/decline/", {"back": "desk", "answer": ""}, follow=True)
    assert "Say why you decline." in refused.content.decode()
    client.post(f"/service/handovers/{offer.pk}/decline/", {"back": "desk", "answer": "不是我的区域"})
    assert Handover.objects.get(pk=offer.pk).state == Handover.State.DECLINED


# --- The account page ---------------------------------------------------------------------------
def test_the_service_tab_and_timeline(org, login, account):
    open_case = make_case(org.service, account=account, title="漏水")
    done = advance(make_case(org.service, account=account, title="噪音", wants_reply=False), org.service, S.RESOLVED)
    services.case_move(actor=org.service, case=done, to=S.CLOSED, note="已处理")
    make_case(org.service, title="别人的")
    client = login(org.salesperson)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert 'data-testid="service-tab"' in page and "service-panel-loader" in page
    panel = client.get(f"/service/accounts/{account.pk}/cases/")
    assert panel.status_code == 200
    assert [c.pk for c in panel.context["open_cases"]] == [open_case.pk]
    assert [c.pk for c in panel.context["done_cases"]] == [done.pk]
    from guanxi.customers.selectors.timeline import account_timeline

    items = [i for i in account_timeline(org.salesperson, account) if i.kind == "case"]
    titles = [i.title for i in items]
    assert "Complaint closed: 噪音" in titles and "Complaint received: 漏水" in titles
    assert all(i.url.startswith("/service/cases/") for i in items)
    assert account_timeline(org.outsider, account) is not None
    assert [i for i in account_timeline(org.marketing, account) if i.kind == "case"] == []
    assert login(org.outsider).get(f"/service/accounts/{account.pk}/cases/").status_code == 404


# --- Languages -----------------------------------------------------------------------------------
def test_refusals_are_in_the_users_language(org, login, account):
    case = make_case(org.service, account=account)
    User.objects.filter(pk=org.salesperson.pk).update(language="zh-hans")
    refused = login(User.objects.get(pk=org.salesperson.pk)).post(f"/service/cases/{case.pk}/move/",
                                                                  {"to": "acknowledged"})
    assert refused.status_code == 403 and "只有负责人（赵静）" in refused.content.decode()
    english = login(org.service_manager).post(f"/service/cases/{case.pk}/move/", {"to": "acknowledged"})
    assert "Only the owner (赵静) can move this case on" in english.content.decode()
    assert CaseEvent.objects.filter(case=case).count() == 1


def test_the_pages_in_chinese(org, login, account, client):
    case = advance(make_case(org.service, account=account), org.service, S.RESOLVED)
    User.objects.filter(pk__in=[org.service.pk, org.salesperson.pk]).update(language="zh-hans")
    owner = login(User.objects.get(pk=org.service.pk))
    detail = owner.get(f"/service/cases/{case.pk}/").content.decode()
    assert "处理步骤" in detail and "移交" in detail and "已解决" in detail
    assert "工单" in owner.get("/service/cases/").content.decode()
    assert "我的未结工单" in owner.get("/").content.decode()
    public = client.get(_link(case), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "您的问题解决了吗？" in public


def test_closing_through_the_page_leads_to_the_survey_link(org, login, account):
    """The survey the close sends is shown once on its invitation page, for a customer without e-mail."""
    case = advance(make_case(org.service, account=account), org.service, S.RESOLVED)
    services.case_move(actor=org.service, case=case, to=S.CONFIRMED, note="电话确认")
    client = login(org.service)
    closed = client.post(f"/service/cases/{case.pk}/move/", {"to": "closed", "version": fresh(case).version})
    assert fresh(case).state == S.CLOSED and closed.status_code == 302
    assert closed["Location"].startswith("/surveys/invitations/")
    link = re.compile(r"/survey/[A-Za-z0-9_-]{16,}/")
    page = client.get(closed["Location"]).content.decode()
    assert link.search(page) and "A satisfaction survey was created" in page
    assert not link.search(client.get(closed["Location"]).content.decode())  # shown once
