"""S1 / S3 — the access matrix for service: cases (complaints, suggestions, tickets), their
visits, and satisfaction survey responses, for every persona × every state × every action.

The rule under test (R5, R6.1, issue 6, ``service/selectors/scope.py``): a case is an *owned*
record. A service agent sees the cases they own; a team leader (钱峰, who leads 客服一组 = 赵静 and
郑爽) their team's; a service manager (黄蓉) the service department's; the general manager
everything. Salespeople — and their managers, and whoever holds a grant on them — read the
cases of the customers they see, **read-only**: every write is refused (403), while a case
they cannot see is 404. A case whose sender matched no account is seen only by its owner and
by those holding ``case.unmatched`` (service managers) within their reach. A hand-over makes
the case visible to the colleague it is offered to, who still cannot change it until they
accept. Only the owner writes (edit, move, reply, offer a hand-over): first-responder
ownership (首问负责). Only service managers and the general manager delete (``case.delete``),
within what they see. Marketing and the administrator hold no case right: 403. Cases in the
recycle bin, and cases of an account in the recycle bin, are gone from list, get, page, edit
and delete for everyone; their history stays readable for whoever could see them. Anonymous
callers get 401 from the API and the sign-in page from HTML.

States (``STATES``; cases received through the public intake with the form's first responder
as owner, each with a category of its own so the reports can be read per state):
  own = 赵静's (service), a customer nobody else owns; team = 郑爽's (service2); mgr = 黄蓉's
  (service_manager); customer = 赵静's, about 王伟's (the salesperson's) customer; south = 郑爽's,
  about a customer of 华南 (周杰's, the outsider's); unmatched = 赵静's, sender matched no account;
  unmgr = 黄蓉's, unmatched; offered = 赵静's, offered to 郑爽 (hand-over open); deleted = 赵静's,
  in the recycle bin; acctbin = 赵静's, about 王伟's second customer, which is in the recycle bin.

The tables are written out by hand from the rule above, not computed from the access
engine. READS: list (Y/-: in the API list, also searched for the world's tag), get (API),
page (HTML detail), htmllist (Y/-: the case number on the HTML list), editpage (GET of the
HTML edit form: only the owner), history (the History API), report (the service report's
categories the caller's figures count: one category per state). WRITES (API): edit (PATCH),
move (to acknowledged), reply, handover (offer to 钱峰), delete. A hidden record answers 404
with the very body a missing id gets; every refused write leaves every table of the customer
file, activities, sales, service and surveys, the audit log, notifications and the queue as
they were (S3, ``fingerprint``).

Visits (field service, on tickets) and survey responses have their own, smaller tables below.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from conftest import settled
from guanxi.core.models import User
from guanxi.core.services import grants as grant_services
from guanxi.core.services import records
from guanxi.customers.models import Account
from guanxi.service.models import Case, CaseCategory, FeedbackForm, Handover, Visit
from tests.security.conftest import fingerprint
from tests.security.test_access_matrix import FAST_HASHERS, MISSING_ID, Anonymous, _plain, without_csrf

pytestmark = pytest.mark.django_db

PERSONAS = ["salesperson", "teammate", "sub_sales", "manager", "south_manager", "gm", "service", "service2",
            "service_lead", "service_manager", "marketing", "outsider", "outsider_with_grant", "admin", "anonymous"]
STATES = ["own", "team", "mgr", "customer", "south", "unmatched", "unmgr", "offered", "deleted", "acctbin"]
ALIVE = [s for s in STATES if s not in ("deleted", "acctbin")]
READ_ACTIONS = ["list", "get", "page", "htmllist", "editpage", "history"]
WRITE_ACTIONS = ["edit", "move", "reply", "handover", "delete"]
OWNERS = {"own": "service", "team": "service2", "mgr": "service_manager", "customer": "service",
          "south": "service2", "unmatched": "service", "unmgr": "service_manager", "offered": "service",
          "deleted": "service", "acctbin": "service"}

CASE_READS = """
persona              action    own   team  mgr   customer south unmatched unmgr offered deleted acctbin
salesperson          list      -     -     -     Y        -     -         -     -       -       -
salesperson          get       404   404   404   200      404   404       404   404     404     404
salesperson          page      404   404   404   200      404   404       404   404     404     404
salesperson          htmllist  -     -     -     Y        -     -         -     -       -       -
salesperson          editpage  404   404   404   403      404   404       404   404     404     404
salesperson          history   404   404   404   200      404   404       404   404     404     200

teammate             list      -     -     -     -        -     -         -     -       -       -
teammate             get       404   404   404   404      404   404       404   404     404     404
teammate             page      404   404   404   404      404   404       404   404     404     404
teammate             htmllist  -     -     -     -        -     -         -     -       -       -
teammate             editpage  404   404   404   404      404   404       404   404     404     404
teammate             history   404   404   404   404      404   404       404   404     404     404

sub_sales            list      -     -     -     -        -     -         -     -       -       -
sub_sales            get       404   404   404   404      404   404       404   404     404     404
sub_sales            page      404   404   404   404      404   404       404   404     404     404
sub_sales            htmllist  -     -     -     -        -     -         -     -       -       -
sub_sales            editpage  404   404   404   404      404   404       404   404     404     404
sub_sales            history   404   404   404   404      404   404       404   404     404     404

manager              list      -     -     -     Y        -     -         -     -       -       -
manager              get       404   404   404   200      404   404       404   404     404     404
manager              page      404   404   404   200      404   404       404   404     404     404
manager              htmllist  -     -     -     Y        -     -         -     -       -       -
manager              editpage  404   404   404   403      404   404       404   404     404     404
manager              history   404   404   404   200      404   404       404   404     404     200

