"""S1 / S3 — the access matrix for contact and follow-up: interactions, follow-ups and projects
(with their phases and cost changes), for every persona × every state of the record × every action.

The rule under test (R3, R10.4): a record of contact and follow-up hangs off an account and is
visible exactly when its account is — its owner, their team leader, the managers of its
department and the departments above, the general manager and administrators, and whoever
holds an approved, unexpired grant into that department. Writes follow the account rights:
salespeople edit, only sales managers, the general manager and administrators delete;
service agents keep follow-ups (``followup.change``) but do not edit interactions or
projects; marketing reads only. Anonymous callers get 401 from the API and the sign-in
page from HTML.

Personas: those of the account matrix (test_access_matrix.py) without 张敏 (sub_sales) and
华南's manager (the account matrix covers sub-departments and other managers), plus a team
leader (组长 of 华东一组, whose members are 王伟 and 李娜).
States (one account each, with one interaction, one follow-up owned by the account's
owner, one project of two phases — the second with a cost change waiting for the customer —
a contact and a file):
  own = 王伟's (the salesperson); teammate = 李娜's (same team); otherteam = 马超's (华东二组,
  same department, other team); other = 周杰's (华南);
  pool = an account released to the customer pool (its records were made by 前员工, a
  colleague who is none of the personas); deleted = 王伟's account, its records in the
  recycle bin; acctbin = 王伟's account in the recycle bin, its records not deleted.

The two tables below are written out by hand; they are not computed from the access engine.
READS holds for interactions, follow-ups and projects alike (the one rule above): list (Y/-:
appears in the API list), get (API), page (HTML detail page), history (the History tab's
API, which keeps records in the recycle bin readable for whoever sees their account).
WRITES: i. = interaction, f. = follow-up, p. = project; costreq asks the customer to approve
a cost change of a phase (POST /phases/{pk}/cost-changes), decide records the customer's
written decision on a waiting cost change (POST /cost-changes/{pk}/record-decision).

A hidden record answers 404 with the very body a missing id gets, and every refused write
leaves every table of the customer file and of contact and follow-up, the audit log,
notifications, change requests, grants, users, departments, jobs and the queue as they
were (S3, ``fingerprint``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from conftest import settled
from guanxi.activities import services as activity_services
from guanxi.activities.models import CostChange, FollowUp, Interaction, Phase, Project
from guanxi.activities.services import projects as project_services
from guanxi.core.models import Role, Team, User
from guanxi.core.services import records
from guanxi.customers.models import Account, AccountAttachment, Contact
from tests.security.conftest import fingerprint
from tests.security.test_access_matrix import (
    FAST_HASHERS,
    MISSING_ID,
    Anonymous,
    _assert_404_like_missing,
    _check_write,
    _plain,
    outsider_grant_into_east,
    without_csrf,
)

pytestmark = pytest.mark.django_db

PERSONAS = ["salesperson", "teammate", "leader", "manager", "gm", "service", "marketing", "outsider", "admin",
            "outsider_with_grant", "outsider_with_expired_grant", "anonymous"]
STATES = ["own", "teammate", "otherteam", "other", "pool", "deleted", "acctbin"]
READ_ACTIONS = ["list", "get", "page", "history"]
WRITE_ACTIONS = ["i.edit", "i.delete", "f.edit", "f.delete", "f.complete", "f.reassign", "p.edit", "p.delete",
                 "p.costreq", "p.decide"]

READS_TABLE = """
persona                      action      own   teammate otherteam other pool  deleted acctbin
salesperson                  list        Y     -        -         -     -     -       -
salesperson                  get         200   404      404       404   404   404     404
salesperson                  page        200   404      404       404   404   404     404
salesperson                  history     200   404      404       404   404   200     200

teammate                     list        -     Y        -         -     -     -       -
teammate                     get         404   200      404       404   404   404     404
teammate                     page        404   200      404       404   404   404     404
teammate                     history     404   200      404       404   404   404     404

leader                       list        Y     Y        -         -     -     -       -
leader                       get         200   200      404       404   404   404     404
leader                       page        200   200      404       404   404   404     404
leader                       history     200   200      404       404   404   200     200

