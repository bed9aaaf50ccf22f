"""HTML views: categories, SLA policies, business hours, holidays, the SLA sweep and its desk panel."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
