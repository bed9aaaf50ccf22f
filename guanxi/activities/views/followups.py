"""HTML views of contact and follow-up: followups."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