manager                      list        Y     Y        Y         -     -     -       -
manager                      get         200   200      200       404   404   404     404
manager                      page        200   200      200       404   404   404     404
manager                      history     200   200      200       404   404   200     200

gm                           list        Y     Y        Y         Y     Y     -       -
gm                           get         200   200      200       200   200   404     404
gm                           page        200   200      200       200   200   404     404
gm                           history     200   200      200       200   200   200     200

service                      list        -     -        -         -     -     -       -
service                      get         404   404      404       404   404   404     404
service                      page        404   404      404       404   404   404     404
service                      history     404   404      404       404   404   404     404

marketing                    list        -     -        -         -     -     -       -
marketing                    get         404   404      404       404   404   404     404
marketing                    page        404   404      404       404   404   404     404
marketing                    history     404   404      404       404   404   404     404

outsider                     list        -     -        -         Y     -     -       -
outsider                     get         404   404      404       200   404   404     404
outsider                     page        404   404      404       200   404   404     404
outsider                     history     404   404      404       200   404   404     404

admin                        list        Y     Y        Y         Y     Y     -       -
admin                        get         200   200      200       200   200   404     404
admin                        page        200   200      200       200   200   404     404
admin                        history     200   200      200       200   200   200     200

outsider_with_grant          list        Y     Y        Y         Y     -     -       -
outsider_with_grant          get         200   200      200       200   404   404     404
outsider_with_grant          page        200   200      200       200   404   404     404
outsider_with_grant          history     200   200      200       200   404   200     200

outsider_with_expired_grant  list        -     -        -         Y     -     -       -
outsider_with_expired_grant  get         404   404      404       200   404   404     404
outsider_with_expired_grant  page        404   404      404       200   404   404     404
outsider_with_expired_grant  history     404   404      404       200   404   404     404

anonymous                    list        401   401      401       401   401   401     401
anonymous                    get         401   401      401       401   401   401     401
anonymous                    page        login login    login     login login login   login
anonymous                    history     401   401      401       401   401   401     401
"""

WRITES_TABLE = """
persona                      action      own   teammate otherteam other pool  deleted acctbin
salesperson                  i.edit      200   404      404       404   404   404     404
salesperson                  i.delete    403   403      403       403   403   403     403
salesperson                  f.edit      200   404      404       404   404   404     404
salesperson                  f.delete    403   403      403       403   403   403     403
salesperson                  f.complete  200   404      404       404   404   404     404
salesperson                  f.reassign  200   404      404       404   404   404     404
salesperson                  p.edit      200   404      404       404   404   404     404
salesperson                  p.delete    403   403      403       403   403   403     403
salesperson                  p.costreq   201   404      404       404   404   404     404
salesperson                  p.decide    200   404      404       404   404   404     404

teammate                     i.edit      404   200      404       404   404   404     404
teammate                     i.delete    403   403      403       403   403   403     403
teammate                     f.edit      404   200      404       404   404   404     404
teammate                     f.delete    403   403      403       403   403   403     403
teammate                     f.complete  404   200      404       404   404   404     404
teammate                     f.reassign  404   200      404       404   404   404     404
teammate                     p.edit      404   200      404       404   404   404     404
teammate                     p.delete    403   403      403       403   403   403     403
teammate                     p.costreq   404   201      404       404   404   404     404
teammate                     p.decide    404   200      404       404   404   404     404

leader                       i.edit      200   200      404       404   404   404     404
leader                       i.delete    403   403      403       403   403   403     403
leader                       f.edit      200   200      404       404   404   404     404
leader                       f.delete    403   403      403       403   403   403     403
leader                       f.complete  200   200      404       404   404   404     404
leader                       f.reassign  200   200      404       404   404   404     404
leader                       p.edit      200   200      404       404   404   404     404
leader                       p.delete    403   403      403       403   403   403     403
leader                       p.costreq   201   201      404       404   404   404     404
leader                       p.decide    200   200      404       404   404   404     404

