"""S6 — approval bypass: a hypothesis state machine over draft → approved → change request → decision.

Actors: the salesperson, their sales manager, two general managers and the administrator.
The machine keeps its own model of what the account must hold and checks, after every
step, that the database agrees: nobody approves a record they own or created, nobody
decides their own change request, and once approved the account changes only when a
general manager other than the requester approves a change request made against the
current version.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule, run_state_machine_as_test

from conftest import PASSWORD
from guanxi.core.models import ApprovalState, AuditEvent, ChangeRequest, Role, User
from guanxi.customers.models import Account

pytestmark = pytest.mark.django_db

ACTORS = ["sales", "manager", "gm", "gm2", "admin"]
GENERAL_MANAGERS = {"gm", "gm2"}
EVERYTHING = {"gm", "gm2", "admin"}  # roles that see every account
FIELDS = ["name", "region", "notes"]
text = st.text(alphabet="甲乙丙丁戊abcXYZ0123", min_size=1, max_size=6)


@pytest.fixture
def people(org, api):
    gm2 = User.objects.create_user(username="gm2", password=PASSWORD, name="副总", department=org.hq)
    gm2.roles.set([Role.objects.get(code="general_manager")])
    users = {"sales": org.salesperson, "manager": org.manager, "gm": org.gm, "gm2": gm2, "admin": org.admin}
    return users, {name: api(user) for name, user in users.items()}


def make_machine(users: dict[str, User], clients: dict[str, Any]) -> type[RuleBasedStateMachine]:
    ids = {name: user.pk for name, user in users.items()}

    class ApprovalMachine(RuleBasedStateMachine):
        requests = Bundle("requests")

        @initialize(creator=st.sampled_from(["sales", "manager", "gm"]), give_to_sales=st.booleans(),
                    approve_first=st.booleans())
        def create_account(self, creator: str, give_to_sales: bool, approve_first: bool) -> None:
            self._atomic = transaction.atomic()
            self._atomic.__enter__()
            self.creator = creator
            self.owner = "sales" if creator == "sales" or give_to_sales else creator
            body = {"name": "审批测试有限公司", "region": "上海", "owner": ids[self.owner]}
            response = clients[creator].post("/api/v1/accounts", body)
            assert response.status_code == 201, response.content
            self.pk = response.json()["id"]
            self.expected = {"name": "审批测试有限公司", "region": "上海", "notes": ""}
            self.version = 1
            self.approved_by: str | None = None
            self.pending: dict[int, dict[str, Any]] = {}
            self.closed: dict[int, str] = {}
            self.all_requests: dict[int, dict[str, Any]] = {}
            if approve_first:  # half the runs start from an approved account
                self.approve_account("gm2")

        def teardown(self) -> None:
            if hasattr(self, "_atomic"):
                transaction.set_rollback(True)
                self._atomic.__exit__(None, None, None)

        # --- the model's view of who sees what ------------------------------------------
        def sees_account(self, actor: str) -> bool:
            if actor in EVERYTHING:
                return True
            if actor == "manager":  # East sales: the salesperson's and their own accounts
                return self.owner in {"sales", "manager"}
            return self.owner == actor

        def account(self) -> Account:
            return Account.all_objects.get(pk=self.pk)

        # --- rules --------------------------------------------------------------------------
        @rule(target=requests, actor=st.sampled_from(ACTORS), field=st.sampled_from(FIELDS), value=text)
        def edit(self, actor: str, field: str, value: str) -> Any:
            return self._edit(actor, field, value)

        @rule(target=requests, actor=st.sampled_from(ACTORS), value=text)
        def edit_name(self, actor: str, value: str) -> Any:  # edits are the interesting step: weight them
            return self._edit(actor, "name", value)

        def _edit(self, actor: str, field: str, value: str) -> Any:
            response = clients[actor].patch(f"/api/v1/accounts/{self.pk}", {"version": self.version, field: value})
            event(f"edit -> {response.status_code}")
            if not self.sees_account(actor):
                assert response.status_code == 404, response.content
                return multiple()
            if self.approved_by is None:
                assert response.status_code == 200, response.content
                if self.expected[field] != value:
                    self.expected[field] = value
                    self.version += 1
                assert response.json()["version"] == self.version
                return multiple()
            if self.expected[field] == value:
                assert response.status_code == 422, response.content  # nothing to request
                return multiple()
            # Approved: the edit becomes a change request and the account stays as it is.
            assert response.status_code == 202, response.content
            body = response.json()
            assert body["state"] == "pending"
            cr = body["change_request"]
            shown = clients[actor].get(f"/api/v1/change-requests/{cr}")
            assert shown.status_code == 200, shown.content
            assert shown.json()["changes"] == {field: [self.expected[field], value]}
            assert shown.json()["requested_by"] == ids[actor]
            row = {"by": actor, "field": field, "value": value, "target_version": self.version}
            self.pending[cr] = row
            self.all_requests[cr] = row
            return cr

        @rule(actor=st.sampled_from(ACTORS))
        def stale_edit(self, actor: str) -> None:
            if self.version == 1:
                return
            response = clients[actor].patch(f"/api/v1/accounts/{self.pk}",
                                            {"version": self.version - 1, "notes": "过期的写入"})
            if not self.sees_account(actor):
                assert response.status_code == 404, response.content
            else:
                assert response.status_code == 409, response.content

        @rule(actor=st.sampled_from(ACTORS))
        def approve_account(self, actor: str) -> None:
            response = clients[actor].post(f"/api/v1/accounts/{self.pk}/approve", {})
            event(f"approve -> {response.status_code}")
            if actor == "sales":
                assert response.status_code == 403, response.content  # no approve right at all
            elif not self.sees_account(actor):
                assert response.status_code == 404, response.content
            elif actor in {self.owner, self.creator}:
                assert response.status_code == 403, response.content  # no self-approval
            elif self.approved_by is not None:
                assert response.status_code == 422, response.content
            else:
                assert response.status_code == 200, response.content
                assert response.json()["approval_state"] == "approved"
                self.approved_by = actor
                self.version += 1

        @rule(actor=st.sampled_from(ACTORS), cr=requests, approve=st.booleans())
        def decide(self, actor: str, cr: int, approve: bool) -> None:
            self._decide(actor, cr, approve)

        @rule(actor=st.sampled_from(sorted(GENERAL_MANAGERS)), cr=requests)
        def approve_request(self, actor: str, cr: int) -> None:
            self._decide(actor, cr, True)

        def _decide(self, actor: str, cr: int, approve: bool) -> None:
            row = self.all_requests[cr]
            verb = "approve" if approve else "reject"
            response = clients[actor].post(f"/api/v1/change-requests/{cr}/{verb}", {})
            event(f"decide -> {response.status_code}")
            if not (actor == row["by"] or actor in EVERYTHING):
                assert response.status_code == 404, response.content
            elif actor == row["by"]:
                assert response.status_code == 403, response.content  # nobody decides their own
            elif actor not in GENERAL_MANAGERS:
                assert response.status_code == 403, response.content  # the admin is not the approver
            elif cr not in self.pending:
                assert response.status_code == 422, response.content  # already decided
            elif approve and row["target_version"] != self.version:
                assert response.status_code == 409, response.content  # the record moved on
            else:
                assert response.status_code == 200, response.content
                assert response.json()["decided_by"] == ids[actor]
                del self.pending[cr]
                if approve:
                    self.closed[cr] = "approved"
                    self.expected[row["field"]] = row["value"]
                    self.version += 1
                    audit_row = AuditEvent.objects.filter(content_type__model="account", object_id=str(self.pk),
                                                      action="update").order_by("-id").first()
                    assert audit_row is not None and f"#{cr}" in audit_row.note, audit_row and audit_row.note
                    assert audit_row.actor_id == ids[actor]
                    assert audit_row.changes == {row["field"]: [audit_row.changes[row["field"]][0], row["value"]]}
                else:
                    self.closed[cr] = "rejected"

        @rule(actor=st.sampled_from(ACTORS), cr=requests)
        def cancel(self, actor: str, cr: int) -> None:
            row = self.all_requests[cr]
            response = clients[actor].post(f"/api/v1/change-requests/{cr}/cancel", {})
            event(f"cancel -> {response.status_code}")
            if actor != row["by"]:
                assert response.status_code == 404, response.content  # only the requester cancels
            elif cr not in self.pending:
                assert response.status_code == 422, response.content
            else:
                assert response.status_code == 200, response.content
                del self.pending[cr]
                self.closed[cr] = "cancelled"

        # --- invariants ---------------------------------------------------------------------
        @invariant()
        def database_matches_model(self) -> None:
            if not hasattr(self, "pk"):
                return
            account = self.account()
            assert {f: getattr(account, f) for f in FIELDS} == self.expected
            assert account.version == self.version
            if self.approved_by is None:
                assert account.approval_state == ApprovalState.DRAFT and account.approved_by_id is None
            else:
                assert account.approval_state == ApprovalState.APPROVED
                assert account.approved_by_id == ids[self.approved_by]
                assert account.approved_by_id not in {account.owner_id, account.created_by_id}
            assert account.owner_id == ids[self.owner]
            for cr, state in {**{pk: "pending" for pk in self.pending}, **self.closed}.items():
                request = ChangeRequest.objects.get(pk=cr)
                assert request.state == state
                if state in {"approved", "rejected"}:
                    assert request.decided_by_id != request.requested_by_id
                    assert request.decided_by.has_role("general_manager")

    return ApprovalMachine


def test_approval_state_machine(people):
    users, clients = people
    machine = make_machine(users, clients)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=25, stateful_step_count=8, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    ))


# --- The same rules, spelled out once each ------------------------------------------------------
@pytest.fixture
def approved(org, api, people):
    users, clients = people
    created = clients["sales"].post("/api/v1/accounts", {"name": "已审批客户有限公司", "region": "上海"})
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    ok = clients["manager"].post(f"/api/v1/accounts/{pk}/approve", {})
    assert ok.status_code == 200, ok.content
    return Account.objects.get(pk=pk), users, clients


def test_owner_and_creator_cannot_approve_their_own_account(org, api):
    manager = api(org.manager)
    created = manager.post("/api/v1/accounts", {"name": "经理自建客户有限公司"})  # owned and created by the manager
    pk = created.json()["id"]
    assert manager.post(f"/api/v1/accounts/{pk}/approve", {}).status_code == 403
    for_sales = manager.post("/api/v1/accounts", {"name": "经理代建客户有限公司", "owner": org.salesperson.pk})
    pk2 = for_sales.json()["id"]
    assert manager.post(f"/api/v1/accounts/{pk2}/approve", {}).status_code == 403  # created it
    assert Account.objects.filter(approval_state=ApprovalState.APPROVED).count() == 0
    assert api(org.gm).post(f"/api/v1/accounts/{pk2}/approve", {}).status_code == 200


def test_patch_on_approved_account_files_change_request_and_changes_nothing(approved):
    account, _users, clients = approved
    response = clients["sales"].patch(f"/api/v1/accounts/{account.pk}",
                                      {"version": account.version, "name": "新名称有限公司", "reason": "更名"})
    assert response.status_code == 202, response.content
    cr = response.json()["change_request"]
    fresh = Account.objects.get(pk=account.pk)
    assert fresh.name == "已审批客户有限公司" and fresh.version == account.version
    shown = clients["sales"].get(f"/api/v1/change-requests/{cr}").json()
    assert shown["changes"] == {"name": ["已审批客户有限公司", "新名称有限公司"]}
    assert shown["state"] == "pending" and shown["reason"] == "更名"


def test_nobody_decides_their_own_change_request(approved):
    account, _users, clients = approved
    response = clients["gm"].patch(f"/api/v1/accounts/{account.pk}", {"version": account.version, "region": "北京"})
    cr = response.json()["change_request"]
    assert clients["gm"].post(f"/api/v1/change-requests/{cr}/approve", {}).status_code == 403
    assert clients["gm"].post(f"/api/v1/change-requests/{cr}/reject", {}).status_code == 403
    assert clients["admin"].post(f"/api/v1/change-requests/{cr}/approve", {}).status_code == 403
    assert clients["manager"].post(f"/api/v1/change-requests/{cr}/approve", {}).status_code == 404
    assert Account.objects.get(pk=account.pk).region == "上海"
    assert ChangeRequest.objects.get(pk=cr).state == "pending"
    ok = clients["gm2"].post(f"/api/v1/change-requests/{cr}/approve", {"note": "同意"})
    assert ok.status_code == 200, ok.content
    assert Account.objects.get(pk=account.pk).region == "北京"


def test_approving_a_change_request_applies_it_with_an_audit_row(approved):
    account, users, clients = approved
    response = clients["sales"].patch(f"/api/v1/accounts/{account.pk}", {"version": account.version, "notes": "新备注"})
    cr = response.json()["change_request"]
    ok = clients["gm"].post(f"/api/v1/change-requests/{cr}/approve", {})
    assert ok.status_code == 200, ok.content
    assert ok.json()["state"] == "approved"
    fresh = Account.objects.get(pk=account.pk)
    assert fresh.notes == "新备注" and fresh.version == account.version + 1
    event = AuditEvent.objects.get(content_type__model="account", object_id=str(account.pk), action="update")
    assert f"#{cr}" in event.note
    assert event.changes == {"notes": ["", "新备注"]}
    assert event.actor_id == users["gm"].pk


def test_change_request_against_an_older_version_cannot_be_approved(approved):
    account, _users, clients = approved
    first = clients["sales"].patch(f"/api/v1/accounts/{account.pk}", {"version": account.version, "name": "甲有限公司"})
    second = clients["sales"].patch(f"/api/v1/accounts/{account.pk}", {"version": account.version, "region": "杭州"})
    assert first.status_code == second.status_code == 202
    assert clients["gm"].post(f"/api/v1/change-requests/{first.json()['change_request']}/approve", {}).status_code == 200
    stale = clients["gm"].post(f"/api/v1/change-requests/{second.json()['change_request']}/approve", {})
    assert stale.status_code == 409, stale.content
    fresh = Account.objects.get(pk=account.pk)
    assert fresh.region == "上海" and fresh.name == "甲有限公司"
    assert ChangeRequest.objects.get(pk=second.json()["change_request"]).state == "pending"


def test_approved_account_cannot_be_deleted_directly(approved):
    account, _users, clients = approved
    response = clients["manager"].delete(f"/api/v1/accounts/{account.pk}")
    assert response.status_code == 403, response.content
    assert Account.objects.filter(pk=account.pk).exists()