south_manager        list      -     -     -     -        Y     -         -     -       -       -
south_manager        get       404   404   404   404      200   404       404   404     404     404
south_manager        page      404   404   404   404      200   404       404   404     404     404
south_manager        htmllist  -     -     -     -        Y     -         -     -       -       -
south_manager        editpage  404   404   404   404      403   404       404   404     404     404
south_manager        history   404   404   404   404      200   404       404   404     404     404

gm                   list      Y     Y     Y     Y        Y     Y         Y     Y       -       -
gm                   get       200   200   200   200      200   200       200   200     404     404
gm                   page      200   200   200   200      200   200       200   200     404     404
gm                   htmllist  Y     Y     Y     Y        Y     Y         Y     Y       -       -
gm                   editpage  403   403   403   403      403   403       403   403     404     404
gm                   history   200   200   200   200      200   200       200   200     200     200

service              list      Y     -     -     Y        -     Y         -     Y       -       -
service              get       200   404   404   200      404   200       404   200     404     404
service              page      200   404   404   200      404   200       404   200     404     404
service              htmllist  Y     -     -     Y        -     Y         -     Y       -       -
service              editpage  200   404   404   200      404   200       404   200     404     404
service              history   200   404   404   200      404   200       404   200     200     200

service2             list      -     Y     -     -        Y     -         -     Y       -       -
service2             get       404   200   404   404      200   404       404   200     404     404
service2             page      404   200   404   404      200   404       404   200     404     404
service2             htmllist  -     Y     -     -        Y     -         -     Y       -       -
service2             editpage  404   200   404   404      200   404       404   403     404     404
service2             history   404   200   404   404      200   404       404   200     404     404

service_lead         list      Y     Y     -     Y        Y     -         -     Y       -       -
service_lead         get       200   200   404   200      200   404       404   200     404     404
service_lead         page      200   200   404   200      200   404       404   200     404     404
service_lead         htmllist  Y     Y     -     Y        Y     -         -     Y       -       -
service_lead         editpage  403   403   404   403      403   404       404   403     404     404
service_lead         history   200   200   404   200      200   404       404   200     200     200

service_manager      list      Y     Y     Y     Y        Y     Y         Y     Y       -       -
service_manager      get       200   200   200   200      200   200       200   200     404     404
service_manager      page      200   200   200   200      200   200       200   200     404     404
service_manager      htmllist  Y     Y     Y     Y        Y     Y         Y     Y       -       -
service_manager      editpage  403   403   200   403      403   403       200   403     404     404
service_manager      history   200   200   200   200      200   200       200   200     200     200

marketing            list      403   403   403   403      403   403       403   403     403     403
marketing            get       403   403   403   403      403   403       403   403     403     403
marketing            page      403   403   403   403      403   403       403   403     403     403
marketing            htmllist  403   403   403   403      403   403       403   403     403     403
marketing            editpage  403   403   403   403      403   403       403   403     403     403
marketing            history   404   404   404   404      404   404       404   404     404     404

outsider             list      -     -     -     -        Y     -         -     -       -       -
outsider             get       404   404   404   404      200   404       404   404     404     404
outsider             page      404   404   404   404      200   404       404   404     404     404
outsider             htmllist  -     -     -     -        Y     -         -     -       -       -
outsider             editpage  404   404   404   404      403   404       404   404     404     404
outsider             history   404   404   404   404      200   404       404   404     404     404

outsider_with_grant  list      -     -     -     Y        Y     -         -     -       -       -
outsider_with_grant  get       404   404   404   200      200   404       404   404     404     404
outsider_with_grant  page      404   404   404   200      200   404       404   404     404     404
outsider_with_grant  htmllist  -     -     -     Y        Y     -         -     -       -       -
outsider_with_grant  editpage  404   404   404   403      403   404       404   404     404     404
outsider_with_grant  history   404   404   404   200      200   404       404   404     404     200

admin                list      403   403   403   403      403   403       403   403     403     403
admin                get       403   403   403   403      403   403       403   403     403     403
admin                page      403   403   403   403      403   403       403   403     403     403
admin                htmllist  403   403   403   403      403   403       403   403     403     403
admin                editpage  403   403   403   403      403   403       403   403     403     403
admin                history   404   404   404   404      404   404       404   404     404     404

anonymous            list      401   401   401   401      401   401       401   401     401     401
anonymous            get       401   401   401   401      401   401       401   401     401     401
anonymous            page      login login login login    login login     login login   login   login
anonymous            htmllist  login login login login    login login     login login   login   login
anonymous            editpage  login login login login    login login     login login   login   login
anonymous            history   401   401   401   401      401   401       401   401     401     401
"""

CASE_WRITES = """
persona              action    own   team  mgr   customer south unmatched unmgr offered deleted acctbin
salesperson          edit      404   404   404   403      404   404       404   404     404     404
salesperson          move      404   404   404   403      404   404       404   404     404     404
salesperson          reply     404   404   404   403      404   404       404   404     404     404
salesperson          handover  404   404   404   403      404   404       404   404     404     404
salesperson          delete    403   403   403   403      403   403       403   403     403     403

teammate             edit      404   404   404   404      404   404       404   404     404     404
teammate             move      404   404   404   404      404   404       404   404     404     404
teammate             reply     404   404   404   404      404   404       404   404     404     404
teammate             handover  404   404   404   404      404   404       404   404     404     404
teammate             delete    403   403   403   403      403   403       403   403     403     403

sub_sales            edit      404   404   404   404      404   404       404   404     404     404
sub_sales            move      404   404   404   404      404   404       404   404     404     404
sub_sales            reply     404   404   404   404      404   404       404   404     404     404
sub_sales            handover  404   404   404   404      404   404       404   404     404     404
sub_sales            delete    403   403   403   403      403   403       403   403     403     403