manager                      i.edit      200   200      200       404   404   404     404
manager                      i.delete    204   204      204       404   404   404     404
manager                      f.edit      200   200      200       404   404   404     404
manager                      f.delete    204   204      204       404   404   404     404
manager                      f.complete  200   200      200       404   404   404     404
manager                      f.reassign  200   200      200       404   404   404     404
manager                      p.edit      200   200      200       404   404   404     404
manager                      p.delete    204   204      204       404   404   404     404
manager                      p.costreq   201   201      201       404   404   404     404
manager                      p.decide    200   200      200       404   404   404     404

gm                           i.edit      200   200      200       200   200   404     404
gm                           i.delete    204   204      204       204   204   404     404
gm                           f.edit      200   200      200       200   200   404     404
gm                           f.delete    204   204      204       204   204   404     404
gm                           f.complete  200   200      200       200   200   404     404
gm                           f.reassign  200   200      200       200   200   404     404
gm                           p.edit      200   200      200       200   200   404     404
gm                           p.delete    204   204      204       204   204   404     404
gm                           p.costreq   201   201      201       201   201   404     404
gm                           p.decide    200   200      200       200   200   404     404

service                      i.edit      403   403      403       403   403   403     403
service                      i.delete    403   403      403       403   403   403     403
service                      f.edit      404   404      404       404   404   404     404
service                      f.delete    403   403      403       403   403   403     403
service                      f.complete  404   404      404       404   404   404     404
service                      f.reassign  404   404      404       404   404   404     404
service                      p.edit      403   403      403       403   403   403     403
service                      p.delete    403   403      403       403   403   403     403
service                      p.costreq   403   403      403       403   403   403     403
service                      p.decide    403   403      403       403   403   403     403

marketing                    i.edit      403   403      403       403   403   403     403
marketing                    i.delete    403   403      403       403   403   403     403
marketing                    f.edit      403   403      403       403   403   403     403
marketing                    f.delete    403   403      403       403   403   403     403
marketing                    f.complete  403   403      403       403   403   403     403
marketing                    f.reassign  403   403      403       403   403   403     403
marketing                    p.edit      403   403      403       403   403   403     403
marketing                    p.delete    403   403      403       403   403   403     403
marketing                    p.costreq   403   403      403       403   403   403     403
marketing                    p.decide    403   403      403       403   403   403     403

outsider                     i.edit      404   404      404       200   404   404     404
outsider                     i.delete    403   403      403       403   403   403     403
outsider                     f.edit      404   404      404       200   404   404     404
outsider                     f.delete    403   403      403       403   403   403     403
outsider                     f.complete  404   404      404       200   404   404     404
outsider                     f.reassign  404   404      404       200   404   404     404
outsider                     p.edit      404   404      404       200   404   404     404
outsider                     p.delete    403   403      403       403   403   403     403
outsider                     p.costreq   404   404      404       201   404   404     404
outsider                     p.decide    404   404      404       200   404   404     404

admin                        i.edit      200   200      200       200   200   404     404
admin                        i.delete    204   204      204       204   204   404     404
admin                        f.edit      200   200      200       200   200   404     404
admin                        f.delete    204   204      204       204   204   404     404
admin                        f.complete  200   200      200       200   200   404     404
admin                        f.reassign  200   200      200       200   200   404     404
admin                        p.edit      200   200      200       200   200   404     404
admin                        p.delete    204   204      204       204   204   404     404
admin                        p.costreq   201   201      201       201   201   404     404
admin                        p.decide    200   200      200       200   200   404     404

outsider_with_grant          i.edit      200   200      200       200   404   404     404
outsider_with_grant          i.delete    403   403      403       403   403   403     403
outsider_with_grant          f.edit      200   200      200       200   404   404     404
outsider_with_grant          f.delete    403   403      403       403   403   403     403
outsider_with_grant          f.complete  200   200      200       200   404   404     404
outsider_with_grant          f.reassign  200   200      200       200   404   404     404
outsider_with_grant          p.edit      200   200      200       200   404   404     404
outsider_with_grant          p.delete    403   403      403       403   403   403     403
outsider_with_grant          p.costreq   201   201      201       201   404   404     404
outsider_with_grant          p.decide    200   200      200       200   404   404     404

