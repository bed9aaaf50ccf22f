"""What the sales views share: saving a posted edit form through its service, and one-click POST actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from guanxi.core.errors import ServiceError
from guanxi.core.views import error_text, form_errors, style_form


def save_edit(request: HttpRequest, form: forms.Form,
              save: Callable[[dict[str, Any], int | None], object]) -> int | None:
    """Validate a posted edit form and hand ``save(changes, expected_version)`` its data, the version
    taken out. ``None`` once saved ("Saved." is queued); else the status to show the form again with:
    200 when nothing was posted, 422 when the form is invalid, the service error's status (its
    errors put on the form)."""
    if request.method != "POST":
        return 200
    if not form.is_valid():
        return 422
    changes = dict(form.cleaned_data)
    version = changes.pop("version")
    try:
        save(changes, version)
    except ServiceError as exc:
        form_errors(form, exc)
        return exc.status
    messages.success(request, _("Saved."))
    return None


def act(request: HttpRequest, action: Callable[[], object], done: str | Callable[[], str], to: str,
        failed_to: str | None = None) -> HttpResponse:
    """Run one POST action; a service error becomes an error message, success the message ``done``
    (a callable is read after the action). Then to ``to`` (a URL or a view name), or after a failure
    to ``failed_to`` if given (a delete goes to the list, or back to the record it could not delete)."""
    try:
        action()
    except ServiceError as exc:
        messages.error(request, error_text(exc))
        return redirect(failed_to or to)
    messages.success(request, done() if callable(done) else done)
    return redirect(to)


class AccountContactForm(forms.Form):
    """A form for a customer (an order, a contract, a survey sent by hand): the ``account`` to
    pick from ``accounts`` (``None``: the account is fixed and the field goes) and the
    ``contact`` from that account's ``contacts``."""

    def __init__(self, *args: Any, accounts: list[tuple[str, str]] | None, contacts: list[tuple[str, str]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if accounts is None:
            del self.fields["account"]
        else:
            self._choices("account", [("", "—"), *accounts])
        self._choices("contact", [("", "—"), *contacts])
        style_form(self)

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices
