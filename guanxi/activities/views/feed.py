"""HTML views of contact and follow-up: feed."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
