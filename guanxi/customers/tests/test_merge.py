"""Merging duplicate accounts and contacts (R12.2): field choices, every related record moves,
the merged one goes to the recycle bin, audited, and undo puts everything back exactly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone, translation

from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import AuditEvent
from guanxi.core.services import records
from guanxi.customers.models import (
    Account,
    AccountAttachment,
    AccountFactorScore,
    AccountRating,
    Contact,
    MergeRecord,
    OwnershipChange,
    RatingFactor,
    Tag,
)
from guanxi.customers.selectors import account_list_for, search_matches
from guanxi.customers.selectors import merge as reads
from guanxi.customers.services import account_refresh_search
from guanxi.customers.services import merge as merge_services
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Service messages are checked in English here; pages get the user's language from the request."""
    with translation.override("en"):
        yield

CREDIT_A = "91350100M000100Y43"
CREDIT_B = "91110000100000000P"  # hypothetical second code (the model does not validate on create())


def _pair(org, account_factory):
    kept = account_factory(org.salesperson, name="福州闽江贸易有限公司", phone="0591-87654321", credit_code=CREDIT_A,
                           region="福建 福州", custom={"erp": "K-1", "level": "A"})
    merged = account_factory(org.teammate, name="福州闽江贸易", phone="0591-87654321", address="五一路 1 号",
                             credit_code=CREDIT_B, notes="老客户", custom={"erp": "M-9", "vip": "yes"})
    return kept, merged


def _related(org, merged):
    factor_a = RatingFactor.objects.create(key="merge-test-a", name="测试甲")
    factor_b = RatingFactor.objects.create(key="merge-test-b", name="测试乙")
    items = {
        "contact": Contact.objects.create(account=merged, name="张总", mobile="13812345678"),
        "deleted_contact": Contact.objects.create(account=merged, name="旧人", deleted_at=timezone.now()),
        "rating": AccountRating.objects.create(account=merged, score=Decimal("88"), grade="A",
                                               rated_at=timezone.now() - dt.timedelta(days=1)),
        "score_moves": AccountFactorScore.objects.create(account=merged, factor=factor_a, score=Decimal("70")),
        "score_clash": AccountFactorScore.objects.create(account=merged, factor=factor_b, score=Decimal("10")),
        "ownership": OwnershipChange.objects.create(account=merged, to_user=org.teammate, kind="created"),
        "attachment": AccountAttachment.objects.create(account=merged, file=ContentFile(b"x", name="a.pdf"),
                                                       original_name="营业执照.pdf", content_type="application/pdf",
                                                       size=1),
    }
    return items, factor_b