outsider_with_expired_grant  i.edit      404   404      404       200   404   404     404
outsider_with_expired_grant  i.delete    403   403      403       403   403   403     403
outsider_with_expired_grant  f.edit      404   404      404       200   404   404     404
outsider_with_expired_grant  f.delete    403   403      403       403   403   403     403
outsider_with_expired_grant  f.complete  404   404      404       200   404   404     404
outsider_with_expired_grant  f.reassign  404   404      404       200   404   404     404
outsider_with_expired_grant  p.edit      404   404      404       200   404   404     404
outsider_with_expired_grant  p.delete    403   403      403       403   403   403     403
outsider_with_expired_grant  p.costreq   404   404      404       201   404   404     404
outsider_with_expired_grant  p.decide    404   404      404       200   404   404     404

anonymous                    i.edit      401   401      401       401   401   401     401
anonymous                    i.delete    401   401      401       401   401   401     401
anonymous                    f.edit      401   401      401       401   401   401     401
anonymous                    f.delete    401   401      401       401   401   401     401
anonymous                    f.complete  401   401      401       401   401   401     401
anonymous                    f.reassign  401   401      401       401   401   401     401
anonymous                    p.edit      401   401      401       401   401   401     401
anonymous                    p.delete    401   401      401       401   401   401     401
anonymous                    p.costreq   401   401      401       401   401   401     401
anonymous                    p.decide    401   401      401       401   401   401     401
"""


def _parse(table: str, actions: list[str]) -> dict[tuple[str, str, str], str]:
    lines = [line.split() for line in table.strip().splitlines() if line.strip()]
    assert lines[0][2:] == STATES
    spec = {}
    for persona, action, *cells in lines[1:]:
        assert len(cells) == len(STATES), (persona, action)
        spec.update({(persona, action, state): value for state, value in zip(STATES, cells, strict=True)})
    assert set(spec) == {(p, a, s) for p in PERSONAS for a in actions for s in STATES}, "the spec has a gap"
    return spec


READS = _parse(READS_TABLE, READ_ACTIONS)
WRITES = _parse(WRITES_TABLE, WRITE_ACTIONS)


def test_the_fingerprint_covers_every_table_of_contact_and_follow_up() -> None:
    """S3 is only as good as the fingerprint: a table added to the app must be added to it."""
    import inspect

    from tests.security import conftest

    source = inspect.getsource(conftest.fingerprint)
    for model in apps.get_app_config("activities").get_models(include_auto_created=True):
        if model._meta.auto_created:
            owner, field = model._meta.auto_created, next(
                f.name for f in model._meta.auto_created._meta.many_to_many if f.remote_field.through is model)
            needle = f"activities.{owner.__name__}.{field}.through"
        else:
            needle = f"activities.{model.__name__}."
        assert needle in source, f"fingerprint() does not cover {model._meta.label}"


# --- The world ------------------------------------------------------------------------------------
class Records:
    """The ids of one state's account and of what hangs off it."""

    def __init__(self) -> None:
        self.tag = f"ax{uuid.uuid4().hex[:10]}"
        self.account = self.interaction = self.followup = self.project = 0
        self.phase = self.change = self.contact = self.attachment = 0


class World:
    def __init__(self, org: Any) -> None:
        self.org = org
        self.records: dict[str, Records] = {}
        self.actors: dict[str, User | None] = {}
        self.api: dict[str, Any] = {}
        self.browser: dict[str, Client] = {}


def _person(username: str, name: str, department: Any) -> User:
    user = User.objects.create_user(username=username, password="Matrix-Pass-2026!", name=name, department=department)
    user.roles.set([Role.objects.get(code="salesperson")])
    return user