manager              edit      404   404   404   403      404   404       404   404     404     404
manager              move      404   404   404   403      404   404       404   404     404     404
manager              reply     404   404   404   403      404   404       404   404     404     404
manager              handover  404   404   404   403      404   404       404   404     404     404
manager              delete    403   403   403   403      403   403       403   403     403     403

south_manager        edit      404   404   404   404      403   404       404   404     404     404
south_manager        move      404   404   404   404      403   404       404   404     404     404
south_manager        reply     404   404   404   404      403   404       404   404     404     404
south_manager        handover  404   404   404   404      403   404       404   404     404     404
south_manager        delete    403   403   403   403      403   403       403   403     403     403

gm                   edit      403   403   403   403      403   403       403   403     404     404
gm                   move      403   403   403   403      403   403       403   403     404     404
gm                   reply     403   403   403   403      403   403       403   403     404     404
gm                   handover  403   403   403   403      403   403       403   403     404     404
gm                   delete    204   204   204   204      204   204       204   204     404     404

service              edit      200   404   404   200      404   200       404   200     404     404
service              move      200   404   404   200      404   200       404   200     404     404
service              reply     200   404   404   200      404   200       404   200     404     404
service              handover  201   404   404   201      404   201       404   422     404     404
service              delete    403   403   403   403      403   403       403   403     403     403

service2             edit      404   200   404   404      200   404       404   403     404     404
service2             move      404   200   404   404      200   404       404   403     404     404
service2             reply     404   200   404   404      200   404       404   403     404     404
service2             handover  404   201   404   404      201   404       404   403     404     404
service2             delete    403   403   403   403      403   403       403   403     403     403

service_lead         edit      403   403   404   403      403   404       404   403     404     404
service_lead         move      403   403   404   403      403   404       404   403     404     404
service_lead         reply     403   403   404   403      403   404       404   403     404     404
service_lead         handover  403   403   404   403      403   404       404   403     404     404
service_lead         delete    403   403   403   403      403   403       403   403     403     403

service_manager      edit      403   403   200   403      403   403       200   403     404     404
service_manager      move      403   403   200   403      403   403       200   403     404     404
service_manager      reply     403   403   200   403      403   403       200   403     404     404
service_manager      handover  403   403   201   403      403   403       201   403     404     404
service_manager      delete    204   204   204   204      204   204       204   204     404     404

marketing            edit      403   403   403   403      403   403       403   403     403     403
marketing            move      403   403   403   403      403   403       403   403     403     403
marketing            reply     403   403   403   403      403   403       403   403     403     403
marketing            handover  403   403   403   403      403   403       403   403     403     403
marketing            delete    403   403   403   403      403   403       403   403     403     403

outsider             edit      404   404   404   404      403   404       404   404     404     404
outsider             move      404   404   404   404      403   404       404   404     404     404
outsider             reply     404   404   404   404      403   404       404   404     404     404
outsider             handover  404   404   404   404      403   404       404   404     404     404
outsider             delete    403   403   403   403      403   403       403   403     403     403

outsider_with_grant  edit      404   404   404   403      403   404       404   404     404     404
outsider_with_grant  move      404   404   404   403      403   404       404   404     404     404
outsider_with_grant  reply     404   404   404   403      403   404       404   404     404     404
outsider_with_grant  handover  404   404   404   403      403   404       404   404     404     404
outsider_with_grant  delete    403   403   403   403      403   403       403   403     403     403

admin                edit      403   403   403   403      403   403       403   403     403     403
admin                move      403   403   403   403      403   403       403   403     403     403
admin                reply     403   403   403   403      403   403       403   403     403     403
admin                handover  403   403   403   403      403   403       403   403     403     403
admin                delete    403   403   403   403      403   403       403   403     403     403

