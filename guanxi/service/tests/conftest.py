"""Service tests assert service messages in English; the product's default language is zh-hans.

Pages and the API still pick their language per request (the user's, or the browser's for
the API), so tests of the Chinese UI set it on the user as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _messages_in_english() -> Iterator[None]:
    with translation.override("en"):
        yield