def _fill(org: Any, account: Account, owner: User, r: Records) -> None:
    """One of everything on ``account``, made by its owner through the services."""
    contact = Contact.objects.create(account=account, name=f"联系人{r.tag}", mobile="13800138000")
    attachment = AccountAttachment(account=account, kind="other", original_name=f"确认函{r.tag}.pdf",
                                   content_type="application/pdf", size=8, uploaded_by=owner)
    attachment.file.save("evidence.pdf", ContentFile(b"%PDF-1.4"), save=False)
    attachment.save()
    interaction = activity_services.interaction_create(actor=owner, account=account, kind="visit",
                                                       summary=f"拜访纪要{r.tag}")
    followup = activity_services.followup_create(actor=owner, account=account, owner=owner, title=f"回访{r.tag}",
                                                 due_at="2031-03-01T10:00:00+08:00")
    project = project_services.project_create(actor=owner, account=account, name=f"项目{r.tag}", budget=100000)
    project_services.phase_add(actor=owner, project=project, name="方案设计", cost=20000)
    waiting = project_services.phase_add(actor=owner, project=project, name="实施", cost=50000)
    change, _token = project_services.cost_change_request(actor=owner, phase=waiting, amount=Decimal("5000"),
                                                         reason="增加现场培训")
    r.account, r.contact, r.attachment = account.pk, contact.pk, attachment.pk
    r.interaction, r.followup, r.project = interaction.pk, followup.pk, project.pk
    r.phase = Phase.objects.filter(project=project).order_by("position").values_list("pk", flat=True)[0]
    r.change = change.pk


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    import conftest

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            org = _plain(conftest.org)(None)
            make_account = _plain(conftest.account_factory)(None)
            org.leader = _person("leader", "组长", org.east)
            org.team.leader = org.leader
            org.team.save(update_fields=["leader"])
            org.sales4 = _person("sales4", "马超", org.east)
            Team.objects.create(name="华东二组", department=org.east).members.set([org.sales4])
            org.former = _person("former", "前员工", org.east)
            w = World(org)
            owners = {"own": org.salesperson, "teammate": org.teammate, "otherteam": org.sales4,
                      "other": org.outsider, "pool": org.former, "deleted": org.salesperson,
                      "acctbin": org.salesperson}
            for state, owner in owners.items():
                r = Records()
                account = make_account(owner, name=f"活动矩阵{state}客户{r.tag}有限公司")
                _fill(org, account, owner, r)
                w.records[state] = r
                if state == "pool":  # released: no owner, no department; its records stay
                    Account.objects.filter(pk=account.pk).update(owner=None, department=None,
                                                                 pool_entered_at=timezone.now())
                elif state == "deleted":
                    for model, pk in ((Interaction, r.interaction), (FollowUp, r.followup), (Project, r.project)):
                        records.record_delete(actor=org.manager, obj=model.objects.get(pk=pk))
                elif state == "acctbin":
                    records.record_delete(actor=org.manager, obj=account)
            sign_in(org, w)
            yield settled(w)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def sign_in(org: Any, w: World) -> None:
    import conftest

    api_class = _plain(conftest.api)(None)
    for persona in PERSONAS:
        user = None if persona == "anonymous" else org.outsider if persona.startswith("outsider_with_") \
            else getattr(org, persona)
        w.actors[persona] = user
        if user is None:
            w.api[persona], w.browser[persona] = Anonymous(), Client()
        elif persona.startswith("outsider_with_"):
            w.api[persona], w.browser[persona] = w.api["outsider"], w.browser["outsider"]
        else:
            w.api[persona], w.browser[persona] = api_class(user), Client()
            w.browser[persona].force_login(user)


class Cell:
    def __init__(self, world: World, persona: str, state: str) -> None:
        self.world, self.persona, self.state = world, persona, state
        self.r = world.records[state]
        self.actor = world.actors[persona]
        self.api = world.api[persona]
        self.browser = world.browser[persona]

    def read(self, action: str) -> str:
        return READS[self.persona, action, self.state]

    def write(self, action: str) -> str:
        return WRITES[self.persona, action, self.state]


@pytest.fixture
def cell(request: Any, world: World, db: Any) -> Cell:
    persona, state = request.param
    if persona == "outsider_with_grant":
        outsider_grant_into_east(world.org, expired=False)
    elif persona == "outsider_with_expired_grant":
        outsider_grant_into_east(world.org, expired=True)
    return Cell(world, persona, state)


CELLS = [pytest.param((p, s), id=f"{p}-{s}") for p in PERSONAS for s in STATES]


# --- Reads ------------------------------------------------------------------------------------------
def _ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def _check_get(c: Cell, template: str, pk: int, action: str = "get") -> Any:
    expected = c.read(action)
    response = c.api.get(template.format(pk=pk))
    assert response.status_code == int(expected), (template, response.content)
    if expected == "404":
        _assert_404_like_missing(c.api, "get", template, response)
    return response