def test_manager_merges_two_accounts_choosing_field_by_field_and_everything_moves(org, account_factory):
    kept, merged = _pair(org, account_factory)
    items, factor_b = _related(org, merged)
    kept_score = AccountFactorScore.objects.create(account=kept, factor=factor_b, score=Decimal("90"))
    own_contact = Contact.objects.create(account=kept, name="李经理")
    tag_a, tag_b = Tag.objects.create(name="重点"), Tag.objects.create(name="出口")
    kept.tags.add(tag_a)
    merged.tags.add(tag_b)
    version = kept.version

    record = merge_services.account_merge(
        actor=org.manager, kept=kept, merged=merged,
        choices={"address": "merged", "notes": "merged", "region": "kept", "owner": "merged", "custom.erp": "merged"},
        expected_versions={"kept": version, "merged": merged.version})

    kept.refresh_from_db()
    assert (kept.name, kept.address, kept.notes, kept.region) == ("福州闽江贸易有限公司", "五一路 1 号", "老客户", "福建 福州")
    assert kept.credit_code == CREDIT_A  # not chosen: the kept one's stays
    assert (kept.owner, kept.department) == (org.teammate, org.teammate.department)
    assert kept.custom == {"erp": "M-9", "level": "A", "vip": "yes"}
    assert set(kept.tags.all()) == {tag_a, tag_b}
    assert kept.version == version + 1
    # Every related record now belongs to the kept account.
    for key in ("contact", "rating", "score_moves", "ownership", "attachment"):
        items[key].refresh_from_db()
        assert items[key].account_id == kept.pk, key
    assert Contact.all_objects.get(pk=items["deleted_contact"].pk).account_id == kept.pk
    assert {c.name for c in Contact.objects.filter(account=kept)} == {"张总", "李经理"}
    assert own_contact.account_id == kept.pk
    # The clashing factor score: the kept account's stays, the merged one's stays behind.
    assert AccountFactorScore.objects.get(account=kept, factor=factor_b) == kept_score
    assert AccountFactorScore.objects.get(pk=items["score_clash"].pk).account_id == merged.pk
    # The latest rating of the combined curve is the kept account's rating.
    assert (kept.grade, kept.score) == ("A", Decimal("88"))
    # The search text now holds the moved person.
    assert "张总" in kept.search_text
    # The merged account is in the recycle bin and hidden everywhere.
    merged_row = Account.all_objects.get(pk=merged.pk)
    assert merged_row.deleted_at is not None and merged_row.deleted_by == org.manager
    assert not Account.objects.filter(pk=merged.pk).exists()
    assert merged.pk not in set(account_list_for(org.gm).values_list("pk", flat=True))
    with pytest.raises(NotFound):
        records.get_visible(org.gm, Account, merged.pk)
    # The record of what happened.
    assert record.moved["contacts"] == sorted([items["contact"].pk, items["deleted_contact"].pk])
    assert record.moved["factor_scores"] == [items["score_moves"].pk]
    assert record.choices["owner"] == "merged"
    kept_audit = AuditEvent.objects.get(action="merge", content_type__model="account", object_id=str(kept.pk))
    assert kept_audit.changes["address"] == ["", "五一路 1 号"]
    assert [v["id"] for v in kept_audit.changes["owner"]] == [org.salesperson.pk, org.teammate.pk]
    assert "region" not in kept_audit.changes
    assert kept_audit.changes["moved"][1]["contacts"] == 2
    assert CREDIT_B in kept_audit.note  # the dropped credit code is on record
    assert AuditEvent.objects.filter(action="merge", content_type__model="account", object_id=str(merged.pk)).exists()
    assert AuditEvent.objects.filter(action="merge", content_type__model="contact",
                                     object_id=str(items["contact"].pk)).exists()
    merged_row_history = OwnershipChange.objects.filter(account=kept, kind="merged").get()
    assert (merged_row_history.from_user, merged_row_history.to_user) == (org.salesperson, org.teammate)


def test_undo_puts_back_exactly_what_the_merge_changed(org, account_factory):
    kept, merged = _pair(org, account_factory)
    items, _factor = _related(org, merged)
    tag = Tag.objects.create(name="出口")
    merged.tags.add(tag)
    own = Contact.objects.create(account=kept, name="李经理")
    account_refresh_search(kept)
    kept.refresh_from_db()
    before = {f: getattr(kept, f) for f in ("name", "address", "notes", "owner_id", "department_id", "custom",
                                              "credit_code", "grade", "score", "rated_at", "search_text")}
    record = merge_services.account_merge(actor=org.manager, kept=kept, merged=merged,
                                          choices={"address": "merged", "owner": "merged", "credit_code": "merged",
                                                   "custom.erp": "merged"})
    assert Account.objects.get(pk=kept.pk).credit_code == CREDIT_B  # it took the merged one's code

    merge_services.account_merge_undo(actor=org.manager, record=record)

    kept.refresh_from_db()
    assert {f: getattr(kept, f) for f in before} == before
    assert list(kept.tags.all()) == []
    merged.refresh_from_db()
    assert merged.deleted_at is None and merged.credit_code == CREDIT_B
    for key in ("contact", "rating", "score_moves", "ownership", "attachment"):
        items[key].refresh_from_db()
        assert items[key].account_id == merged.pk, key
    assert Contact.all_objects.get(pk=items["deleted_contact"].pk).account_id == merged.pk
    own.refresh_from_db()
    assert own.account_id == kept.pk  # the kept account's own people never moved
    assert "张总" in Account.objects.get(pk=merged.pk).search_text
    record.refresh_from_db()
    assert record.undone_at is not None and record.undone_by == org.manager
    assert AuditEvent.objects.filter(action="unmerge", object_id=str(kept.pk), content_type__model="account").exists()
    assert OwnershipChange.objects.filter(account=kept, kind="restored", to_user=org.salesperson).exists()
    assert merged.pk in set(account_list_for(org.gm).values_list("pk", flat=True))

    with pytest.raises(Invalid, match="already been undone"):
        merge_services.account_merge_undo(actor=org.manager, record=record)


