"""HTML views: service reports and the survey dashboard."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
