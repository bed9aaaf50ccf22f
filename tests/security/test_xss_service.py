"""S8 — stored XSS through service and surveys: payloads sent by the public (the feedback form's
name, company, subject, text and file name; a survey's answers and comment) and by staff (a
hotline case, a contact's name, a category, a product, the reply to the customer, a handling
step, a visit report) are rendered in Chromium on every page that shows them: the thank-you
page, the case list and the case's page, the desk, the account's timeline and Service tab,
notifications, the reports with their charts, the survey responses and dashboard, the account's
surveys, the visit's page, and the customer's public pages (confirmation, visit, survey).

A payload that ran would set ``window.__xss`` or open a dialog; one that reached the page as
markup at all would leave an element carrying ``data-xss`` (even where the Content-Security-
Policy stops it from running) or a CSP violation. None of that may happen, and the probe is
real: the payload's text is on each page. Every public page answers with a
Content-Security-Policy header.

The repository has no shared payload corpus: ``CORPUS`` below is this suite's (script tags,
event handlers, attribute and element breakouts, ``javascript:`` URLs, ``</script>`` inside
JSON, template syntax, Plotly's HTML-like label markup).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.browser import conftest as browser_fixtures

# The browser suite's fixtures (Playwright + Debian's chromium against the live server).
_allow_async_unsafe = browser_fixtures._allow_async_unsafe
browser, browser_org, session_factory = browser_fixtures.browser, browser_fixtures.browser_org, \
    browser_fixtures.session_factory

CORPUS = [
    '<script data-xss>window.__xss=1</script>X1',
    '<img src=x data-xss onerror="window.__xss=2;alert(2)">X2',
    '"><svg data-xss onload=window.__xss=3>X3',
    "'><iframe data-xss srcdoc=\"<script>parent.__xss=4</script>\"></iframe>X4",
    '</textarea></title><script data-xss>window.__xss=5</script>X5',
    '<a data-xss href="javascript:window.__xss=6">X6</a>',
    '<details data-xss open ontoggle="window.__xss=7">X7',
    '</script><script data-xss>window.__xss=8</script>X8',
    '{{7*7}}${7*7}{% now "Y" %}<b data-xss>X9</b>',
    '<body data-xss onload=alert(10)>X10',
    '\u2028\u2029</script><img src=x data-xss onerror=alert(11)>X11',
    '<input data-xss autofocus onfocus="window.__xss=12">X12',
]
FILE_NAME = '<img src=x data-xss onerror=alert(13)>X13.jpg'
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PHONE = "13900007777"

pytestmark = pytest.mark.browser


def _payload(i: int, limit: int = 200) -> str:
    return CORPUS[i % len(CORPUS)][:limit]


def _submit_public(form: Any, i: int, *, with_file: bool = False) -> Any:
    """The public form posted by a customer whose phone matches the account's contact."""
    from guanxi.service.views.intake import form_token

    data = {"kind": "complaint", "title": _payload(i), "description": "\n".join(CORPUS), "product": "",
            "order_number": "", "name": _payload(i + 1, 100), "company": _payload(i + 2), "phone": PHONE,
            "email": "", "wants_reply": "on", "website": "",
            "token": form_token(form, issued_at=timezone.now().timestamp() - 30)}
    if with_file:
        data["attachments"] = [SimpleUploadedFile(FILE_NAME, JPG, content_type="image/jpeg")]
    return Client(REMOTE_ADDR=f"127.0.0.{10 + i}").post(f"/feedback/{form.slug}/", data)