def test_undo_keeps_a_rerating_and_tags_given_after_the_merge(org, account_factory):
    """Re-rating and tagging are not edits that block an undo, so the undo must not wipe them."""
    from guanxi.customers.services import classification

    kept, merged = _pair(org, account_factory)
    brought, mine = Tag.objects.create(name="出口"), Tag.objects.create(name="重点跟进")
    merged.tags.add(brought)
    record = merge_services.account_merge(actor=org.manager, kept=kept, merged=merged, choices={})
    rating = classification.account_rate(actor=org.manager, account=Account.objects.get(pk=kept.pk), note="合并后复评")
    Account.objects.get(pk=kept.pk).tags.add(mine)

    merge_services.account_merge_undo(actor=org.manager, record=record)

    kept.refresh_from_db()
    assert set(kept.tags.all()) == {mine}  # the merge's tag went back, the later one stayed
    assert (kept.grade, kept.score, kept.rated_at) == (rating.grade, rating.score, rating.rated_at)
    assert AccountRating.objects.filter(account=kept, note="合并后复评").exists()


def test_undo_is_refused_when_the_kept_account_changed_after_the_merge(org, account_factory):
    kept, merged = _pair(org, account_factory)
    record = merge_services.account_merge(actor=org.manager, kept=kept, merged=merged, choices={})
    kept.refresh_from_db()
    records.record_update(actor=org.manager, obj=kept, changes={"notes": "后来改的"}, expected_version=kept.version)
    with pytest.raises(Conflict, match="changed after the merge"):
        merge_services.account_merge_undo(actor=org.manager, record=record)
    assert Account.all_objects.get(pk=merged.pk).deleted_at is not None
    assert MergeRecord.objects.get(pk=record.pk).undone_at is None


def test_salesperson_may_not_merge_and_nothing_changes(org, account_factory):
    kept = account_factory(org.salesperson, name="甲公司")
    merged = account_factory(org.salesperson, name="甲公司有限公司")
    Contact.objects.create(account=merged, name="王五")
    before = fingerprint()
    with pytest.raises(Forbidden):
        merge_services.account_merge(actor=org.salesperson, kept=kept, merged=merged, choices={})
    assert fingerprint() == before
    assert not MergeRecord.objects.exists()


def test_manager_cannot_merge_an_account_they_cannot_see(org, account_factory, api):
    kept = account_factory(org.salesperson)
    theirs = account_factory(org.outsider)
    client = api(org.manager)
    before = fingerprint()
    with pytest.raises(NotFound):
        merge_services.account_merge(actor=org.manager, kept=kept, merged=theirs, choices={})
    response = client.post(f"/api/v1/accounts/{kept.pk}/merge", {"other": theirs.pk})
    assert response.status_code == 404
    assert fingerprint() == before


