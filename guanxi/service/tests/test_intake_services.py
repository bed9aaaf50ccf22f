"""Intake (R5.1): matching the sender, first-responder ownership, validation, SLA timers, comment cards."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from guanxi.core.errors import Forbidden, Invalid
from guanxi.core.models import AuditEvent, Notification
from guanxi.customers.models import Contact
from guanxi.sales.tests.orders_helpers import order_factory, product
from guanxi.service.models import Case, CaseCategory, CaseEvent
from guanxi.service.selectors.scope import case_scope
from guanxi.service.services import calendar as calendars
from guanxi.service.services import intake, sla
from guanxi.service.tests.intake_helpers import PDF, feedback_form, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers(org, account_factory):
    """Two accounts of the salesperson, one of the outsider, with their people."""
    east = account_factory(org.salesperson, name="苏州精密机械有限公司", phone="0512-66668888",
                           credit_code="91320500MA1XXXXX0Q")
    Contact.objects.create(account=east, name="王经理", mobile="138-1234-5678", email="Wang@JingMi.cn")
    Contact.objects.create(account=east, name="赵工", mobile="13911112222")
    south = account_factory(org.outsider, name="广州华南贸易(集团)有限公司")
    Contact.objects.create(account=south, name="陈小姐", phone="020-12345678")
    return east, south


def receive(actor=None, **fields):
    fields.setdefault("kind", "complaint")
    fields.setdefault("title", "设备异响")
    fields.setdefault("description", "运行时有异响。")
    fields.setdefault("channel", "web" if actor is None else "hotline")
    return intake.case_receive(actor=actor, **fields)


def nothing_written() -> bool:
    case_type = ContentType.objects.get_for_model(Case)
    return not Case.all_objects.exists() and not CaseEvent.objects.exists() and \
        not AuditEvent.objects.filter(content_type=case_type).exists()


# --- Matching ---------------------------------------------------------------------------------
def test_a_contacts_mobile_matches_however_it_is_written(customers):
    east, _south = customers
    account, contact = intake.match_sender(phone="+86 138 1234 5678")
    assert account == east and contact.name == "王经理"
    assert intake.match_sender(phone="13812345678") == (east, contact)


def test_email_credit_code_account_phone_and_exact_name_match(customers):
    east, south = customers
    assert intake.match_sender(email="wang@jingmi.CN")[1].name == "王经理"
    assert intake.match_sender(company="91320500ma1xxxxx0q") == (east, None)
    assert intake.match_sender(phone="(0512) 6666 8888") == (east, None)
    assert intake.match_sender(company="  苏州精密机械有限公司 ") == (east, None)
    # Full-width and half-width brackets are the same name.
    assert intake.match_sender(company="广州华南贸易（集团）有限公司") == (south, None)
    assert intake.match_sender(phone="020 1234 5678")[1].name == "陈小姐"


def test_the_person_is_found_by_exact_name_once_the_account_is_known(customers):
    east, _south = customers
    assert intake.match_sender(company="苏州精密机械有限公司", name="赵工")[1].name == "赵工"
    assert intake.match_sender(company="苏州精密机械有限公司", name="赵") == (east, None)


def test_never_fuzzy(customers):
    assert intake.match_sender(company="苏州精密机械") == (None, None)
    assert intake.match_sender(company="精密机械有限公司") == (None, None)
    assert intake.match_sender(phone="1381234567") == (None, None)  # one digit short
    assert intake.match_sender(phone="5678") == (None, None)
    assert intake.match_sender(email="wang@jingmi") == (None, None)
    assert intake.match_sender() == (None, None)


def test_ambiguous_evidence_leaves_the_sender_unmatched(org, customers, account_factory):
    east, south = customers
    # The phone names one account, the company another.
    assert intake.match_sender(phone="13812345678", company=south.name) == (None, None)
    # The same mobile at two accounts.
    other = account_factory(org.teammate, name="另一家公司")
    Contact.objects.create(account=other, name="王经理", mobile="13812345678")
    assert intake.match_sender(phone="13812345678") == (None, None)
    # Two people at one account with the e-mail: the account, not a person.
    Contact.objects.create(account=east, name="王经理助理", email="wang@jingmi.cn")
    assert intake.match_sender(email="wang@jingmi.cn") == (east, None)


def test_accounts_in_the_recycle_bin_are_not_matched(customers):
    east, _south = customers
    east.deleted_at = timezone.now()
    east.save(update_fields=["deleted_at"])
    assert intake.match_sender(phone="13812345678") == (None, None)
    assert intake.match_sender(company=east.name) == (None, None)


# --- Receiving: ownership, events, audit, notifications ----------------------------------------
def test_a_public_case_goes_to_the_forms_responder(org, customers):
    east, _south = customers
    form = feedback_form(org.service)
    case = receive(form=form, sender_name="王经理", sender_phone="13812345678")
    assert re.fullmatch(r"FW-\d{4}-\d{6}", case.code)
    assert case.owner == org.service and case.received_by == org.service
    assert case.department_id == org.service.department_id
    assert case.account == east and case.contact.name == "王经理"
    assert case.form == form and case.channel == "web" and case.state == "new"
    assert case.code.lower() in case.search_text and "13812345678" in case.search_text
    event = CaseEvent.objects.get(case=case)
    assert event.type == "received" and event.actor is None and event.to_user == org.service
    assert AuditEvent.objects.filter(action="create", object_id=str(case.pk), actor__isnull=True).exists()
    assert Notification.objects.filter(user=org.service, title__contains=case.code).exists()


def test_without_a_form_the_category_then_a_service_manager_then_a_general_manager_own_it(org):
    category = CaseCategory.objects.create(name="测试分类", responder=org.service2)
    assert receive(category=category, sender_phone="13900000000").owner == org.service2
    assert receive(sender_phone="13900000000").owner == org.service_manager
    org.service_manager.is_active = False
    org.service_manager.save(update_fields=["is_active"])
    assert receive(sender_phone="13900000000").owner == org.gm
    # An inactive form responder passes the case on too.
    form = feedback_form(org.service)
    org.service.is_active = False
    org.service.save(update_fields=["is_active"])
    assert receive(form=form, category=category, sender_phone="13900000000").owner == org.service2


def test_the_agent_who_takes_the_call_owns_it_and_is_not_notified(org, customers):
    case = receive(org.service, sender_phone="13911112222")
    assert case.owner == org.service and case.received_by == org.service and case.channel == "hotline"
    assert case.contact.name == "赵工"
    assert CaseEvent.objects.get(case=case).actor == org.service
    assert not Notification.objects.filter(user=org.service).exists()
    assert AuditEvent.objects.filter(action="create", object_id=str(case.pk), actor=org.service).exists()


def test_without_the_right_nothing_is_received(org):
    with pytest.raises(Forbidden):
        receive(org.marketing, sender_phone="13900000000")
    assert nothing_written()


def test_bad_input_gives_every_message_and_writes_nothing(org):
    with pytest.raises(Invalid) as caught:
        receive(org.service, kind="praise", title="", description=" ", channel="fax", severity="urgent",
                sender_email="not-an-email", sender_phone="abc", ticket_type="repair",
                received_at=timezone.now() + dt.timedelta(days=1), product=999999)
    assert set(caught.value.errors) >= {"kind", "title", "description", "channel", "severity", "sender_email",
                                        "sender_phone", "ticket_type", "received_at", "product"}
    assert nothing_written()


def test_a_reply_needs_a_way_to_reach_the_sender(org):
    with pytest.raises(Invalid) as caught:
        receive(sender_name="匿名")
    assert "reply" in caught.value.errors["sender_phone"][0]
    assert receive(sender_name="匿名", wants_reply=False).wants_reply is False


def test_staff_can_only_name_accounts_they_see(org, customers):
    east, south = customers
    with pytest.raises(Invalid) as caught:
        receive(org.salesperson, account=south.pk, sender_phone="13900000000")
    assert "account" in caught.value.errors
    assert nothing_written()
    case = receive(org.salesperson, account=east, sender_phone="13911112222")
    assert case.account == east and case.contact.name == "赵工"
    with pytest.raises(Invalid) as caught:
        receive(org.salesperson, account=east, contact=Contact.objects.get(name="陈小姐"))
    assert "contact" in caught.value.errors


def test_a_category_of_another_kind_and_ticket_types_are_checked(org):
    suggestions = CaseCategory.objects.create(name="建议类", kind="suggestion")
    with pytest.raises(Invalid) as caught:
        receive(org.service, category=suggestions, sender_phone="13900000000")
    assert "category" in caught.value.errors
    ticket = receive(org.service, kind="ticket", ticket_type="repair", sender_phone="13900000000")
    assert ticket.kind == "ticket" and ticket.ticket_type == "repair"


def test_products_and_orders(org, customers):
    east, south = customers
    item = product("P-7", name="变频器")
    order = order_factory(org.salesperson, east)
    case = receive(org.salesperson, product=item.pk, order=order.pk, sender_phone="13900000000")
    assert case.product == item and case.order == order and case.account == east
    with pytest.raises(Invalid) as caught:
        receive(org.salesperson, account=east, order=order_factory(org.outsider, south), sender_phone="13900000000")
    assert "order" in caught.value.errors
    # A public sender's order links only when it is their own company's, and never picks the account.
    stranger = receive(order=order, sender_phone="13900000000")
    assert stranger.order is None and stranger.account is None
    own = receive(order=order, sender_phone="13812345678")
    assert own.order == order and own.account == east


def test_the_sla_timers_start_at_receipt(org):
    received = timezone.now() - dt.timedelta(minutes=5)
    case = receive(org.service, severity="high", sender_phone="13900000000", received_at=received)
    policy = sla.policy_for(None, "high")
    assert policy is not None and case.sla_policy == policy
    assert case.first_response_due == calendars.add_business_minutes(received, policy.first_response_minutes)
    assert case.resolution_due == calendars.add_business_minutes(received, policy.resolution_minutes)
    case.refresh_from_db()
    assert case.first_response_due is not None and case.received_at == received


def test_too_many_or_bad_attachments_write_nothing(org, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with pytest.raises(Invalid) as caught:
        receive(sender_phone="13900000000", attachments=[upload(f"{i}.pdf", PDF) for i in range(6)])
    assert "at most 5" in caught.value.errors["attachments"][0]
    with pytest.raises(Invalid) as caught:
        receive(sender_phone="13900000000", attachments=[upload("ok.pdf", PDF), upload("bad.pdf.html", PDF)])
    assert caught.value.errors["attachments"][0].startswith("bad.pdf.html")
    assert nothing_written() and not any(tmp_path.rglob("*"))
    case = receive(sender_phone="13900000000", attachments=[upload("发票.pdf", PDF)])
    assert [a.original_name for a in case.attachments.all()] == ["发票.pdf"]


# --- Who sees what was received --------------------------------------------------------------
def test_unmatched_cases_are_seen_by_their_owner_and_service_managers_only(org):
    case = receive(form=feedback_form(org.service), sender_phone="13900000000")
    assert case.account is None

    def sees(user) -> bool:
        return case_scope(user).filter(pk=case.pk).exists()

    assert sees(org.service) and sees(org.service_manager) and sees(org.gm)
    for user in (org.service2, org.service_lead, org.salesperson, org.manager, org.outsider, org.marketing):
        assert not sees(user), user


def test_matched_cases_are_seen_by_the_accounts_salesperson_too(org, customers):
    case = receive(form=feedback_form(org.service), sender_phone="13812345678")
    assert case_scope(org.salesperson).filter(pk=case.pk).exists()
    assert case_scope(org.service_lead).filter(pk=case.pk).exists()  # the team leader of the owner
    assert not case_scope(org.outsider).filter(pk=case.pk).exists()
    assert not case_scope(org.service2).filter(pk=case.pk).exists()


# --- Paper comment cards ---------------------------------------------------------------------
def test_cards_are_all_or_nothing(org):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    rows = [
        {"received_on": yesterday.isoformat(), "kind": "投诉", "category": "产品质量", "name": "刘女士",
         "phone": "13700001111", "text": "包装破损\n收到时外箱已压坏", "rating": "2"},
        {"received_on": "", "kind": "", "name": "", "text": "", "rating": ""},  # empty: skipped
        {"received_on": "2999-01-01", "kind": "建议", "text": "希望增加夜间热线", "rating": "9"},
        {"kind": "praise", "text": "", "name": "匿名"},
        {"kind": "suggestion", "received_on": "2026-01-01"},  # no content: skipped too
    ]
    with pytest.raises(Invalid) as caught:
        intake.cards_receive(actor=org.service, rows=rows)
    errors = caught.value.errors
    assert set(errors) == {"2.received_on", "2.rating", "3.kind", "3.text"}
    assert len(errors["3.text"]) == 1
    assert nothing_written()
    rows[2].update(received_on="", rating="")
    rows[3].update(kind="suggestion", text="网站上找不到说明书")
    cases = intake.cards_receive(actor=org.service, rows=rows)
    assert [c.kind for c in cases] == ["complaint", "suggestion", "suggestion"]
    first = cases[0]
    assert first.channel == "card" and first.owner == org.service and first.title == "包装破损"
    assert first.category.name == "产品质量" and "2" in first.description.splitlines()[-1]
    assert timezone.localtime(first.received_at).date() == yesterday
    assert first.wants_reply and not cases[2].wants_reply
    assert CaseEvent.objects.filter(type="received").count() == 3


def test_cards_need_at_least_one_and_the_right(org):
    with pytest.raises(Invalid) as caught:
        intake.cards_receive(actor=org.service, rows=[{"text": ""}])
    assert "cards" in caught.value.errors
    with pytest.raises(Forbidden):
        intake.cards_receive(actor=org.marketing, rows=[{"text": "x"}])


def test_cards_from_a_csv_file_with_chinese_headers():
    data = "日期,类型,姓名,电话,内容,评分,备注\n2026-03-02,建议,刘女士,13700001111,希望延长营业时间,4,x\n,,,,,,\n".encode()
    rows = intake.cards_from_file(data, "cards.csv")
    assert rows == [{"received_on": "2026-03-02", "kind": "建议", "name": "刘女士", "phone": "13700001111",
                     "text": "希望延长营业时间", "rating": "4"}]
    with pytest.raises(Invalid):
        intake.cards_from_file("姓名,电话\n刘,1\n".encode(), "cards.csv")
