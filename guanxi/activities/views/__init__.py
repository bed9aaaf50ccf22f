"""HTML views of contact and follow-up, one module per area; each keeps its routes beside it."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest

from guanxi.core.errors import ServiceError


def style_form(form: forms.Form) -> forms.Form:
    """Bootstrap classes on every visible input (selects get form-select)."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect
                      | forms.HiddenInput):
            continue
        widget.attrs.setdefault("class", "form-select" if isinstance(widget, forms.Select) else "form-control")
    return form


def error_text(exc: ServiceError) -> str:
    """A service error as one line for a message banner: the field messages, else the message."""
    return "; ".join([m for ms in exc.errors.values() for m in ms] or [exc.message])


def posted_version(request: HttpRequest) -> int | None:
    """The record version the form was read at (stale → 409 in the service); none if absent."""
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None
