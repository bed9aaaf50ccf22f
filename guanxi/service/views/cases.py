"""HTML views: case list and detail, workflow, handling steps, reply review, hand-overs, customer confirmation, account
tab, desk panels.
"""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
