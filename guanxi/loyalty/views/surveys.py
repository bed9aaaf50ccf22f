"""HTML views: survey templates, invitations, the public answer page (/survey/<token>/) and responses."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
# Routes that need no login (served below /survey/).
public_urlpatterns: list[URLPattern] = []