anonymous            edit      401   401   401   401      401   401       401   401     401     401
anonymous            move      401   401   401   401      401   401       401   401     401     401
anonymous            reply     401   401   401   401      401   401       401   401     401     401
anonymous            handover  401   401   401   401      401   401       401   401     401     401
anonymous            delete    401   401   401   401      401   401       401   401     401     401
"""

# The service report (GET /api/v1/service-reports, ``service.report``): which states' cases its
# figures count (each state has its own category). Cases in the bin, or of an account in the
# bin, are counted by nobody. Salespeople hold no report right; sales managers do.
REPORT_TABLE = """
persona              report
salesperson          403
teammate             403
sub_sales            403
manager              customer
south_manager        south
gm                   own,team,mgr,customer,south,unmatched,unmgr,offered
service              own,customer,unmatched,offered
service2             team,south,offered
service_lead         own,team,customer,south,offered
service_manager      own,team,mgr,customer,south,unmatched,unmgr,offered
marketing            403
outsider             403
outsider_with_grant  403
admin                403
anonymous            401
"""

# Accepting the open hand-over of the "offered" case (POST /case-handovers/{id}/accept): only
# the colleague it is offered to; whoever else sees the case is refused, the others get 404.
ACCEPT = {"salesperson": "404", "teammate": "404", "sub_sales": "404", "manager": "404", "south_manager": "404",
          "gm": "403", "service": "403", "service2": "200", "service_lead": "403", "service_manager": "403",
          "marketing": "403", "outsider": "404", "outsider_with_grant": "404", "admin": "403", "anonymous": "401"}

# --- Visits (field service on tickets) --------------------------------------------------------
# vown: a ticket of 赵静's (neutral customer), technician 郑爽; vcustomer: 赵静's ticket about 王伟's
# customer, technician 赵静; vsouth: 郑爽's ticket about 华南's customer, technician 赵静 (who does
# not see that case, only the visit). get/page: the visit; report: POST …/report (the technician
# or the case's owner; ``visit.change``); casepage: the ticket's own page.
VISIT_STATES = ["vown", "vcustomer", "vsouth"]
VISIT_ACTIONS = ["get", "page", "report", "casepage"]
VISIT_TABLE = """
persona              action    vown  vcustomer vsouth
salesperson          get       404   200       404
salesperson          page      404   200       404
salesperson          report    403   403       403
salesperson          casepage  404   200       404
teammate             get       404   404       404
teammate             page      404   404       404
teammate             report    403   403       403
teammate             casepage  404   404       404
sub_sales            get       404   404       404
sub_sales            page      404   404       404
sub_sales            report    403   403       403
sub_sales            casepage  404   404       404
manager              get       404   200       404
manager              page      404   200       404
manager              report    403   403       403
manager              casepage  404   200       404
south_manager        get       404   404       200
south_manager        page      404   404       200
south_manager        report    403   403       403
south_manager        casepage  404   404       200
gm                   get       200   200       200
gm                   page      200   200       200
gm                   report    403   403       403
gm                   casepage  200   200       200
service              get       200   200       200
service              page      200   200       200
service              report    200   200       200
service              casepage  200   200       404
service2             get       200   404       200
service2             page      200   404       200
service2             report    200   404       200
service2             casepage  404   404       200
service_lead         get       200   200       200
service_lead         page      200   200       200
service_lead         report    403   403       403
service_lead         casepage  200   200       200
service_manager      get       200   200       200
service_manager      page      200   200       200
service_manager      report    403   403       403
service_manager      casepage  200   200       200
marketing            get       403   403       403
marketing            page      403   403       403
marketing            report    403   403       403
marketing            casepage  403   403       403
outsider             get       404   404       200
outsider             page      404   404       200
outsider             report    403   403       403
outsider             casepage  404   404       200
outsider_with_grant  get       404   200       200
outsider_with_grant  page      404   200       200
outsider_with_grant  report    403   403       403
outsider_with_grant  casepage  404   200       200
admin                get       403   403       403
admin                page      403   403       403
admin                report    403   403       403
admin                casepage  403   403       403
anonymous            get       401   401       401
anonymous            page      login login     login
anonymous            report    401   401       401
anonymous            casepage  login login     login
"""

# --- Survey responses -------------------------------------------------------------------------
# rcustomer: the answer to the survey after the "customer" case (王伟's customer, responsible 赵静);
# rneutral: after the "own" case (nobody's customer, 赵静); rsouth: after the "south" case (华南's
# customer, 郑爽); racctbin: 王伟's customer now in the recycle bin (赵静). Responses are scoped
# like the records they came from, plus the answers of the accounts one sees; marketing's reach is
# its own department, where no customer's answer lies. surveys: the survey templates list.
RESPONSE_STATES = ["rcustomer", "rneutral", "rsouth", "racctbin"]
RESPONSE_ACTIONS = ["list", "get", "page", "surveys"]
RESPONSE_TABLE = """
persona              action   rcustomer rneutral rsouth racctbin
salesperson          list     Y         -        -      -
salesperson          get      200       404      404    404
salesperson          page     200       404      404    404
salesperson          surveys  200       200      200    200
teammate             list     -         -        -      -
teammate             get      404       404      404    404
teammate             page     404       404      404    404
teammate             surveys  200       200      200    200
sub_sales            list     -         -        -      -
sub_sales            get      404       404      404    404
sub_sales            page     404       404      404    404
sub_sales            surveys  200       200      200    200
manager              list     Y         -        -      -
manager              get      200       404      404    404
manager              page     200       404      404    404
manager              surveys  200       200      200    200
south_manager        list     -         -        Y      -
south_manager        get      404       404      200    404
south_manager        page     404       404      200    404
south_manager        surveys  200       200      200    200
gm                   list     Y         Y        Y      -
gm                   get      200       200      200    404
gm                   page     200       200      200    404
gm                   surveys  200       200      200    200
service              list     Y         Y        -      -
service              get      200       200      404    404
service              page     200       200      404    404
service              surveys  200       200      200    200
service2             list     -         -        Y      -
service2             get      404       404      200    404
service2             page     404       404      200    404
service2             surveys  200       200      200    200
service_lead         list     Y         Y        Y      -
service_lead         get      200       200      200    404
service_lead         page     200       200      200    404
service_lead         surveys  200       200      200    200
service_manager      list     Y         Y        Y      -
service_manager      get      200       200      200    404
service_manager      page     200       200      200    404
service_manager      surveys  200       200      200    200
marketing            list     -         -        -      -
marketing            get      404       404      404    404
marketing            page     404       404      404    404
marketing            surveys  200       200      200    200
outsider             list     -         -        Y      -
outsider             get      404       404      200    404
outsider             page     404       404      200    404
outsider             surveys  200       200      200    200
outsider_with_grant  list     Y         -        Y      -
outsider_with_grant  get      200       404      200    404
outsider_with_grant  page     200       404      200    404
outsider_with_grant  surveys  200       200      200    200
admin                list     403       403      403    403
admin                get      403       403      403    403
admin                page     403       403      403    403
admin                surveys  403       403      403    403
anonymous            list     401       401      401    401
anonymous            get      401       401      401    401
anonymous            page     login     login    login  login
anonymous            surveys  401       401      401    401
"""


def _parse(table: str, states: list[str], actions: list[str]) -> dict[tuple[str, str, str], str]:
    lines = [line.split() for line in table.strip().splitlines() if line.strip()]
    assert lines[0][2:] == states
    spec = {}
    for persona, action, *cells in lines[1:]:
        assert len(cells) == len(states), (persona, action)
        spec.update({(persona, action, state): value for state, value in zip(states, cells, strict=True)})
    assert set(spec) == {(p, a, s) for p in PERSONAS for a in actions for s in states}, "the spec has a gap"
    return spec


READ_SPEC = _parse(CASE_READS, STATES, READ_ACTIONS)
WRITE_SPEC = _parse(CASE_WRITES, STATES, WRITE_ACTIONS)
VISIT_SPEC = _parse(VISIT_TABLE, VISIT_STATES, VISIT_ACTIONS)
RESPONSE_SPEC = _parse(RESPONSE_TABLE, RESPONSE_STATES, RESPONSE_ACTIONS)
REPORT_SPEC = dict(line.split() for line in REPORT_TABLE.strip().splitlines()[1:])
assert set(REPORT_SPEC) == set(PERSONAS) and set(ACCEPT) == set(PERSONAS)


def test_the_spec_follows_the_ownership_rule() -> None:
    """A guard on the hand-written tables themselves: a write is accepted exactly where the
    persona is the state's owner (and the delete where a service manager or the general manager
    sees the case), a visible non-owner is refused with 403, never with 404."""
    for persona in PERSONAS:
        for state in STATES:
            get = READ_SPEC[persona, "get", state]
            for action in ("edit", "move", "reply", "handover"):
                cell = WRITE_SPEC[persona, action, state]
                if cell.startswith("2"):
                    assert OWNERS[state] == persona and get == "200", (persona, action, state)
                if get == "200" and OWNERS[state] != persona:
                    assert cell == "403", (persona, action, state)
                if get == "404":
                    assert cell in {"404", "403"}, (persona, action, state)


def test_the_fingerprint_covers_every_table_of_service_and_surveys() -> None:
    """S3 is only as good as the fingerprint: a table added to service or loyalty must be in it."""
    import inspect

    from django.apps import apps

    from tests.security import conftest

    source = inspect.getsource(conftest.fingerprint)
    for app in ("service", "loyalty"):
        for model in apps.get_app_config(app).get_models(include_auto_created=True):
            if model._meta.auto_created:
                owner = model._meta.auto_created
                field = next(f.name for f in owner._meta.many_to_many if f.remote_field.through is model)
                needle = f"{app}.{owner.__name__}.{field}.through"
            else:
                needle = f"{app}.{model.__name__}."
            assert needle in source, f"fingerprint() does not cover {model._meta.label}"


# --- The world -------------------------------------------------------------------------------
class World:
    def __init__(self, org: Any) -> None:
        self.org = org
        self.tag = f"sv{uuid.uuid4().hex[:8]}"
        self.ids: dict[str, int] = {}  # state → case id
        self.codes: dict[str, str] = {}
        self.categories: dict[str, int] = {}  # state → category id
        self.visits: dict[str, int] = {}
        self.visit_cases: dict[str, int] = {}
        self.responses: dict[str, int] = {}
        self.offer = 0
        self.actors: dict[str, User | None] = {}
        self.api: dict[str, Any] = {}
        self.browser: dict[str, Client] = {}
        self.missing: dict[tuple[str, str, str], Any] = {}


def _forms(org: Any) -> dict[str, FeedbackForm]:
    """One public form per first responder: a case sent through it belongs to them."""
    out = {}
    for persona in ("service", "service2", "service_manager"):
        user = getattr(org, persona)
        out[persona] = FeedbackForm.objects.create(slug=f"mx-{user.username.replace('_', '-')}",
                                                   title=f"矩阵表单{persona}", responder=user)
    return out


def receive(w: World, state: str, form: FeedbackForm, account: Account | None, *, kind: str = "complaint",
            ticket_type: str = "", category: CaseCategory | None = None) -> Case:
    """A case sent through ``form`` (its responder owns it), about ``account`` (None: unmatched)."""
    from guanxi.service.services import intake

    phone = f"1390{uuid.uuid4().int % 10**7:07d}"
    return intake.case_receive(
        actor=None, kind=kind, ticket_type=ticket_type, title=f"{w.tag}{state} 设备异响", description="运行时异响很大。",
        channel="web", form=form, account=account, category=category, sender_name=f"寄件人{state}",
        sender_phone=phone)


def _visit(case: Case, owner: User, technician: User, hours: int) -> Visit:
    from guanxi.service.services import visits

    start = timezone.now() - dt.timedelta(days=1, hours=hours)
    return visits.visit_schedule(actor=owner, case=case, purpose="repair", technician=technician, start=start,
                                 end=start + dt.timedelta(hours=1))


def _response(w: World, key: str, account: Account | None, owner: User) -> int:
    from guanxi.loyalty.models import Survey
    from guanxi.loyalty.services import invitations, responses

    survey = Survey.objects.get(touchpoint="case_closed", active=True, deleted_at__isnull=True)
    _invitation, raw = invitations.invite(actor=None, survey=survey, touchpoint="case_closed",
                                          source=f"matrix:{w.tag}:{key}", account=account, owner=owner)
    answers = {}
    for question in survey.questions.all():
        answers[question.pk] = {"rater": 4, "nps": 9, "csat": 5}.get(question.type, "")
    return int(responses.answer(token=raw, answers=answers, comment=f"{w.tag}{key}").pk)


def build(org: Any, make_account: Any) -> World:
    from guanxi.service.services import cases, handovers

    w = World(org)
    forms = _forms(org)
    neutral = make_account(None, name=f"矩阵中立客户{w.tag}有限公司")
    customer = make_account(org.salesperson, name=f"矩阵销售客户{w.tag}有限公司")
    south = make_account(org.outsider, name=f"矩阵华南客户{w.tag}有限公司")
    binned = make_account(org.salesperson, name=f"矩阵回收站客户{w.tag}有限公司")
    accounts = {"own": neutral, "team": neutral, "mgr": neutral, "customer": customer, "south": south,
                "unmatched": None, "unmgr": None, "offered": neutral, "deleted": neutral, "acctbin": binned}
    for position, state in enumerate(STATES):
        category = CaseCategory.objects.create(name=f"矩阵{state}{w.tag}", position=900 + position)
        w.categories[state] = category.pk
        case = receive(w, state, forms[OWNERS[state]], accounts[state], category=category)
        w.ids[state], w.codes[state] = case.pk, case.code
    offered = Case.objects.get(pk=w.ids["offered"])
    w.offer = handovers.handover_offer(actor=org.service, case=offered, to_user=org.service2, note="请接手").pk
    cases.case_delete(actor=org.service_manager, case=Case.objects.get(pk=w.ids["deleted"]))
    # Field service: tickets with a visit each.
    tickets = {"vown": ("service", neutral, org.service2), "vcustomer": ("service", customer, org.service),
               "vsouth": ("service2", south, org.service)}
    for hours, (state, (owner, account, technician)) in enumerate(tickets.items()):
        ticket = receive(w, state, forms[owner], account, kind="ticket", ticket_type="repair")
        w.visit_cases[state] = ticket.pk
        w.visits[state] = _visit(ticket, getattr(org, owner), technician, hours * 2).pk
    # Survey answers.
    w.responses = {"rcustomer": _response(w, "rcustomer", customer, org.service),
                   "rneutral": _response(w, "rneutral", neutral, org.service),
                   "rsouth": _response(w, "rsouth", south, org.service2),
                   "racctbin": _response(w, "racctbin", binned, org.service)}
    records.record_delete(actor=org.manager, obj=Account.objects.get(pk=binned.pk))
    return w


def grant_on_the_salesperson(org: Any) -> None:
    """The outsider asks to look into 王伟's customers; the general manager approves."""
    grant = grant_services.grant_request(actor=org.outsider, reason="联合投标需要查看王伟的客户", days=7,
                                         user=org.salesperson)
    grant_services.grant_decide(actor=org.gm, grant=grant, approve=True)


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    import conftest

    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            org = _plain(conftest.org)(None)
            w = build(org, _plain(conftest.account_factory)(None))
            sign_in(org, w)
            yield settled(w)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def sign_in(org: Any, w: World) -> None:
    import conftest

    api_class = _plain(conftest.api)(None)
    for persona in PERSONAS:
        user = None if persona == "anonymous" else org.outsider if persona == "outsider_with_grant" \
            else getattr(org, persona)
        w.actors[persona] = user
        if user is None:
            w.api[persona], w.browser[persona] = Anonymous(), Client()
        elif persona == "outsider_with_grant":
            w.api[persona], w.browser[persona] = w.api["outsider"], w.browser["outsider"]
        else:
            w.api[persona], w.browser[persona] = api_class(user), Client()
            w.browser[persona].force_login(user)


