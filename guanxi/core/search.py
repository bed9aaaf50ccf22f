"""One normalised search text per searchable record.

Chinese users type 中石化, zsh, zhongshihua, a piece of a phone number or a credit code.
Each searchable record keeps one lowercase text holding its names as written, their full
pinyin and pinyin initials, phone digits and codes; a query is normalised the same way
and matched as a substring (PostgreSQL answers it from a pg_trgm index).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT
from pypinyin.constants import RE_HANS as PINYIN_HANS
from pypinyin.seg import mmseg

SEPARATOR = " | "
_SPACES = re.compile(r"\s+")
_NON_DIGIT = re.compile(r"\D")
_HAS_HAN = re.compile(r"[\u3400-\u9fff]")
# Legal-form and filler words a user leaves out when typing a company: 有限公司 etc.
COMPANY_SUFFIXES = ("股份有限公司", "集团有限公司", "有限责任公司", "有限公司", "集团", "公司")


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), lowercase, no spaces: what both sides are compared in."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def short_name(name: str) -> str:
    name = normalise(name)
    for suffix in COMPANY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


# Each run of Chinese characters, and each word pypinyin cuts it into, is looked up once per
# process: company names repeat their words (有限公司, 贸易, 科技 …), so imports and demo
# builds of many accounts pay for pinyin a few thousand times instead of once per name.
_HAN_RUN = re.compile("(" + PINYIN_HANS.pattern.removeprefix("^(?:").removesuffix(")+$") + "+)")


@functools.lru_cache(maxsize=50_000)
def _word_pinyin(word: str) -> tuple[str, str]:
    return "".join(lazy_pinyin(word)), "".join(lazy_pinyin(word, style=Style.FIRST_LETTER))


@functools.lru_cache(maxsize=50_000)
def _run_pinyin(run: str) -> tuple[str, str]:
    words = [_word_pinyin(w) for w in (mmseg.seg.cut(run) if PHRASES_DICT else [run])]
    return "".join(w[0] for w in words), "".join(w[1] for w in words)


def pinyin_forms(text: str) -> list[str]:
    """Full pinyin and initials of the Chinese in ``text`` (empty when there is none).

    The same as pypinyin's ``lazy_pinyin`` of the whole text, which keeps what is not
    Chinese as it is; computed per run of Chinese characters so the runs can be cached.
    """
    if not _HAS_HAN.search(text):
        return []
    full: list[str] = []
    initials: list[str] = []
    for i, piece in enumerate(_HAN_RUN.split(text)):
        if i % 2:
            whole, first = _run_pinyin(piece)
            full.append(whole)
            initials.append(first)
        elif piece:
            full.append(piece)
            initials.append(piece)
    return ["".join(full), "".join(initials)]


def build(*, names: Iterable[str] = (), phones: Iterable[str] = (), codes: Iterable[str] = ()) -> str:
    parts: list[str] = []
    for name in names:
        if not name:
            continue
        parts.append(normalise(name))
        parts += pinyin_forms(short_name(name))
    parts += [_NON_DIGIT.sub("", p) for p in phones if p]
    parts += [normalise(c) for c in codes if c]
    return SEPARATOR.join(p for p in parts if p)
