"""``guanxi createadmin``: the first administrator, a user holding guanxi's administrator role.

Asks for the user name, e-mail address and password like Django's ``createsuperuser``; with
``--no-input`` it takes ``--username`` and ``--email`` (or ``DJANGO_SUPERUSER_USERNAME`` and
``DJANGO_SUPERUSER_EMAIL``) and the password from ``DJANGO_SUPERUSER_PASSWORD``.
"""

from __future__ import annotations

import getpass
import os
import sys
from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _

from guanxi.core.errors import Invalid
from guanxi.core.services import install

DEFAULT_USERNAME = "admin"
PASSWORD_VARIABLE = "DJANGO_SUPERUSER_PASSWORD"  # noqa: S105 (the name of a variable, not a password)


class Command(BaseCommand):
    help = ("Create an administrator: a user with guanxi's administrator role (Django's createsuperuser "
            "gives no guanxi role). Asks for the user name, e-mail address and password; with --no-input "
            "give --username and --email, and the password in the environment variable "
            "DJANGO_SUPERUSER_PASSWORD.")
    requires_migrations_checks = True
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--username", help="the administrator's user name")
        parser.add_argument("--email", help="the administrator's e-mail address")
        parser.add_argument("--no-input", "--noinput", action="store_false", dest="interactive",
                            help="ask nothing: --username and --email (or DJANGO_SUPERUSER_USERNAME and "
                                 "DJANGO_SUPERUSER_EMAIL) and DJANGO_SUPERUSER_PASSWORD are required")
        parser.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES],
                            default=settings.LANGUAGE_CODE,
                            help="language of the messages, and the new administrator's language")

    def handle(self, *args: Any, username: str | None, email: str | None, interactive: bool, language: str,
               **options: Any) -> None:
        with translation.override(language):
            if interactive:
                stdin: Any = options.get("stdin") or sys.stdin
                if stdin is None or not stdin.isatty():
                    raise CommandError(_("Not running in a terminal: give --no-input with --username and --email, "
                                         "and the password in DJANGO_SUPERUSER_PASSWORD."))
                try:
                    username, email, password = self.ask(username, email)
                except (KeyboardInterrupt, EOFError):
                    self.stderr.write("")
                    raise CommandError(_("Cancelled; nothing was changed.")) from None
            else:
                username = username if username is not None else os.environ.get("DJANGO_SUPERUSER_USERNAME")
                email = email if email is not None else os.environ.get("DJANGO_SUPERUSER_EMAIL")
                password = os.environ.get(PASSWORD_VARIABLE, "")
                missing = [hint for value, hint in ((username, "--username"), (email, "--email"),
                                                    (password, PASSWORD_VARIABLE)) if not value]
                if missing:
                    raise CommandError(_("With --no-input these are required: {missing}. Nothing was changed.")
                                       .format(missing=", ".join(missing)))
            try:
                user = install.administrator_create(username=username or "", email=email or "",
                                                    password=password, language=language)
            except Invalid as exc:
                raise CommandError(self.refusal(exc)) from None
            self.stdout.write(self.style.SUCCESS(
                _("Administrator {username} created, with the administrator role. Sign in and set up the "
                  "departments, teams and users under Administration.").format(username=user.username)))

    def refusal(self, exc: Invalid) -> str:
        labels = {"username": _("Username"), "email": _("E-mail address"), "password": _("Password")}
        lines = ["  " + _("{field}: {message}").format(field=labels.get(field, field), message=message)
                 for field, messages in exc.errors.items() for message in messages] or [f"  {exc.message}"]
        return "\n".join([_("No administrator was created; nothing was changed:"), *lines])

    # --- The questions --------------------------------------------------------------------
    def ask(self, username: str | None, email: str | None) -> tuple[str, str, str]:
        """Ask for what the options did not give (or gave wrong) until each answer is acceptable."""
        username = self.answer(
            username, lambda: input(_("Username (leave blank to use '{default}'): ").format(
                default=DEFAULT_USERNAME)).strip() or DEFAULT_USERNAME,
            install.username_errors)
        email = self.answer(email, lambda: input(_("E-mail address: ")).strip(), install.email_errors)
        while True:
            password = getpass.getpass(_("Password: "))
            if password != getpass.getpass(_("Password (again): ")):
                self.stderr.write(_("The two passwords differ."))
                continue
            errors = install.password_errors(password, username=username, email=email)
            if not errors:
                return username, email, password
            for message in errors:
                self.stderr.write(message)

    def answer(self, given: str | None, prompt: Callable[[], str], check: Callable[[str], list[str]]) -> str:
        value = given.strip() if given is not None else None
        while True:
            if value is None:
                value = prompt()
            errors = check(value)
            if not errors:
                return value
            for message in errors:
                self.stderr.write(message)
            value = None