def _build(org: Any, account_factory: Any, settings: Any, tmp_path: Any) -> dict[str, Any]:
    """Every record that carries a payload, made through the services (and the public form)."""
    from guanxi.customers.models import Contact
    from guanxi.loyalty.models import Invitation, Survey
    from guanxi.loyalty.services import invitations, responses
    from guanxi.sales.models import Product
    from guanxi.service.models import Case, FeedbackForm
    from guanxi.service.services import cases, handovers, intake, sla_setup, visits

    settings.MEDIA_ROOT = tmp_path
    settings.GUANXI_FEEDBACK_RATE = "1000/1m"
    account = account_factory(org.service, name=f"厦门{CORPUS[0][:40]}机械有限公司")
    Contact.objects.create(account=account, name=_payload(1, 60), mobile=PHONE, created_by=org.service)
    categories = [sla_setup.category_create(actor=org.admin, name=f"{_payload(i, 90)}#{i}") for i in range(4)]
    products = [Product.objects.create(code=f"XSS-{i}", name=_payload(i + 4), list_price=1) for i in range(3)]
    form = FeedbackForm.objects.create(slug="main", title="意见与投诉", responder=org.service, is_default=True,
                                       category=categories[0])
    for i in range(len(CORPUS)):
        response = _submit_public(form, i, with_file=i == 0)
        assert response.status_code == 200 and b"case-code" in response.content, response.content[:500]
    public = list(Case.objects.filter(form=form).order_by("pk"))
    assert len(public) == len(CORPUS) and all(c.account_id == account.pk for c in public)
    # Staff: a hotline case with a category and a product, a step, a hand-over note, the reply.
    staff = intake.case_receive(actor=org.service, kind="ticket", ticket_type="repair", title=_payload(5),
                                description=_payload(6), channel="hotline", category=categories[1],
                                product=products[0], account=account, sender_name=_payload(7, 100),
                                sender_phone=PHONE)
    for n, case in enumerate([staff, *public[:3]]):
        Case.objects.filter(pk=case.pk).update(category=categories[n % 4], product=products[n % 3])
    staff = Case.objects.get(pk=staff.pk)
    cases.step_add(actor=org.service, case=staff, step="listen", note=_payload(8))
    offer = handovers.handover_offer(actor=org.service, case=staff, to_user=org.service2, note=_payload(9))
    handovers.handover_withdraw(actor=org.service, handover=offer, note=_payload(10))
    staff = Case.objects.get(pk=staff.pk)
    for to in ("acknowledged", "investigating"):
        staff = cases.case_move(actor=org.service, case=staff, to=to, note=_payload(11))
    staff = cases.reply_set(actor=org.service, case=staff, proposal=_payload(2), reply="\n".join(CORPUS),
                            expected_version=staff.version)
    staff = cases.case_move(actor=org.service, case=staff, to="proposed")
    staff = cases.case_move(actor=org.service, case=staff, to="resolved", note=_payload(3))
    confirm_token = staff.confirm_link.rstrip("/").rsplit("/", 1)[1]
    # A visit on it, reported with a payload.
    start = timezone.now() - dt.timedelta(hours=4)
    visit = visits.visit_schedule(actor=org.service, case=staff, purpose="repair", technician=org.service,
                                  start=start, end=start + dt.timedelta(hours=1), address=_payload(4))
    visit = visits.visit_report(actor=org.service, visit=visit, report="\n".join(CORPUS), parts=_payload(5),
                                arrived_at=start, finished_at=start + dt.timedelta(minutes=30),
                                expected_version=visit.version)
    visit_token = visit.confirm_link.rstrip("/").rsplit("/", 1)[1]
    # A public case taken to closed: the survey goes out automatically; the customer answers it.
    closed = public[3]
    for to in ("acknowledged", "investigating"):
        closed = cases.case_move(actor=org.service, case=closed, to=to)
    closed = cases.reply_set(actor=org.service, case=closed, proposal="更换", reply="已处理",
                             expected_version=closed.version)
    for to, note in (("proposed", ""), ("resolved", ""), ("confirmed", "电话确认"), ("closed", "")):
        closed = cases.case_move(actor=org.service, case=closed, to=to, note=note)
    invitation = Invitation.objects.get(source=f"service.case:{closed.pk}")
    survey = Survey.objects.get(pk=invitation.survey_id)
    answered = invitations.invitation_renew(actor=org.service, invitation=invitation)
    answers = {q.pk: {"rater": 2, "nps": 3, "csat": 2}.get(q.type, "\n".join(CORPUS)) for q in survey.questions.all()}
    response = responses.answer(token=answered, answers=answers, comment="\n".join(CORPUS))
    # A second invitation, unanswered, for the public survey page.
    other = public[4]
    open_invitation, survey_token = invitations.invite(
        actor=None, survey=survey, touchpoint="case_closed", source=f"service.case:{other.pk}", account=account,
        contact=Contact.objects.get(account=account), owner=org.service, recipient_name=_payload(6, 100))
    return {"account": account, "public": public, "staff": staff, "visit": visit, "confirm": confirm_token,
            "visit_token": visit_token, "survey_token": survey_token, "response": response, "form": form,
            "invitation": open_invitation}


def _inert(session: Any, path: str, dialogs: list[str], *, probe: bool = True) -> list[str]:
    """Open ``path``; what went wrong there (a script ran, markup got in, the payload is absent)."""
    page = session.page
    response = page.goto(path)
    problems = []
    if response is None or response.status >= 400:
        return [f"{path}: {response.status if response else 'no response'}"]
    if not response.headers.get("content-security-policy"):
        problems.append(f"{path}: no Content-Security-Policy header")
    page.wait_for_load_state("networkidle")
    flag, injected, text = page.evaluate(
        "[window.__xss === undefined ? null : String(window.__xss), document.querySelectorAll('[data-xss]').length,"
        " document.body.innerText + ' ' + Array.from(document.querySelectorAll('textarea,input')).map("
        "e => e.value).join(' ') + ' ' + Array.from(document.querySelectorAll('svg text')).map("
        "e => e.textContent).join(' ')]")
    if flag is not None:
        problems.append(f"{path}: a payload ran (window.__xss = {flag})")
    if injected:
        problems.append(f"{path}: {injected} element(s) of a payload got into the page as markup")
    violations = session.csp_violations()
    if violations:
        problems.append(f"{path}: CSP violations {violations}")
    if dialogs:
        problems.append(f"{path}: dialogs {dialogs}")
        dialogs.clear()
    if probe and "data-xss" not in text:
        problems.append(f"{path}: no payload text on the page: the probe proves nothing here ({text[:600]!r})")
    return problems


