"""Writes made while installing guanxi, from the command line: the first administrator.

Django's ``createsuperuser`` makes a user without any guanxi role, and rights in guanxi come
from roles; ``guanxi createadmin`` calls ``administrator_create`` instead. There is no acting
user yet, so nothing is checked against one: whoever runs the command already holds the
server and its database. The audit row names the ``system`` actor on the ``cli`` channel.
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Invalid
from guanxi.core.models import Role, User

USERNAME_MAX = 150


def username_errors(username: str) -> list[str]:
    """What is wrong with ``username`` for a new user (empty: nothing)."""
    username = (username or "").strip()
    if not username:
        return [_("A username is required.")]
    if len(username) > USERNAME_MAX:
        return [_("At most %(n)d characters.") % {"n": USERNAME_MAX}]
    try:
        User.username_validator(username)
    except ValidationError as exc:
        return [str(m) for m in exc.messages]
    if User.objects.filter(username__iexact=username).exists():
        return [_("This username is already taken.")]
    return []


def email_errors(email: str) -> list[str]:
    """What is wrong with ``email`` (empty: nothing); an administrator needs one, guanxi mails it."""
    email = (email or "").strip()
    if not email:
        return [_("An e-mail address is required.")]
    try:
        validate_email(email)
    except ValidationError:
        return [_("Enter a valid e-mail address.")]
    return []


def password_errors(password: str, *, username: str = "", email: str = "") -> list[str]:
    """The password validators' objections (length, common, numeric, like the user name)."""
    if not password:
        return [_("A password is required.")]
    try:
        validate_password(password, User(username=(username or "").strip(), email=(email or "").strip()))
    except ValidationError as exc:
        return [str(m) for m in exc.messages]
    return []


@transaction.atomic
def administrator_create(*, username: str, email: str, password: str,
                         language: str = User.Language.ZH_HANS) -> User:
    """Create an active user holding guanxi's administrator role, in one transaction, audited.

    Bad input (a missing, malformed or taken username, a bad e-mail address, a password the
    validators refuse) raises ``Invalid`` with every field's messages and changes nothing.
    """
    username, email = (username or "").strip(), (email or "").strip()
    errors = {field: messages for field, messages in (
        ("username", username_errors(username)),
        ("email", email_errors(email)),
        ("password", password_errors(password, username=username, email=email)),
    ) if messages}
    if errors:
        raise Invalid(errors=errors)
    user = User(username=username, email=email, is_staff=True,
                language=language if language in User.Language.values else User.Language.ZH_HANS)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # created by someone else since the check above
        raise Invalid(errors={"username": [_("This username is already taken.")]}) from None
    role, _created = Role.objects.get_or_create(code=Role.Code.ADMIN)
    user.roles.set([role])
    audit.record(actor=None, action="create", obj=user, note="guanxi createadmin", changes={
        **audit.creation_changes(user, ["username", "email", "is_staff", "language"]),
        "roles": [[], [role.code]],
    })
    return user
