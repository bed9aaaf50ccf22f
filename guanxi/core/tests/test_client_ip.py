"""The client's address: REMOTE_ADDR, or behind the proxy the X-Forwarded-For entry it wrote."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory

from guanxi.core.middleware import client_ip


def test_without_a_proxy_the_header_is_ignored(settings: Any) -> None:
    settings.GUANXI_BEHIND_PROXY = False
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert client_ip(request) == "203.0.113.9"


def test_behind_the_proxy_a_forged_first_entry_does_not_count(settings: Any) -> None:
    settings.GUANXI_BEHIND_PROXY = True
    forged = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    assert client_ip(forged) == "198.51.100.7"
    plain = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert client_ip(plain) == "198.51.100.7"
