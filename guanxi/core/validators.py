"""Validators for Chinese identifiers, with messages in the user's language."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# GB 32100-2015: 18 characters from this alphabet (no I, O, S, V, Z); the last one is a
# check character computed from the first seventeen with these weights.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_CODE_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
_PHONE_NOISE = re.compile(r"[\s()（）]")


def credit_code_check_char(first17: str) -> str:
    """Return the check character for the first seventeen characters of a credit code."""
    total = sum(CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(value: str) -> bool:
    value = value.strip().upper()
    if not _CREDIT_CODE_RE.match(value):
        return False
    return credit_code_check_char(value[:17]) == value[17]


def validate_credit_code(value: str) -> None:
    if not value:
        return
    cleaned = value.strip().upper()
    if len(cleaned) != 18:
        raise ValidationError(
            _("A unified social credit code has 18 characters; this one has %(n)d."),
            code="credit_code_length", params={"n": len(cleaned)},
        )
    if not _CREDIT_CODE_RE.match(cleaned):
        raise ValidationError(
            _("A unified social credit code uses digits and capital letters except I, O, S, V and Z."),
            code="credit_code_chars",
        )
    if credit_code_check_char(cleaned[:17]) != cleaned[17]:
        raise ValidationError(
            _("The check character of this unified social credit code is wrong; please check the code."),
            code="credit_code_check",
        )


def normalise_phone(value: str) -> str:
    """Strip spaces, brackets and a +86/0086 country prefix; keep digits and dashes."""
    value = _PHONE_NOISE.sub("", value or "")
    for prefix in ("+86", "0086"):
        if value.startswith(prefix):
            value = value[len(prefix):].lstrip("-")
    return value


def is_mobile(value: str) -> bool:
    return bool(MOBILE_RE.match(normalise_phone(value).replace("-", "")))


def validate_mobile(value: str) -> None:
    if value and not is_mobile(value):
        raise ValidationError(
            _("A mainland mobile number has 11 digits and starts with 13–19, e.g. 13812345678."),
            code="mobile",
        )


def validate_phone(value: str) -> None:
    """Accept a mainland mobile number or a landline with its area code (010-12345678)."""
    if not value:
        return
    cleaned = normalise_phone(value)
    if MOBILE_RE.match(cleaned.replace("-", "")) or LANDLINE_RE.match(cleaned):
        return
    raise ValidationError(
        _("Enter a mobile number (13812345678) or a landline with its area code (010-12345678)."),
        code="phone",
    )