@pytest.fixture
def persona(request: Any, world: World, db: Any) -> str:
    if request.param == "outsider_with_grant":
        grant_on_the_salesperson(world.org)
    return str(request.param)


# --- Checking cells ----------------------------------------------------------------------------
def _status(response: Any) -> str:
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return "login"
    return str(response.status_code)


def _missing(w: World, persona: str, client: Any, method: str, template: str, body: Any = None) -> Any:
    """The answer to the same call with an id that does not exist (asked once per persona)."""
    key = (persona, method, template)
    if key not in w.missing:
        with transaction.atomic():
            call = getattr(client, method)
            path = template.format(pk=MISSING_ID)
            w.missing[key] = call(path, body) if body is not None else call(path)
            transaction.set_rollback(True)
    return w.missing[key]


def _same_page(html: bytes) -> bytes:
    import re

    return re.sub(rb'nonce="[^"]*"', b'nonce=""', without_csrf(html))


def check_api_get(w: World, persona: str, template: str, pk: int, expected: str, where: str) -> list[str]:
    client = w.api[persona]
    response = client.get(template.format(pk=pk))
    if _status(response) != expected:
        return [f"{where}: expected {expected}, got {response.status_code}"]
    if expected == "404":
        missing = _missing(w, persona, client, "get", template)
        if missing.status_code != 404 or missing.json() != response.json():
            return [f"{where}: a hidden record must answer exactly like a missing one"]
    return []


