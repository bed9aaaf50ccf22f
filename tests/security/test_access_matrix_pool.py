"""S1 / S3 — the customer pool and reassignment, for every persona × account state.

The world is the account matrix's (test_access_matrix.py): one account per state — own
(the salesperson's), teammate, sub (上海办事处), other (华南), pool (no owner, no
department), deleted, approved. The expected cells are written out by hand from the rules:

* the pool list shows pool accounts only, to everyone with ``pool.view`` (not service,
  marketing); claiming works on pool accounts only (anything else is "not in the pool": 404)
  for holders of ``pool.claim`` — administrators configure the pool but do not claim;
* releasing is for the owner, or a manager (``account.reassign``) who sees the account;
  someone who merely sees it through an access grant is refused (403); an account already
  in the pool cannot be released again (422);
* reassigning (to 张敏 of 上海办事处) needs ``account.reassign``, an account the actor sees
  (else 404) and a colleague the actor manages (else 422); giving an account to its owner is
  refused (422); approved accounts move without a change request (the right is its own).

Every refused write leaves every table and the queue as they were (S3).
"""

from __future__ import annotations

from typing import Any

import pytest

from guanxi.customers.models import Account
from tests.security import test_access_matrix as account_matrix
from tests.security.test_access_matrix import PERSONAS, STATES, Cell, _check_write

# The account matrix's fixtures: the same world of personas and one account per state.
world = account_matrix.world
cell = account_matrix.cell

pytestmark = pytest.mark.django_db

POOL_SPEC_TABLE = """
persona                      action    own   teammate sub   other pool  deleted approved
salesperson                  poollist  -     -        -     -     Y     -       -
salesperson                  claim     404   404      404   404   200   404     404
salesperson                  release   200   404      404   404   404   404     200
salesperson                  reassign  403   403      403   403   403   403     403

teammate                     poollist  -     -        -     -     Y     -       -
teammate                     claim     404   404      404   404   200   404     404
teammate                     release   404   200      404   404   404   404     404
teammate                     reassign  403   403      403   403   403   403     403

sub_sales                    poollist  -     -        -     -     Y     -       -
sub_sales                    claim     404   404      404   404   200   404     404
sub_sales                    release   404   404      200   404   404   404     404
sub_sales                    reassign  403   403      403   403   403   403     403

manager                      poollist  -     -        -     -     Y     -       -
manager                      claim     404   404      404   404   200   404     404
manager                      release   200   200      200   404   404   404     200
manager                      reassign  200   200      422   404   404   404     200

south_manager                poollist  -     -        -     -     Y     -       -
south_manager                claim     404   404      404   404   200   404     404
south_manager                release   404   404      404   200   404   404     404
south_manager                reassign  404   404      404   422   404   404     404

gm                           poollist  -     -        -     -     Y     -       -
gm                           claim     404   404      404   404   200   404     404
gm                           release   200   200      200   200   422   404     200
gm                           reassign  200   200      422   200   200   404     200

service                      poollist  403   403      403   403   403   403     403
service                      claim     403   403      403   403   403   403     403
service                      release   403   403      403   403   403   403     403
service                      reassign  403   403      403   403   403   403     403

marketing                    poollist  403   403      403   403   403   403     403
marketing                    claim     403   403      403   403   403   403     403
marketing                    release   403   403      403   403   403   403     403
marketing                    reassign  403   403      403   403   403   403     403

outsider                     poollist  -     -        -     -     Y     -       -
outsider                     claim     404   404      404   404   200   404     404
outsider                     release   404   404      404   200   404   404     404
outsider                     reassign  403   403      403   403   403   403     403

admin                        poollist  -     -        -     -     Y     -       -
admin                        claim     403   403      403   403   403   403     403
admin                        release   403   403      403   403   403   403     403
admin                        reassign  200   200      422   200   200   404     200

outsider_with_grant          poollist  -     -        -     -     Y     -       -
outsider_with_grant          claim     404   404      404   404   200   404     404
outsider_with_grant          release   403   403      403   200   404   404     403
outsider_with_grant          reassign  403   403      403   403   403   403     403

outsider_with_expired_grant  poollist  -     -        -     -     Y     -       -
outsider_with_expired_grant  claim     404   404      404   404   200   404     404
outsider_with_expired_grant  release   404   404      404   200   404   404     404
outsider_with_expired_grant  reassign  403   403      403   403   403   403     403

anonymous                    poollist  401   401      401   401   401   401     401
anonymous                    claim     401   401      401   401   401   401     401
anonymous                    release   401   401      401   401   401   401     401
anonymous                    reassign  401   401      401   401   401   401     401
"""
ACTIONS = ["poollist", "claim", "release", "reassign"]


def _parse(table: str) -> dict[tuple[str, str, str], str]:
    lines = [line.split() for line in table.strip().splitlines() if line.strip()]
    assert lines[0][2:] == STATES
    spec = {}
    for persona, action, *cells in lines[1:]:
        assert len(cells) == len(STATES), (persona, action)
        spec.update({(persona, action, state): value for state, value in zip(STATES, cells, strict=True)})
    return spec


POOL_SPEC = _parse(POOL_SPEC_TABLE)
assert set(POOL_SPEC) == {(p, a, s) for p in PERSONAS for a in ACTIONS for s in STATES}, "the spec has a gap"
CELLS = [pytest.param((p, s), id=f"{p}-{s}") for p in PERSONAS for s in STATES]


def expected(c: Cell, action: str) -> str:
    return POOL_SPEC[c.persona, action, c.state]


@pytest.mark.parametrize("cell", CELLS, indirect=True)
class TestPoolMatrix:
    def test_pool_list_shows_only_pool_accounts_to_who_may_use_the_pool(self, cell: Cell) -> None:
        want = expected(cell, "poollist")
        response = cell.api.get("/api/v1/pool", {"q": cell.tag})
        if want in {"401", "403"}:
            assert response.status_code == int(want)
            return
        assert response.status_code == 200, response.content
        ids = {row["id"] for row in response.json()["results"]}
        assert (cell.account.pk in ids) == (want == "Y")

    def test_claim_only_from_the_pool(self, cell: Cell) -> None:
        want = expected(cell, "claim")
        before = cell.account.owner_id
        _check_write(cell.api, want, "post", "/api/v1/pool/{pk}/claim", cell.account.pk, {})
        owner = Account.all_objects.get(pk=cell.account.pk).owner_id
        assert owner == (cell.actor.pk if want == "200" else before)

    def test_release_by_the_owner_or_their_manager(self, cell: Cell) -> None:
        want = expected(cell, "release")
        _check_write(cell.api, want, "post", "/api/v1/accounts/{pk}/release", cell.account.pk,
                     {"reason": "客户暂无需求，退回公海"})
        account = Account.all_objects.get(pk=cell.account.pk)
        if want == "200":
            assert account.owner_id is None and account.department_id is None

    def test_reassign_to_a_colleague_one_manages(self, cell: Cell, world: Any) -> None:
        want = expected(cell, "reassign")
        target = world.org.sub_sales
        _check_write(cell.api, want, "post", "/api/v1/accounts/{pk}/reassign", cell.account.pk,
                     {"to_user": target.pk, "reason": "区域调整"})
        account = Account.all_objects.get(pk=cell.account.pk)
        if want == "200":
            assert account.owner_id == target.pk and account.department_id == target.department_id
