"""HTML views of contact and follow-up: the written confirmation of an interaction and the
weekly status report of an account or a project (R3.4)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy

from guanxi.activities.selectors import get_one, interaction_scope
from guanxi.activities.selectors import reports as reads
from guanxi.activities.services import documents
from guanxi.core.errors import Invalid
from guanxi.core.permissions import declare as requires
from guanxi.core.services import records
from guanxi.customers import account_page
from guanxi.customers.models import Account


def download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    """A document as a download (never rendered inline by the browser), with a UTF-8 file name."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


def _interaction(request: HttpRequest, pk: int) -> Any:
    return get_one(interaction_scope, request.user, pk, "account", "owner")


# --- Written confirmation ------------------------------------------------------------------
@requires("interaction.view")
def confirmation_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """What the confirmation says, with the buttons: PDF, e-mail draft, mail program."""
    interaction = _interaction(request, pk)
    conf = reads.confirmation_for(request.user, interaction)
    return render(request, "activities/confirm_preview.html", {
        "conf": conf, "interaction": interaction, "mailto": documents.confirmation_mailto(conf),
    })


@requires("interaction.view")
def confirmation_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    content, content_type, filename = documents.confirmation_export(
        actor=request.user, interaction=_interaction(request, pk), fmt="pdf")
    return download(content, content_type, filename)


@requires("interaction.view")
def confirmation_eml(request: HttpRequest, pk: int) -> HttpResponse:
    content, content_type, filename = documents.confirmation_export(
        actor=request.user, interaction=_interaction(request, pk), fmt="eml")
    return download(content, content_type, filename)


# --- Weekly status report ------------------------------------------------------------------
def _week(request: HttpRequest) -> reads.Week:
    try:
        return reads.parse_week(request.GET.get("week"))
    except Invalid as exc:
        messages.error(request, "; ".join(m for ms in exc.errors.values() for m in ms))
        return reads.parse_week(None)


def _weekly(request: HttpRequest, report: reads.WeeklyReport, url_name: str, pk: int) -> HttpResponse:
    if request.GET.get("format") == "pdf":
        return download(*documents.weekly_report_export(actor=request.user, report=report))
    return render(request, "activities/report_weekly.html", {
        "report": report, "counts": documents.weekly_counts(report), "url_name": url_name, "pk": pk,
        "previous": report.week.shifted(-1).label, "next": report.week.shifted(1).label,
        "current": reads.parse_week(None).label,
    })


@requires("interaction.view")
def account_weekly_report(request: HttpRequest, account_pk: int) -> HttpResponse:
    account = records.get_visible(request.user, Account, account_pk)
    report = reads.weekly_report(request.user, account, _week(request))
    return _weekly(request, report, "activities:account-weekly-report", account.pk)


@requires("project.view")
def project_weekly_report(request: HttpRequest, pk: int) -> HttpResponse:
    project = reads.project_for_report(request.user, pk)
    report = reads.weekly_report(request.user, project.account, _week(request), project=project)
    return _weekly(request, report, "activities:project-weekly-report", project.pk)


# The account page gets a "Reports" tab: pick a week, open the report or its PDF (no query).
account_page.register(account_page.Tab(
    key="reports", label=gettext_lazy("Reports"), template="activities/report_account_tab.html",
    perm="interaction.view", order=80,
))

urlpatterns: list[URLPattern] = [
    path("interactions/<int:pk>/confirmation/", confirmation_preview, name="interaction-confirmation-preview"),
    path("interactions/<int:pk>/confirmation.pdf", confirmation_pdf, name="interaction-confirmation"),
    path("interactions/<int:pk>/confirmation.eml", confirmation_eml, name="interaction-confirmation-eml"),
    path("accounts/<int:account_pk>/weekly/", account_weekly_report, name="account-weekly-report"),
    path("projects/<int:pk>/weekly/", project_weekly_report, name="project-weekly-report"),
]
