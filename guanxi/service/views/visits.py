"""HTML views: field visits (service tickets) and product improvements."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
