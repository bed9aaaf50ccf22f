"""The Chinese catalogue is complete: every UI string has a translation, placeholders intact.

(CI also regenerates the catalogue from the sources with makemessages and fails when a
string in the code is missing from it; see .ci/run.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages import pofile

LOCALE = Path(__file__).resolve().parents[2] / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]|\{\w*\}")


def messages(lang: str) -> list[pofile.Message]:  # type: ignore[name-defined]
    with open(LOCALE / lang / "LC_MESSAGES" / "django.po", "rb") as fh:
        return [m for m in pofile.read_po(fh) if m.id]


def strings(message: pofile.Message) -> list[str]:  # type: ignore[name-defined]
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


def ids(message: pofile.Message) -> list[str]:  # type: ignore[name-defined]
    return list(message.id) if isinstance(message.id, tuple | list) else [message.id]


def test_every_string_has_a_chinese_translation() -> None:
    missing = [m.id for m in messages("zh_Hans") if m.fuzzy or not all(s.strip() for s in strings(m))]
    assert not missing, f"untranslated or fuzzy: {missing[:20]}"


@pytest.mark.parametrize("lang", ["zh_Hans", "en"])
def test_translations_keep_their_placeholders(lang: str) -> None:
    wrong = []
    for m in messages(lang):
        wanted = sorted(PLACEHOLDER.findall(ids(m)[0]))
        for text in strings(m):
            if text and sorted(PLACEHOLDER.findall(text)) != wanted:
                wrong.append((m.id, text))
    assert not wrong, wrong[:10]


def test_both_catalogues_hold_the_same_strings() -> None:
    def keys(lang: str) -> set[tuple[str, str | None]]:
        return {(ids(m)[0], m.context) for m in messages(lang)}

    assert keys("zh_Hans") == keys("en")
