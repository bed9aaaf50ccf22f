"""HTML views of contact and follow-up: the manager's business check (R10.6)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from guanxi.activities.models import Interaction
from guanxi.activities.selectors import check as reads
from guanxi.core.dbrouter import replica_reads
from guanxi.core.errors import Invalid
from guanxi.core.permissions import declare as requires


def _who(request: HttpRequest) -> tuple[str, str]:
    """(user, department) from ``?who=u<id>|d<id>|team`` (the picker) or ``?user=`` / ``?department=``."""
    who = request.GET.get("who", "").strip()
    if who.startswith("u"):
        return who[1:], ""
    if who.startswith("d"):
        return "", who[1:]
    if who:
        return "", ""
    return request.GET.get("user", "").strip(), request.GET.get("department", "").strip()


def _options(items: list[tuple[str, str]], selected: str) -> str:
    # Rendered here rather than by a template loop: a general manager picks among hundreds.
    return format_html_join("", '<option value="{}"{}>{}</option>',
                            ((value, " selected" if value == selected else "", label) for value, label in items))


def _picker(reach: reads.Reach, who: str) -> dict[str, str]:
    left = pgettext("former staff", "left")
    people = [(f"u{p.pk}", f"{p}{' · ' + p.department.name if p.department else ''}"
                           f"{'' if p.is_active else f' ({left})'}") for p in reach.people]
    return {"departments": _options([(f"d{d.pk}", d.name) for d in reach.departments], who),
            "people": _options(people, who)}


def _overdue_rows(check: reads.BusinessCheck) -> str:
    """The 50 oldest overdue follow-ups as table rows (Python, not a template loop: 50 rows × links)."""
    link = reverse("customers:account-detail", args=[0])[:-2]  # ".../accounts/" + pk + "/"
    owner = check.subject.is_group
    return format_html_join("", '<tr><td class="text-danger text-nowrap">{}</td><td><a href="{}{}/">{}</a></td>'
                            '<td>{}{}</td>{}</tr>', (
                                (localtime(f["due_at"]).strftime("%Y-%m-%d %H:%M"), link, f["account_id"],
                                 f["account__name"], f["title"],
                                 f" · {f['contact__name']}" if f["contact_id"] else "",
                                 format_html("<td>{}</td>", f["owner__name"] or f["owner__username"]) if owner else "")
                                for f in check.overdue_items))


def _move_rows(check: reads.BusinessCheck) -> str:
    link = reverse("customers:account-detail", args=[0])[:-2]
    up = format_html('<span class="text-success" title="{}">▲</span>', _("Up"))
    down = format_html('<span class="text-danger" title="{}">▼</span>', _("Down"))
    return format_html_join("", '<tr><td class="text-nowrap">{}</td><td><a href="{}{}/">{}</a></td>'
                            '<td class="text-nowrap">{} → {} {}</td><td class="hide-sm">{}</td></tr>', (
                                (localtime(r["rated_at"]).strftime("%Y-%m-%d"), link, r["account_id"],
                                 r["account__name"], r["previous_grade"], r["grade"],
                                 up if r["direction"] == "up" else down, r["note"])
                                for r in check.rating_items))


@requires("activity.check")
@replica_reads
def business_check(request: HttpRequest) -> HttpResponse:
    actor: Any = request.user
    user_id, department_id = _who(request)
    reach = reads.reach_for(actor)
    subject = reads.subject_for(actor, user=user_id, department=department_id, reach=reach)  # out of reach: 404
    errors: dict[str, list[str]] = {}
    start, end = request.GET.get("start", "").strip(), request.GET.get("end", "").strip()
    try:
        period = reads.period_for(days=request.GET.get("days"), start=start, end=end)
    except Invalid as exc:
        errors = exc.errors
        period = reads.period_for()
    check = reads.business_check(actor, subject, period, reach=reach)
    data = reads.as_dict(check)
    who = f"u{subject.user.pk}" if subject.user else f"d{subject.department.pk}" if subject.department else "team"
    kinds = dict(Interaction.Kind.choices)
    chart = {
        "unit": check.series_unit,
        "series": data["contacts"]["series"],
        "kinds": [{"code": code, "label": str(label)} for code, label in Interaction.Kind.choices],
        "grades": [{"grade": g["grade"] or str(_("Ungraded")), "count": g["count"],
                    "idle": check.not_contacted_by_grade.get(g["grade"], 0)} for g in data["customers"]["by_grade"]],
        "labels": {"contacts": _("Contacts made"), "accounts": _("Accounts"), "idle": _("Not contacted in the period")},
    }
    return render(request, "activities/check.html", {
        "check": check,
        "data": data,
        "chart": chart,
        "who": who,
        "team_label": reads.team_label(actor),
        "period_errors": errors,
        "start": period.start if not errors else start,
        "end": period.end if not errors else end,
        "presets": reads.PRESETS,
        "picker": _picker(reach, who),
        "overdue_rows": _overdue_rows(check),
        "move_rows": _move_rows(check),
        "kind_rows": [(label, check.by_kind.get(code, 0)) for code, label in kinds.items()],
        "purpose_rows": [(label, check.by_purpose.get(code, 0)) for code, label in Interaction.Purpose.choices],
        "grade_rows": [(g, check.by_grade.get(g, 0), check.not_contacted_by_grade.get(g, 0)) for g in check.grades],
        "period_query": urlencode({"start": period.start.isoformat(), "end": period.end.isoformat()})
        if period.preset is None else urlencode({"days": period.preset}),
    })


urlpatterns: list[URLPattern] = [
    path("check/", business_check, name="check"),
]