def _check_page(c: Cell, template: str, pk: int) -> None:
    expected = c.read("page")
    path = template.format(pk=pk)
    response = c.browser.get(path)
    if expected == "login":
        assert response.status_code == 302 and response["Location"].startswith("/login/")
        return
    assert response.status_code == int(expected), path
    if expected == "404":
        missing_path = template.format(pk=MISSING_ID)
        missing = c.browser.get(missing_path)
        assert missing.status_code == 404
        assert without_csrf(response.content).replace(path.encode(), b"<p>") == \
            without_csrf(missing.content).replace(missing_path.encode(), b"<p>"), "hidden must look like missing"


def _check_list(c: Cell, path: str, params: dict[str, Any], pk: int) -> None:
    response = c.api.get(path, params)
    if c.read("list") == "401":
        assert response.status_code == 401
        return
    assert (pk in _ids(response)) == (c.read("list") == "Y"), path


@pytest.mark.parametrize("cell", CELLS, indirect=True)
class TestReads:
    def test_interaction_list_get_page_and_history(self, cell: Cell) -> None:
        pk = cell.r.interaction
        _check_list(cell, "/api/v1/interactions", {"page_size": 200}, pk)
        response = _check_get(cell, "/api/v1/interactions/{pk}", pk)
        if response.status_code == 200:
            assert response.json()["summary"] == f"拜访纪要{cell.r.tag}"
        _check_page(cell, "/activities/interactions/{pk}/", pk)
        _check_get(cell, "/api/v1/history/activities.interaction/{pk}", pk, "history")

    def test_followup_list_get_page_and_history(self, cell: Cell) -> None:
        pk = cell.r.followup
        _check_list(cell, "/api/v1/followups", {"page_size": 200}, pk)
        response = _check_get(cell, "/api/v1/followups/{pk}", pk)
        if response.status_code == 200:
            assert response.json()["title"] == f"回访{cell.r.tag}"
        _check_page(cell, "/activities/followups/{pk}/", pk)
        _check_get(cell, "/api/v1/history/activities.followup/{pk}", pk, "history")

    def test_project_list_get_page_phases_and_history(self, cell: Cell) -> None:
        pk = cell.r.project
        _check_list(cell, "/api/v1/projects", {"q": cell.r.tag}, pk)
        response = _check_get(cell, "/api/v1/projects/{pk}", pk)
        if response.status_code == 200:
            assert response.json()["name"] == f"项目{cell.r.tag}"
            assert response.json()["waiting_for_customer"] is True
        phases = _check_get(cell, "/api/v1/projects/{pk}/phases", pk)
        if phases.status_code == 200:
            assert [row["name"] for row in phases.json()] == ["方案设计", "实施"]
        _check_get(cell, "/api/v1/phases/{pk}/cost-changes", cell.r.phase)
        _check_page(cell, "/activities/projects/{pk}/", pk)
        _check_get(cell, "/api/v1/history/activities.project/{pk}", pk, "history")


# --- Writes -----------------------------------------------------------------------------------------
def reassign_target(world: World, state: str) -> User:
    """A colleague who sees the state's account: 华东's manager, 华南's, or the general manager."""
    return {"other": world.org.south_manager, "pool": world.org.gm}.get(state, world.org.manager)


def _row(model: Any, pk: int) -> Any:
    return model._base_manager.get(pk=pk)