def test_stored_payloads_run_nowhere(browser_org: Any, session_factory: Any, account_factory: Any, settings: Any,
                                     tmp_path: Any) -> None:
    org = browser_org
    w = _build(org, account_factory, settings, tmp_path)
    dialogs: list[str] = []
    problems: list[str] = []

    # The customer, on a phone: the form itself with every payload typed in, and the thank-you page.
    customer = session_factory(viewport={"width": 390, "height": 844})
    customer.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    customer.goto("/feedback/")
    page = customer.page
    page.fill("input[name=title]", CORPUS[2])
    page.fill("textarea[name=description]", "\n".join(CORPUS))
    page.fill("input[name=name]", CORPUS[1][:100])
    page.fill("input[name=company]", CORPUS[3])
    page.fill("input[name=phone]", PHONE)
    page.set_input_files("input[name=attachments]", files=[{"name": FILE_NAME, "mimeType": "image/jpeg",
                                                           "buffer": JPG}])
    settings.GUANXI_FEEDBACK_MIN_SECONDS = 0
    customer.submit("[data-testid=feedback-submit]")
    flag = page.evaluate("window.__xss === undefined ? null : String(window.__xss)")
    assert flag is None and page.locator("[data-testid=case-code]").count() == 1, page.content()[:2000]
    assert page.evaluate("document.querySelectorAll('[data-xss]').length") == 0
    for path in (f"/feedback/confirm/{w['confirm']}/", f"/feedback/visit/{w['visit_token']}/",
                 f"/survey/{w['survey_token']}/"):
        problems += _inert(customer, path, dialogs)

    # Staff: every page that shows them.
    staff = session_factory()
    staff.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    staff.login("service")
    account, first = w["account"].pk, w["public"][0]
    attachment = first.attachments.first()
    assert attachment is not None and attachment.original_name == FILE_NAME.replace('"', "")
    paths = [
        "/service/cases/?status=", f"/service/cases/?status=&q={first.code}", f"/service/cases/{first.pk}/",
        f"/service/cases/{w['staff'].pk}/", f"/service/cases/{w['public'][3].pk}/", "/",
        f"/accounts/{account}/?tab=timeline", f"/accounts/{account}/?tab=service", f"/service/accounts/{account}/cases/",
        "/notifications/", "/service/reports/", "/surveys/responses/", f"/surveys/responses/{w['response'].pk}/",
        f"/surveys/accounts/{account}/", "/surveys/invitations/", f"/surveys/invitations/{w['invitation'].pk}/",
        f"/service/visits/{w['visit'].pk}/", "/service/visits/",
    ]
    for path in paths:
        problems += _inert(staff, path, dialogs)
    problems += _inert(staff, "/surveys/dashboard/", dialogs, probe=False)
    # The service manager, who also reviews and sees unmatched senders.
    manager = session_factory()
    manager.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    manager.login("service_mgr")
    for path in ("/service/cases/?status=", "/service/reports/", f"/service/cases/{w['staff'].pk}/"):
        problems += _inert(manager, path, dialogs)
    problems += _inert(manager, "/", dialogs, probe=False)  # she owns no case: her desk lists none
    assert not problems, "\n".join(problems)


def test_every_public_page_has_a_content_security_policy(org: Any, settings: Any, tmp_path: Any) -> None:
    """The form, its variants, the thank-you page, refusals (spam, too fast, too many, bad file),
    unknown forms and links, and the customer's confirmation, visit and survey pages."""
    from guanxi.service.models import FeedbackForm
    from guanxi.service.views.intake import form_token

    settings.MEDIA_ROOT = tmp_path
    settings.GUANXI_FEEDBACK_RATE = "3/1m"
    form = FeedbackForm.objects.create(slug="shop", title="门店意见", responder=org.service, is_default=True)
    client = Client(REMOTE_ADDR="127.0.0.50")
    good = {"kind": "suggestion", "title": "建议", "description": "多开几家门店", "name": "李", "phone": "13900001111",
            "wants_reply": "on", "website": "", "token": form_token(form, issued_at=timezone.now().timestamp() - 30)}
    answers = {
        "form": client.get("/feedback/"), "variant": client.get("/feedback/shop/"),
        "unknown form": client.get("/feedback/nope/"), "thanks": client.post("/feedback/shop/", good),
        "honeypot": client.post("/feedback/shop/", {**good, "website": "http://spam"}),
        "too fast": client.post("/feedback/shop/", {**good, "token": form_token(form)}),
        "too many": client.post("/feedback/shop/", good),
        "unknown confirm": client.get("/feedback/confirm/nothing-here/"),
        "unknown visit": client.get("/feedback/visit/nothing-here/"), "unknown survey": client.get("/survey/nothing/"),
    }
    assert answers["thanks"].status_code == 200 and answers["too many"].status_code == 429
    assert {answers[k].status_code for k in ("honeypot", "too fast")} <= {400, 422}
    missing = {name for name, response in answers.items() if not response.get("Content-Security-Policy")}
    assert not missing, f"no Content-Security-Policy header on {sorted(missing)}"
    for name, response in answers.items():
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0], \
            (name, policy)
