"""``guanxi createadmin``: the first administrator holds guanxi's administrator role, is audited,
and bad input or a taken user name changes nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from guanxi.core.models import AuditEvent, Role, User
from guanxi.core.permissions import has_perm

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "Lotus-Harbour-7319"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def create(*args: str, password: str | None = GOOD_PASSWORD, monkeypatch: Any, **kwargs: Any) -> str:
    if password is None:
        monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    out = io.StringIO()
    call_command("createadmin", *args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


def everything() -> tuple[Any, ...]:
    return (sorted(User.objects.values_list("username", "password", "email", "is_active")),
            sorted(User.roles.through.objects.values_list("user_id", "role_id")), AuditEvent.objects.count())


def test_the_administrator_gets_the_role_and_can_administer(monkeypatch):
    out = create("--no-input", "--username", "boss", "--email", "boss@example.com", "--language", "en",
                 monkeypatch=monkeypatch)
    assert "Administrator boss created" in out
    user = User.objects.get(username="boss")
    assert user.check_password(GOOD_PASSWORD) and user.is_active and user.is_staff and not user.is_superuser
    assert user.email == "boss@example.com" and user.language == "en"
    assert sorted(user.role_codes()) == [Role.Code.ADMIN]
    assert has_perm(user, "org.manage") and has_perm(user, "audit.view_all")
    # What "the rest is done in the web UI" needs: the organisation pages answer.
    client = Client()
    assert client.post("/login/", {"username": "boss", "password": GOOD_PASSWORD}).status_code == 302
    assert client.get("/org/users/").status_code == 200
    assert client.get("/org/departments/").status_code == 200


def test_the_creation_is_audited_once_on_the_command_line(monkeypatch):
    create("--no-input", "--username", "boss", "--email", "boss@example.com", monkeypatch=monkeypatch)
    user = User.objects.get(username="boss")
    [event] = AuditEvent.objects.filter(content_type__model="user", object_id=str(user.pk))
    assert (event.action, event.actor, event.actor_name, event.channel) == ("create", None, "system", "cli")
    assert event.changes["roles"] == [[], ["admin"]]
    assert event.changes["username"] == [None, "boss"] and event.changes["email"] == [None, "boss@example.com"]
    assert "password" not in event.changes and GOOD_PASSWORD not in str(event.changes)
    assert user.language == "zh-hans"  # the default language of the messages and of the user


def test_user_name_and_email_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "env-admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "it@example.com")
    create("--no-input", monkeypatch=monkeypatch)
    assert User.objects.get(username="env-admin").has_role(Role.Code.ADMIN)


@pytest.mark.parametrize(("args", "password", "field", "message"), [
    (["--username", "boss", "--email", "not-an-address"], GOOD_PASSWORD, "E-mail address",
     "Enter a valid e-mail address."),
    (["--username", "boss", "--email", "boss@example.com"], "short", "Password",
     "This password is too short. It must contain at least 8 characters."),
    (["--username", "boss", "--email", "boss@example.com"], "12345678901", "Password",
     "This password is entirely numeric."),
    (["--username", "boss", "--email", "boss@example.com"], "password123", "Password",
     "This password is too common."),
    (["--username", "boss chief", "--email", "boss@example.com"], GOOD_PASSWORD, "Username",
     "Enter a valid username."),
    (["--username", "  ", "--email", "boss@example.com"], GOOD_PASSWORD, "Username", "A username is required."),
    (["--username", "x" * 151, "--email", "boss@example.com"], GOOD_PASSWORD, "Username",
     "At most 150 characters."),
])
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(monkeypatch, args, password, field, message):
    before = everything()
    with pytest.raises(CommandError) as refused:
        create("--no-input", *args, "--language", "en", password=password, monkeypatch=monkeypatch)
    text = str(refused.value)
    assert text.startswith("No administrator was created; nothing was changed:")
    assert f"{field}: {message}" in text, text
    assert everything() == before


def test_every_field_in_error_is_named_at_once(monkeypatch):
    with pytest.raises(CommandError) as refused:
        create("--no-input", "--username", "boss chief", "--email", "nope", "--language", "en", password="short",
               monkeypatch=monkeypatch)
    text = str(refused.value)
    assert "Username:" in text and "E-mail address:" in text and "Password:" in text
    assert not User.objects.exists()


def test_messages_follow_the_language_option(monkeypatch):
    with pytest.raises(CommandError) as english:
        create("--no-input", "--username", "boss", "--language", "en", monkeypatch=monkeypatch)
    assert str(english.value) == "With --no-input these are required: --email. Nothing was changed."
    with pytest.raises(CommandError) as chinese:
        create("--no-input", "--username", "boss", "--email", "boss@example.com", "--language", "zh-hans",
               password="short", monkeypatch=monkeypatch)
    assert "密码" in str(chinese.value)  # Django's own password messages, in Chinese


def test_an_existing_username_is_refused_and_changes_nothing(org, monkeypatch):
    org.admin.roles.clear()
    before = everything()
    for name in ("admin", "ADMIN", " admin "):
        with pytest.raises(CommandError) as refused:
            create("--no-input", "--username", name, "--email", "other@example.com", "--language", "en",
                   password="Another-Lotus-4410", monkeypatch=monkeypatch)
        assert "Username: This username is already taken." in str(refused.value)
    assert everything() == before
    org.admin.refresh_from_db()
    assert not org.admin.check_password("Another-Lotus-4410") and org.admin.role_codes() == frozenset()


def test_running_it_twice_creates_one_administrator(monkeypatch):
    create("--no-input", "--username", "boss", "--email", "boss@example.com", monkeypatch=monkeypatch)
    before = everything()
    with pytest.raises(CommandError):
        create("--no-input", "--username", "boss", "--email", "boss@example.com", monkeypatch=monkeypatch)
    assert everything() == before and User.objects.count() == 1


def test_no_input_without_the_password_variable_changes_nothing(monkeypatch):
    with pytest.raises(CommandError) as refused:
        create("--no-input", "--username", "boss", "--email", "boss@example.com", "--language", "en", password=None,
               monkeypatch=monkeypatch)
    assert "DJANGO_SUPERUSER_PASSWORD" in str(refused.value)
    assert not User.objects.exists() and not AuditEvent.objects.exists()


def test_without_a_terminal_it_asks_for_no_input(monkeypatch):
    with pytest.raises(CommandError) as refused:
        create("--language", "en", monkeypatch=monkeypatch, stdin=io.StringIO())
    assert "--no-input" in str(refused.value)
    assert not User.objects.exists()


def test_interactively_it_asks_again_until_each_answer_is_acceptable(org, monkeypatch):
    answers = iter(["admin", "boss", "not-an-address", "boss@example.com"])
    passwords = iter(["Lotus-Harbour-7319", "Lotus-Harbour-7391",  # the two differ
                      "short", "short",  # too short
                      GOOD_PASSWORD, GOOD_PASSWORD])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(passwords))
    err = io.StringIO()
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("createadmin", "--language", "en", stdin=Terminal(), stdout=io.StringIO(), stderr=err)
    complaints = err.getvalue()
    assert "This username is already taken." in complaints and "Enter a valid e-mail address." in complaints
    assert "The two passwords differ." in complaints and "too short" in complaints
    boss = User.objects.get(username="boss")
    assert boss.check_password(GOOD_PASSWORD) and boss.has_role(Role.Code.ADMIN)
    assert next(answers, None) is None and next(passwords, None) is None


def test_interactively_the_username_defaults_to_admin(monkeypatch):
    answers = iter(["", "it@example.com"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": GOOD_PASSWORD)
    call_command("createadmin", stdin=Terminal(), stdout=io.StringIO(), stderr=io.StringIO())
    assert User.objects.get().username == "admin"


def test_cancelling_the_questions_changes_nothing(monkeypatch):
    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", interrupted)
    with pytest.raises(CommandError) as refused:
        call_command("createadmin", "--language", "en", stdin=Terminal(), stdout=io.StringIO(), stderr=io.StringIO())
    assert str(refused.value) == "Cancelled; nothing was changed."
    assert not User.objects.exists()