@pytest.mark.parametrize("cell", CELLS, indirect=True)
class TestWrites:
    def test_interaction_edit(self, cell: Cell) -> None:
        expected = cell.write("i.edit")
        before = _row(Interaction, cell.r.interaction)
        _check_write(cell.api, expected, "patch", "/api/v1/interactions/{pk}", before.pk,
                     {"version": before.version, "summary": "改过的纪要"})
        assert (_row(Interaction, before.pk).summary == "改过的纪要") == (expected == "200")

    def test_interaction_delete(self, cell: Cell) -> None:
        expected = cell.write("i.delete")
        was = _row(Interaction, cell.r.interaction).deleted_at
        _check_write(cell.api, expected, "delete", "/api/v1/interactions/{pk}", cell.r.interaction)
        now = _row(Interaction, cell.r.interaction).deleted_at
        assert now == was if expected != "204" else (was is None and now is not None)

    def test_followup_edit(self, cell: Cell) -> None:
        expected = cell.write("f.edit")
        before = _row(FollowUp, cell.r.followup)
        _check_write(cell.api, expected, "patch", "/api/v1/followups/{pk}", before.pk,
                     {"version": before.version, "title": "改过的下一步"})
        assert (_row(FollowUp, before.pk).title == "改过的下一步") == (expected == "200")

    def test_followup_delete(self, cell: Cell) -> None:
        expected = cell.write("f.delete")
        was = _row(FollowUp, cell.r.followup).deleted_at
        _check_write(cell.api, expected, "delete", "/api/v1/followups/{pk}", cell.r.followup)
        now = _row(FollowUp, cell.r.followup).deleted_at
        assert now == was if expected != "204" else (was is None and now is not None)

    def test_followup_complete(self, cell: Cell) -> None:
        expected = cell.write("f.complete")
        _check_write(cell.api, expected, "post", "/api/v1/followups/{pk}/complete", cell.r.followup,
                     {"outcome": "客户同意下周签约"})
        followup = _row(FollowUp, cell.r.followup)
        assert (followup.state == FollowUp.State.DONE) == (expected == "200")
        if expected == "200":
            assert followup.done_by_id == cell.actor.pk

    def test_followup_reassign(self, cell: Cell, world: World) -> None:
        expected = cell.write("f.reassign")
        target = reassign_target(world, cell.state)
        before = _row(FollowUp, cell.r.followup).owner_id
        _check_write(cell.api, expected, "post", "/api/v1/followups/{pk}/reassign", cell.r.followup,
                     {"owner": target.pk, "note": "请协助跟进"})
        assert _row(FollowUp, cell.r.followup).owner_id == (target.pk if expected == "200" else before)

    def test_project_edit(self, cell: Cell) -> None:
        expected = cell.write("p.edit")
        before = _row(Project, cell.r.project)
        _check_write(cell.api, expected, "patch", "/api/v1/projects/{pk}", before.pk,
                     {"version": before.version, "goal": "三季度上线"})
        assert (_row(Project, before.pk).goal == "三季度上线") == (expected == "200")

    def test_project_delete(self, cell: Cell) -> None:
        expected = cell.write("p.delete")
        was = _row(Project, cell.r.project).deleted_at
        _check_write(cell.api, expected, "delete", "/api/v1/projects/{pk}", cell.r.project)
        now = _row(Project, cell.r.project).deleted_at
        assert now == was if expected != "204" else (was is None and now is not None)

    def test_cost_change_request_on_a_phase(self, cell: Cell) -> None:
        expected = cell.write("p.costreq")
        count = CostChange.objects.filter(phase_id=cell.r.phase).count()
        response = _check_write(cell.api, expected, "post", "/api/v1/phases/{pk}/cost-changes", cell.r.phase,
                                {"amount": "3000.00", "reason": "追加设备"})
        assert CostChange.objects.filter(phase_id=cell.r.phase).count() == count + (expected == "201")
        if expected == "201":
            assert "/activities/cost-approval/" in response.json()["approval_url"]

    def test_cost_change_decision_recorded_by_staff(self, cell: Cell) -> None:
        expected = cell.write("p.decide")
        template = "/api/v1/cost-changes/{pk}/record-decision"
        form = {"decision": "approve", "customer_name": "客户采购部李经理", "evidence_id": str(cell.r.attachment)}
        before = fingerprint()
        response = cell.api.client.post(template.format(pk=cell.r.change), form)
        assert response.status_code == int(expected), response.content
        change = CostChange.objects.get(pk=cell.r.change)
        phase = Phase.objects.get(pk=change.phase_id)
        if expected == "200":
            assert change.state == CostChange.State.APPROVED and change.evidence_id == cell.r.attachment
            assert phase.cost == Decimal("55000")
            return
        assert fingerprint() == before, "a refused decision changed something"
        assert change.state == CostChange.State.PENDING and phase.cost == Decimal("50000")
        if expected == "404":
            missing = cell.api.client.post(template.format(pk=MISSING_ID), form)
            assert missing.status_code == 404 and missing.json() == response.json()