def check_page(w: World, persona: str, name: str, pk: int, expected: str, where: str) -> list[str]:
    browser = w.browser[persona]
    path = reverse(name, args=[pk])
    response = browser.get(path)
    if _status(response) != expected:
        return [f"{where}: expected {expected}, got {_status(response)}"]
    if expected == "404":
        missing_path = reverse(name, args=[MISSING_ID])
        missing = _missing(w, persona, browser, "get", missing_path.replace(str(MISSING_ID), "{pk}"))
        if _same_page(response.content).replace(path.encode(), b"<p>") != \
                _same_page(missing.content).replace(missing_path.encode(), b"<p>"):
            return [f"{where}: a hidden page must look like a missing one"]
    return []


def _listed(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def check_lists(w: World, persona: str) -> list[str]:
    diffs = []
    client = w.api[persona]
    for label, params in (("list", {"page_size": 200}), ("search", {"page_size": 200, "q": w.tag})):
        response = client.get("/api/v1/cases", params)
        codes = {READ_SPEC[persona, "list", s] for s in STATES} - {"Y", "-"}
        if codes:
            (code,) = codes
            if str(response.status_code) != code:
                diffs.append(f"{label}: expected {code}, got {response.status_code}")
            continue
        if response.status_code != 200:
            diffs.append(f"{label}: expected 200, got {response.status_code} {response.content[:200]!r}")
            continue
        listed = _listed(response)
        for state in STATES:
            if (w.ids[state] in listed) != (READ_SPEC[persona, "list", state] == "Y"):
                diffs.append(f"{label}/{state}: expected {READ_SPEC[persona, 'list', state]}")
    # The HTML list, every state (open or not), searched for the world's tag.
    response = w.browser[persona].get(reverse("service:case-list"), {"status": "", "q": w.tag})
    codes = {READ_SPEC[persona, "htmllist", s] for s in STATES} - {"Y", "-"}
    if codes:
        (code,) = codes
        if _status(response) != code:
            diffs.append(f"htmllist: expected {code}, got {_status(response)}")
        return diffs
    if response.status_code != 200:
        return [*diffs, f"htmllist: expected 200, got {response.status_code}"]
    html = response.content.decode()
    for state in STATES:
        if (w.codes[state] in html) != (READ_SPEC[persona, "htmllist", state] == "Y"):
            diffs.append(f"htmllist/{state}: expected {READ_SPEC[persona, 'htmllist', state]}")
    return diffs


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_case_reads(world: World, persona: str) -> None:
    diffs = check_lists(world, persona)
    for state in STATES:
        pk = world.ids[state]
        diffs += check_api_get(world, persona, "/api/v1/cases/{pk}", pk, READ_SPEC[persona, "get", state],
                               f"get/{state}")
        diffs += check_page(world, persona, "service:case-detail", pk, READ_SPEC[persona, "page", state],
                            f"page/{state}")
        diffs += check_page(world, persona, "service:case-edit", pk, READ_SPEC[persona, "editpage", state],
                            f"editpage/{state}")
        diffs += check_api_get(world, persona, "/api/v1/history/service.case/{pk}", pk,
                               READ_SPEC[persona, "history", state], f"history/{state}")
    assert not diffs, f"{persona}: cells that differ from the spec:\n" + "\n".join(diffs)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_case_reports_count_exactly_what_the_caller_sees(world: World, persona: str) -> None:
    expected = REPORT_SPEC[persona]
    response = world.api[persona].get("/api/v1/service-reports")
    if expected in {"401", "403"}:
        assert str(response.status_code) == expected, response.content[:300]
        return
    assert response.status_code == 200, response.content[:300]
    counted = {row["key"]: row["count"] for row in response.json()["volume"]["by_category"]}
    by_id = {str(pk): state for state, pk in world.categories.items()}
    shown = {by_id[key] for key, count in counted.items() if key in by_id and count}
    assert shown == set(expected.split(",")), f"{persona}: the report counts {sorted(shown)}"
    assert all(counted[str(world.categories[s])] == 1 for s in shown), counted


# --- Writes -----------------------------------------------------------------------------------
class Attempts:
    """Writes tried one by one. Accepted ones run in a savepoint rolled back afterwards (each
    starts from the world as built); refused ones run as they are, and one fingerprint taken
    before the first and after the last proves that none of them changed anything (S3)."""

    def __init__(self, w: World, persona: str) -> None:
        self.w, self.persona = w, persona
        self.client = w.api[persona]
        self.refused: list[tuple[str, str, int, Any, str, str]] = []
        self.diffs: list[str] = []

    def add(self, method: str, template: str, pk: int, body: Any, expected: str, where: str, accepted: Any) -> None:
        if not expected.startswith("2"):
            self.refused.append((method, template, pk, body, expected, where))
            return
        call = getattr(self.client, method)
        with transaction.atomic():
            before = fingerprint()
            response = call(template.format(pk=pk), body) if body is not None else call(template.format(pk=pk))
            if str(response.status_code) != expected:
                self.diffs.append(f"{where}: expected {expected}, got {response.status_code} "
                                  f"{response.content[:160]!r}")
            elif not accepted() or fingerprint() == before:
                self.diffs.append(f"{where}: answered {expected} but the record did not change")
            transaction.set_rollback(True)

    def finish(self) -> list[str]:
        if not self.refused:
            return self.diffs
        before = fingerprint()
        for method, template, pk, body, expected, where in self.refused:
            call = getattr(self.client, method)
            response = call(template.format(pk=pk), body) if body is not None else call(template.format(pk=pk))
            if str(response.status_code) != expected:
                self.diffs.append(f"{where}: expected {expected}, got {response.status_code} "
                                  f"{response.content[:160]!r}")
            elif expected == "404":
                missing = _missing(self.w, self.persona, self.client, method, template, body)
                if missing.status_code != 404 or missing.json() != response.json():
                    self.diffs.append(f"{where}: a hidden record must answer exactly like a missing one")
        if fingerprint() != before:
            self.diffs.append(f"a refused write changed something (S3): one of {[r[-1] for r in self.refused]}")
        return self.diffs


def _case(pk: int) -> Case:
    return Case.all_objects.get(pk=pk)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_case_writes(world: World, persona: str) -> None:
    attempts = Attempts(world, persona)
    lead = world.org.service_lead.pk
    for state in STATES:
        pk = world.ids[state]
        version = _case(pk).version
        new_title = f"{world.tag}{state} 改过的主题"
        attempts.add("patch", "/api/v1/cases/{pk}", pk, {"version": version, "title": new_title},
                     WRITE_SPEC[persona, "edit", state], f"edit/{state}",
                     lambda pk=pk, t=new_title: _case(pk).title == t)
        attempts.add("post", "/api/v1/cases/{pk}/move", pk, {"to": "acknowledged", "version": version},
                     WRITE_SPEC[persona, "move", state], f"move/{state}",
                     lambda pk=pk: _case(pk).state == Case.State.ACKNOWLEDGED)
        attempts.add("post", "/api/v1/cases/{pk}/reply", pk, {"reply": "已安排工程师上门。", "version": version},
                     WRITE_SPEC[persona, "reply", state], f"reply/{state}",
                     lambda pk=pk: _case(pk).reply == "已安排工程师上门。")
        attempts.add("post", "/api/v1/cases/{pk}/handovers", pk, {"to_user": lead, "note": "请协助"},
                     WRITE_SPEC[persona, "handover", state], f"handover/{state}",
                     lambda pk=pk: Handover.objects.filter(case_id=pk, to_user_id=lead, state="offered").exists())
        attempts.add("delete", "/api/v1/cases/{pk}", pk, None, WRITE_SPEC[persona, "delete", state],
                     f"delete/{state}", lambda pk=pk: _case(pk).deleted_at is not None)
    diffs = attempts.finish()
    assert not diffs, f"{persona}: cells that differ from the spec:\n" + "\n".join(diffs)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_only_the_colleague_offered_the_case_accepts_it(world: World, persona: str) -> None:
    expected = ACCEPT[persona]
    attempts = Attempts(world, persona)
    attempts.add("post", "/api/v1/case-handovers/{pk}/accept", world.offer, {"answer": "好的"}, expected, "accept",
                 lambda: _case(world.ids["offered"]).owner_id == world.org.service2.pk)
    diffs = attempts.finish()
    assert not diffs, f"{persona}: " + "\n".join(diffs)


# --- Visits ---------------------------------------------------------------------------------------
def _report_body(visit: Visit) -> dict[str, Any]:
    start = visit.scheduled_start
    return {"version": visit.version, "report": "更换了轴承，试机正常。", "arrived_at": start.isoformat(),
            "finished_at": (start + dt.timedelta(minutes=50)).isoformat()}


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_visits(world: World, persona: str) -> None:
    diffs: list[str] = []
    attempts = Attempts(world, persona)
    for state in VISIT_STATES:
        pk = world.visits[state]
        diffs += check_api_get(world, persona, "/api/v1/visits/{pk}", pk, VISIT_SPEC[persona, "get", state],
                               f"visit get/{state}")
        diffs += check_page(world, persona, "service:visit-detail", pk, VISIT_SPEC[persona, "page", state],
                            f"visit page/{state}")
        diffs += check_page(world, persona, "service:case-detail", world.visit_cases[state],
                            VISIT_SPEC[persona, "casepage", state], f"ticket page/{state}")
        visit = Visit.objects.get(pk=pk)
        attempts.add("post", "/api/v1/visits/{pk}/report", pk, _report_body(visit),
                     VISIT_SPEC[persona, "report", state], f"visit report/{state}",
                     lambda pk=pk: Visit.objects.get(pk=pk).state == Visit.State.DONE)
    diffs += attempts.finish()
    assert not diffs, f"{persona}: cells that differ from the spec:\n" + "\n".join(diffs)


# --- Survey responses -------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_survey_responses(world: World, persona: str) -> None:
    diffs: list[str] = []
    client = world.api[persona]
    response = client.get("/api/v1/survey-responses", {"page_size": 200})
    codes = {RESPONSE_SPEC[persona, "list", s] for s in RESPONSE_STATES} - {"Y", "-"}
    if codes:
        (code,) = codes
        if str(response.status_code) != code:
            diffs.append(f"responses list: expected {code}, got {response.status_code}")
    elif response.status_code != 200:
        diffs.append(f"responses list: {response.status_code} {response.content[:200]!r}")
    else:
        listed = _listed(response)
        for state in RESPONSE_STATES:
            if (world.responses[state] in listed) != (RESPONSE_SPEC[persona, "list", state] == "Y"):
                diffs.append(f"responses list/{state}: expected {RESPONSE_SPEC[persona, 'list', state]}")
    for state in RESPONSE_STATES:
        pk = world.responses[state]
        diffs += check_api_get(world, persona, "/api/v1/survey-responses/{pk}", pk,
                               RESPONSE_SPEC[persona, "get", state], f"response get/{state}")
        diffs += check_page(world, persona, "loyalty:response-detail", pk, RESPONSE_SPEC[persona, "page", state],
                            f"response page/{state}")
    expected = RESPONSE_SPEC[persona, "surveys", "rcustomer"]
    for door, answer in (("api", client.get("/api/v1/surveys")),
                         ("html", world.browser[persona].get(reverse("loyalty:survey-list")))):
        want = "login" if door == "html" and expected == "401" else expected
        if _status(answer) != want:
            diffs.append(f"survey templates ({door}): expected {want}, got {_status(answer)}")
    assert not diffs, f"{persona}: cells that differ from the spec:\n" + "\n".join(diffs)


# --- Premises ----------------------------------------------------------------------------------------
def test_the_world_is_what_the_matrix_assumes(world: World, db: Any) -> None:
    org = world.org
    owners = {state: getattr(org, persona).pk for state, persona in OWNERS.items()}
    for state in STATES:
        case = _case(world.ids[state])
        assert case.owner_id == owners[state], state
        assert case.state == Case.State.NEW, state
        assert (case.account_id is None) == (state in ("unmatched", "unmgr")), state
    assert _case(world.ids["deleted"]).deleted_at is not None
    acctbin = _case(world.ids["acctbin"])
    assert acctbin.deleted_at is None and Account.all_objects.get(pk=acctbin.account_id).deleted_at is not None
    assert Handover.objects.get(pk=world.offer).state == Handover.State.OFFERED
    assert Account.objects.get(pk=_case(world.ids["customer"]).account_id).owner_id == org.salesperson.pk
    assert Account.objects.get(pk=_case(world.ids["south"]).account_id).department_id == org.south.pk
    assert Account.objects.get(pk=_case(world.ids["own"]).account_id).owner_id is None
