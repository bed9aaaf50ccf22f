"""HTML views of sales targets (R11.2): the managers' list with attainment, set, change, remove.
The performance page lives in ``views/performance.py`` and is routed from here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core import access
from guanxi.core.errors import Invalid, NotFound, ServiceError
from guanxi.core.models import Department, Team, User
from guanxi.core.paginator import CappedPaginator
from guanxi.core.permissions import declare as requires
from guanxi.core.views import error_text, form_errors, posted_version, style_form
from guanxi.sales.models import SalesTarget
from guanxi.sales.selectors import targets as reads
from guanxi.sales.selectors.performance import people_for
from guanxi.sales.services import targets as services
from guanxi.sales.views import performance
from guanxi.sales.views.common import act

PAGE_SIZE = 50


def holder_choices(actor: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """The people, teams and departments ``actor`` may set targets for, as grouped choices."""
    reach = access.visibility_for(actor, include_grants=False)
    people = [(f"u:{pk}", f"{name}{' · ' + dept if dept else ''}") for pk, name, dept in people_for(actor)
              if reach.everything or pk != actor.pk]
    teams = Team.objects.all() if reach.everything else Team.objects.filter(
        Q(leader=actor) | Q(department_id__in=reach.department_ids))
    departments = Department.objects.all() if reach.everything else Department.objects.filter(
        pk__in=reach.department_ids).exclude(pk=actor.department_id)
    return [
        (str(_("Salespeople")), people),
        (str(_("Teams")), [(f"t:{pk}", name) for pk, name in teams.order_by("name").values_list("pk", "name")]),
        (str(_("Departments")), [(f"d:{pk}", name) for pk, name in departments.order_by("path").values_list(
            "pk", "name")]),
    ]


def holder_of(value: str) -> dict[str, Any]:
    """``u:5`` / ``t:2`` / ``d:3`` → the service's holder keyword (unknown → Invalid)."""
    kind, _sep, pk = value.partition(":")
    model: Any = {"u": User, "t": Team, "d": Department}.get(kind)
    holder = model.objects.filter(pk=int(pk)).first() if model is not None and pk.isdigit() else None
    if holder is None:
        raise Invalid(errors={"holder": [_("Choose one salesperson, one team or one department.")]})
    return {{"u": "user", "t": "team", "d": "department"}[kind]: holder}


class TargetForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    holder = forms.ChoiceField(label=gettext_lazy("For"))
    metric = forms.ChoiceField(label=gettext_lazy("Measure"), choices=SalesTarget.Metric.choices)
    period_start = forms.CharField(label=pgettext_lazy("start of a period", "From"),
                                   widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.CharField(label=gettext_lazy("Until"), widget=forms.DateInput(attrs={"type": "date"}))
    amount = forms.CharField(label=gettext_lazy("Target (CNY, or number of new customers)"))
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, actor: Any, target: SalesTarget | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        holder = self.fields["holder"]
        assert isinstance(holder, forms.ChoiceField)
        if target is not None:
            holder.choices = [("", reads.holder_label(target))]
            holder.disabled = True
            holder.required = False
        else:
            holder.choices = [("", "—"), *holder_choices(actor)]
        style_form(self)


@requires("target.manage")
def target_list(request: HttpRequest) -> HttpResponse:
    """Targets the manager sees with what was achieved: ``metric``, ``from``/``to`` (overlap)."""
    status = 200
    try:
        qs = reads.target_list_for(request.user, request.GET)
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        qs, status = SalesTarget.objects.none(), exc.status
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = reads.attach_actuals(list(page.object_list))
    for target in page.object_list:
        target.holder_label = reads.holder_label(target)  # type: ignore[attr-defined]
        target.holder_kind = reads.holder_kind(target)  # type: ignore[attr-defined]
    return render(request, "sales/targets_list.html", {
        "page": page, "f": request.GET, "metrics": SalesTarget.Metric.choices, "today": timezone.localdate(),
    }, status=status)


def _target(request: HttpRequest, pk: int) -> SalesTarget:
    target = reads.target_scope(request.user).select_related("user", "team", "department").filter(pk=pk).first()
    if target is None:
        raise NotFound()
    return target


def _form_page(request: HttpRequest, target: SalesTarget | None) -> HttpResponse:
    user: Any = request.user
    if target is not None:
        initial: dict[str, Any] = {"metric": target.metric, "period_start": target.period_start.isoformat(),
                                   "period_end": target.period_end.isoformat(), "amount": target.amount,
                                   "notes": target.notes, "version": target.version}
    else:
        today = timezone.localdate()
        initial = {"holder": request.GET.get("holder", ""), "metric": request.GET.get("metric", "orders"),
                   "period_start": today.replace(day=1).isoformat()}
    form = TargetForm(request.POST or None, actor=user, target=target, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            values = {k: data[k] for k in ("metric", "period_start", "period_end", "amount", "notes")}
            try:
                if target is None:
                    target = services.target_create(actor=user, **holder_of(data["holder"]), **values)
                else:
                    services.target_update(actor=user, target=target, changes=values,
                                           expected_version=data["version"])
            except ServiceError as exc:
                form_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Target saved."))
                return redirect(reverse("sales:target-list") + f"?metric={target.metric}")
        else:
            status = 422
    return render(request, "sales/targets_form.html", {
        "form": form, "target": target, "title": _("Edit the target") if target else _("Set a target"),
    }, status=status)


@requires("target.manage")
def target_create(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@requires("target.manage")
def target_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_page(request, _target(request, pk))


@requires("target.manage")
@require_POST
def target_delete(request: HttpRequest, pk: int) -> HttpResponse:
    target = _target(request, pk)
    return act(request, lambda: services.target_delete(
        actor=request.user, target=target, expected_version=posted_version(request)),
        _("Target removed."), "sales:target-list", failed_to=reverse("sales:target-edit", args=[pk]))


urlpatterns: list[URLPattern] = [
    path("targets/", target_list, name="target-list"),
    path("targets/new/", target_create, name="target-create"),
    path("targets/<int:pk>/edit/", target_edit, name="target-edit"),
    path("targets/<int:pk>/delete/", target_delete, name="target-delete"),
    *performance.urlpatterns,
]
