"""Service errors: every door (HTML, API, CLI, job) turns these into its own answer."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class ServiceError(Exception):
    status = 400
    code = "invalid"
    default_message = _("The request could not be carried out.")

    def __init__(self, message: object = None, *, errors: dict[str, list[str]] | None = None,
                 code: str | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        self.errors = errors or {}
        if code:
            self.code = code
        super().__init__(self.message)


class Invalid(ServiceError):
    status = 422
    code = "invalid"
    default_message = _("Please correct the errors below.")


class NotFound(ServiceError):
    """Missing and forbidden look the same to the caller."""

    status = 404
    code = "not_found"
    default_message = _("Not found.")


class Forbidden(ServiceError):
    """The caller may see the record but not do this to it."""

    status = 403
    code = "forbidden"
    default_message = _("You do not have permission to do this.")


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    default_message = _("Someone else changed this record after you opened it. Reload it and try again.")
