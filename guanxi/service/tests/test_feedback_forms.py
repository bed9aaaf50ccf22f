"""Feedback-form configuration: create, edit, deactivate, exactly one default; QR codes and the printable card."""

from __future__ import annotations

import io

import pytest

from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent, User
from guanxi.service.models import FeedbackForm
from guanxi.service.services import feedback_forms as services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(org):
    User.objects.update(language="en")


def create(actor, slug="main", **fields):
    fields.setdefault("title", "意见与投诉")
    return services.feedback_form_create(actor=actor, slug=slug, **fields)


def defaults() -> list[str]:
    return list(FeedbackForm.objects.filter(is_default=True).values_list("slug", flat=True))


def test_the_first_form_becomes_the_default_and_set_default_moves_it(org):
    first = create(org.service_manager, responder=org.service)
    second = create(org.service_manager, slug="shanghai-store", title="上海门店", responder=org.service2)
    assert defaults() == ["main"]
    services.feedback_form_set_default(actor=org.service_manager, form=second)
    assert defaults() == ["shanghai-store"]
    third = create(org.service_manager, slug="beijing", responder=org.service, is_default=True)
    assert defaults() == ["beijing"]
    first.refresh_from_db()
    assert not first.is_default and third.is_default
    assert AuditEvent.objects.filter(action="create", content_type__model="feedbackform").count() == 3


def test_the_default_is_deactivated_last_and_reactivation_restores_one(org):
    main = create(org.service_manager, responder=org.service)
    shop = create(org.service_manager, slug="shop", responder=org.service)
    with pytest.raises(Invalid) as caught:
        services.feedback_form_deactivate(actor=org.service_manager, form=main)
    assert "default" in caught.value.errors["is_default"][0]
    services.feedback_form_deactivate(actor=org.service_manager, form=shop)
    services.feedback_form_deactivate(actor=org.service_manager, form=main)
    assert defaults() == [] and not FeedbackForm.objects.filter(active=True).exists()
    services.feedback_form_activate(actor=org.service_manager, form=shop)
    assert defaults() == ["shop"]
    with pytest.raises(Invalid):
        services.feedback_form_set_default(actor=org.service_manager, form=main)


def test_validation_and_the_right(org):
    with pytest.raises(Invalid) as caught:
        services.feedback_form_create(actor=org.service_manager, slug="Not A Slug!", title="", responder=org.marketing,
                                      kind="praise", channel="hotline")
    assert set(caught.value.errors) == {"slug", "title", "responder", "kind", "channel"}
    for slug in ("confirm", "cases"):
        with pytest.raises(Invalid):
            create(org.service_manager, slug=slug, responder=org.service)
    create(org.service_manager, responder=org.service)
    with pytest.raises(Invalid) as caught:
        create(org.service_manager, responder=org.service)
    assert "already" in caught.value.errors["slug"][0]
    for user in (org.service, org.salesperson, org.marketing):
        with pytest.raises(Forbidden):
            create(user, slug="x", responder=org.service)
    assert FeedbackForm.objects.count() == 1
    assert services.feedback_form_create(actor=org.admin, slug="admins", title="t", responder=org.service).pk


def test_update_is_versioned(org):
    form = create(org.service_manager, responder=org.service)
    services.feedback_form_update(actor=org.service_manager, form=form, changes={"title": "新标题"},
                                  expected_version=form.version)
    with pytest.raises(Conflict):
        services.feedback_form_update(actor=org.service_manager, form=FeedbackForm.objects.get(pk=form.pk),
                                      changes={"title": "过期的"}, expected_version=1)
    with pytest.raises(Invalid):
        services.feedback_form_update(actor=org.service_manager, form=form, changes={"is_default": True},
                                      expected_version=None)
    assert FeedbackForm.objects.get().title == "新标题"


# --- Pages ------------------------------------------------------------------------------------
def test_the_configuration_pages(org, login):
    client = login(org.service_manager)
    assert client.get("/service/feedback-forms/").status_code == 200
    created = client.post("/service/feedback-forms/new/", {
        "title": "门店意见卡", "slug": "store", "intro": "欢迎留言", "kind": "suggestion", "category": "",
        "responder": str(org.service.pk), "channel": "card", "allow_attachments": "on"})
    assert created.status_code == 302
    form = FeedbackForm.objects.get()
    assert form.is_default and form.channel == "card" and form.responder == org.service
    listing = client.get("/service/feedback-forms/").content.decode()
    assert "门店意见卡" in listing and "/feedback/store/" in listing
    edit = client.get(f"/service/feedback-forms/{form.pk}/")
    assert edit.status_code == 200 and "/feedback/store/" in edit.content.decode()
    saved = client.post(f"/service/feedback-forms/{form.pk}/", {
        "title": "门店意见卡（新）", "slug": "store", "intro": "", "kind": "suggestion", "category": "",
        "responder": str(org.service2.pk), "channel": "web", "version": str(form.version)})
    assert saved.status_code == 302
    form.refresh_from_db()
    assert form.title == "门店意见卡（新）" and form.responder == org.service2 and not form.allow_attachments
    stale = client.post(f"/service/feedback-forms/{form.pk}/", {
        "title": "x", "slug": "store", "kind": "suggestion", "responder": str(org.service2.pk), "channel": "web",
        "version": "1"})
    assert stale.status_code == 409
    bad = client.post("/service/feedback-forms/new/", {"title": "第二张", "slug": "store", "kind": "complaint",
                                                        "responder": str(org.service.pk), "channel": "web"})
    assert bad.status_code == 422 and "Another form already has this address." in bad.content.decode()
    client.post(f"/service/feedback-forms/{form.pk}/deactivate/", {"version": str(form.version)})
    form.refresh_from_db()
    assert not form.active and not form.is_default
    client.post(f"/service/feedback-forms/{form.pk}/activate/")
    other = FeedbackForm.objects.create(slug="other", title="其他", responder=org.service)
    client.post(f"/service/feedback-forms/{other.pk}/default/")
    assert defaults() == ["other"]
    for user in (org.service, org.salesperson):
        assert login(user).get("/service/feedback-forms/").status_code == 403
        assert login(user).get(f"/service/feedback-forms/{form.pk}/qr.svg").status_code == 403


def test_the_qr_codes_are_valid_svg_and_png_of_the_forms_address(org, login, settings):
    settings.GUANXI_BASE_URL = "https://crm.example.cn"
    form = create(org.service_manager, slug="store", responder=org.service)
    client = login(org.service_manager)
    svg = client.get(f"/service/feedback-forms/{form.pk}/qr.svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    from xml.etree import ElementTree

    root = ElementTree.fromstring(svg.content)  # noqa: S314 (our own output)
    assert root.tag.endswith("svg") and b"<script" not in svg.content
    png = client.get(f"/service/feedback-forms/{form.pk}/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and png["Content-Disposition"].startswith("attachment")
    from PIL import Image

    image = Image.open(io.BytesIO(png.content))
    assert image.size[0] == image.size[1] and image.size[0] > 100
    # What the code says: the form's own address.
    import segno

    expected = segno.make("https://crm.example.cn/feedback/store/", error="m")
    out = io.BytesIO()
    expected.save(out, kind="png", scale=12, border=2)
    assert out.getvalue() == png.content
    assert client.get("/service/feedback-forms/999999/qr.png").status_code == 404


def test_the_printable_card(org, login, settings):
    settings.GUANXI_COMPANY_NAME = "恒达电器"
    form = create(org.service_manager, slug="store", title="门店意见卡", responder=org.service)
    client = login(org.service_manager)
    a5 = client.get(f"/service/feedback-forms/{form.pk}/card/")
    html = a5.content.decode()
    assert a5.status_code == 200 and "恒达电器" in html and "门店意见卡" in html
    assert f"/service/feedback-forms/{form.pk}/qr.svg" in html and "size: A5" in html
    assert 'data-testid="card-invite"' in html
    a6 = client.get(f"/service/feedback-forms/{form.pk}/card/?size=a6").content.decode()
    assert "size: A6" in a6