def test_bad_merges_are_refused_with_a_message(org, account_factory, api):
    kept, merged = _pair(org, account_factory)
    with pytest.raises(Invalid, match="itself"):
        merge_services.account_merge(actor=org.manager, kept=kept, merged=kept)
    with pytest.raises(Invalid) as exc:
        merge_services.account_merge(actor=org.manager, kept=kept, merged=merged,
                                     choices={"code": "merged", "name": "both"})
    assert set(exc.value.errors) == {"code", "name"}
    with pytest.raises(Conflict):
        merge_services.account_merge(actor=org.manager, kept=kept, merged=merged,
                                     expected_versions={"kept": kept.version + 5})
    records.record_delete(actor=org.manager, obj=merged)
    with pytest.raises(NotFound):
        merge_services.account_merge(actor=org.manager, kept=kept, merged=merged)
    response = api(org.manager).post(f"/api/v1/accounts/{kept.pk}/merge",
                                       {"other": kept.pk}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422 and "itself" in response.json()["message"]
    assert not MergeRecord.objects.exists()


def test_credit_code_clash_only_one_stays_and_it_can_move_back(org, account_factory):
    kept, merged = _pair(org, account_factory)
    merge_services.account_merge(actor=org.manager, kept=kept, merged=merged, choices={"credit_code": "merged"})
    kept.refresh_from_db()
    assert kept.credit_code == CREDIT_B
    assert Account.objects.filter(credit_code=CREDIT_A).count() == 0  # the other one left with the merged account
    assert Account.all_objects.get(pk=merged.pk).credit_code == CREDIT_B  # unchanged, in the recycle bin
    # Restoring the merged account straight from the recycle bin cannot duplicate the code.
    with pytest.raises(Invalid):
        records.record_restore(actor=org.manager, obj=Account.all_objects.get(pk=merged.pk))


def test_approved_account_can_be_merged_by_a_manager_and_the_audit_says_so(org, account_factory):
    kept, merged = _pair(org, account_factory)
    records.record_approve(actor=org.gm, obj=kept)
    kept.refresh_from_db()
    merge_services.account_merge(actor=org.manager, kept=kept, merged=merged, choices={"notes": "merged"})
    row = AuditEvent.objects.get(action="merge", object_id=str(kept.pk), content_type__model="account")
    assert "approved" in row.note
    assert Account.objects.get(pk=kept.pk).notes == "老客户"


def test_contacts_merge_at_different_accounts_and_undo(org, account_factory):
    first, second = account_factory(org.salesperson), account_factory(org.teammate)
    kept = Contact.objects.create(account=first, name="张伟", mobile="13812345678", custom={"a": 1})
    merged = Contact.objects.create(account=second, name="张伟", mobile="13912345678", email="zw@example.com",
                                    wechat="zhangwei", custom={"b": 2})
    account_refresh_search(first)
    account_refresh_search(second)
    with pytest.raises(Forbidden):
        merge_services.contact_merge(actor=org.salesperson, kept=kept, merged=merged)
    record = merge_services.contact_merge(actor=org.manager, kept=kept, merged=merged,
                                          choices={"mobile": "merged", "account": "merged"})
    kept.refresh_from_db()
    assert (kept.mobile, kept.email, kept.wechat, kept.account_id) == ("13912345678", "", "", second.pk)
    assert kept.custom == {"a": 1, "b": 2}
    assert Contact.all_objects.get(pk=merged.pk).deleted_at is not None
    assert "张伟" in Account.objects.get(pk=second.pk).search_text
    assert "张伟" not in Account.objects.get(pk=first.pk).search_text
    merge_services.merge_undo(actor=org.manager, record=record)
    kept.refresh_from_db()
    assert (kept.mobile, kept.account_id, kept.custom) == ("13812345678", first.pk, {"a": 1})
    assert Contact.objects.get(pk=merged.pk).email == "zw@example.com"


def test_manager_cannot_merge_contacts_outside_their_reach(org, account_factory):
    mine = Contact.objects.create(account=account_factory(org.salesperson), name="甲")
    theirs = Contact.objects.create(account=account_factory(org.outsider), name="甲")
    with pytest.raises(NotFound):
        merge_services.contact_merge(actor=org.manager, kept=mine, merged=theirs)
    assert Contact.objects.filter(pk=theirs.pk).exists()


def test_registered_relation_of_a_later_app_moves_and_comes_back(org, account_factory, monkeypatch):
    """A later app registers its model; merges and undos move it without this module knowing it."""
    kept, merged = _pair(org, account_factory)
    note = OwnershipChange.objects.create(account=merged, to_user=org.teammate, kind="claimed")
    monkeypatch.setitem(merge_services._relations, "account", {})
    merge_services.register_relation("account", "claims", OwnershipChange, "account")
    record = merge_services.account_merge(actor=org.manager, kept=kept, merged=merged)
    assert record.moved == {"claims": [note.pk]}
    merge_services.account_merge_undo(actor=org.manager, record=record)
    note.refresh_from_db()
    assert note.account_id == merged.pk


# --- Duplicate finding ----------------------------------------------------------------------------
def test_duplicate_candidates_by_name_key_and_phone_within_what_the_user_sees(org, account_factory):
    account = account_factory(org.salesperson, name="上海 宏达 有限公司", phone="021-55551234")
    same_name = account_factory(org.teammate, name="上海宏达集团有限公司")
    full_width = account_factory(org.teammate, name="上海宏达")
    same_phone = account_factory(org.teammate, name="别的名字", phone="(021) 5555-1234")
    hidden = account_factory(org.outsider, name="上海宏达股份有限公司")
    unrelated = account_factory(org.teammate, name="上海宏达物流有限公司")
    for a in (account, same_name, full_width, same_phone, hidden, unrelated):
        account_refresh_search(a)
    account.refresh_from_db()
    found = {c.account.pk: c.reasons for c in reads.duplicate_candidates_for(org.manager, account)}
    assert found == {same_name.pk: ["name"], full_width.pk: ["name"], same_phone.pk: ["phone"]}
    assert hidden.pk in {c.account.pk for c in reads.duplicate_candidates_for(org.gm, account)}
    assert reads.duplicate_candidates_for(org.salesperson, account) == []
    assert search_matches("55551234") is not None


def test_duplicates_page_groups_visible_accounts(org, account_factory, login):
    a = account_factory(org.salesperson, name="杭州新远有限公司", phone="0571-88880000")
    b = account_factory(org.teammate, name="杭州新远", phone="057188880000")
    c = account_factory(org.outsider, name="杭州新远集团有限公司")
    account_factory(org.teammate, name="毫不相干")
    for x in Account.objects.all():
        account_refresh_search(x)
    groups = reads.duplicate_groups_for(org.manager)
    by_reason = {g.reason: {x.pk for x in g.accounts} for g in groups}
    assert by_reason == {"name": {a.pk, b.pk}, "phone": {a.pk, b.pk}}
    assert {x.pk for g in reads.duplicate_groups_for(org.gm) if g.reason == "name" for x in g.accounts} == {
        a.pk, b.pk, c.pk}
    page = login(org.manager).get("/accounts/duplicates/")
    assert page.status_code == 200
    assert f"/accounts/{a.pk}/merge/{b.pk}/" in page.content.decode()
    assert login(org.salesperson).get("/accounts/duplicates/").status_code == 403


# --- Pages and API --------------------------------------------------------------------------------
def test_merge_pages_compare_confirm_and_undo(org, account_factory, login):
    kept, merged = _pair(org, account_factory)
    Contact.objects.create(account=merged, name="张总")
    client = login(org.manager)
    # The History tab, which the account page loads when it is opened.
    detail = client.get(f"/accounts/{kept.pk}/history/", HTTP_HX_REQUEST="true").content.decode()
    assert f"/accounts/{kept.pk}/merge/" in detail
    pick = client.get(f"/accounts/{kept.pk}/merge/", {"q": "闽江"}).content.decode()
    assert f"/accounts/{kept.pk}/merge/{merged.pk}/" in pick
    compare = client.get(f"/accounts/{kept.pk}/merge/{merged.pk}/")
    html = compare.content.decode()
    assert 'name="choice-address"' in html and 'name="choice-kind"' not in html
    assert compare.context["counts"][0][1] == 1  # one contact will move
    response = client.post(f"/accounts/{kept.pk}/merge/{merged.pk}/", {
        "choice-address": "merged", "choice-notes": "kept", "kept_version": kept.version,
        "merged_version": merged.version})
    assert response.status_code == 302 and response.url == f"/accounts/{kept.pk}/"
    assert Account.objects.get(pk=kept.pk).address == "五一路 1 号"
    record = MergeRecord.objects.get()
    detail = client.get(f"/accounts/{kept.pk}/history/", HTTP_HX_REQUEST="true").content.decode()
    assert f"/accounts/merges/{record.pk}/undo/" in detail
    assert "张总" in client.get(f"/accounts/{kept.pk}/").content.decode()  # the people moved
    assert client.post(f"/accounts/merges/{record.pk}/undo/").status_code == 302
    assert Account.objects.filter(pk=merged.pk).exists()
    # A stale form is refused with a message, not a crash.
    stale = client.post(f"/accounts/{kept.pk}/merge/{merged.pk}/", {"kept_version": 1, "merged_version": 1})
    assert stale.status_code == 422


def test_salesperson_gets_no_merge_pages(org, account_factory, login):
    kept, merged = account_factory(org.salesperson), account_factory(org.salesperson)
    client = login(org.salesperson)
    assert f"/accounts/{kept.pk}/merge/" not in client.get(f"/accounts/{kept.pk}/history/").content.decode()
    assert client.get(f"/accounts/{kept.pk}/merge/").status_code == 403
    assert client.post(f"/accounts/{kept.pk}/merge/{merged.pk}/", {}).status_code == 403
    assert Account.objects.filter(pk=merged.pk).exists()


def test_api_merge_list_undo_and_duplicates(org, account_factory, api):
    kept, merged = _pair(org, account_factory)
    account_refresh_search(merged)
    manager = api(org.manager)
    dups = manager.get(f"/api/v1/accounts/{kept.pk}/duplicates").json()
    assert [(d["id"], sorted(d["reasons"])) for d in dups] == [(merged.pk, ["name", "phone"])]
    response = manager.post(f"/api/v1/accounts/{kept.pk}/merge",
                            {"other": merged.pk, "choices": {"address": "merged"}, "kept_version": kept.version})
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["address"]) == (kept.pk, "五一路 1 号")
    listed = manager.get("/api/v1/merges", {"account": kept.pk}).json()["results"]
    assert [m["merged_id"] for m in listed] == [merged.pk]
    assert api(org.outsider).get("/api/v1/merges", {"account": kept.pk}).json()["results"] == []
    assert api(org.south_manager).post(f"/api/v1/merges/{listed[0]['id']}/undo").status_code == 404
    assert api(org.salesperson).post(f"/api/v1/merges/{listed[0]['id']}/undo").status_code == 403
    undone = manager.post(f"/api/v1/merges/{listed[0]['id']}/undo")
    assert undone.status_code == 200 and undone.json()["undone_at"]
    again = manager.post(f"/api/v1/merges/{listed[0]['id']}/undo")
    assert again.status_code == 422
    bad = manager.post(f"/api/v1/accounts/{kept.pk}/merge", {"other": merged.pk, "extra": 1})
    assert bad.status_code == 422


def test_api_contact_merge(org, account_factory, api):
    account = account_factory(org.salesperson)
    kept = Contact.objects.create(account=account, name="李娜")
    merged = Contact.objects.create(account=account, name="李娜", mobile="13812345678")
    response = api(org.manager).post(f"/api/v1/contacts/{kept.pk}/merge",
                                     {"other": merged.pk, "choices": {"mobile": "merged"}})
    assert response.status_code == 200, response.content
    assert response.json()["mobile"] == "13812345678"
    assert api(org.manager).get("/api/v1/merges", {"contact": kept.pk}).json()["results"][0]["target"] == "contact"
    assert api(org.salesperson).post(f"/api/v1/contacts/{kept.pk}/merge", {"other": merged.pk}).status_code == 403
