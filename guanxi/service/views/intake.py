"""HTML views: the public form /feedback/ (and variants), QR codes, hotline quick entry, comment-card batch entry,
feedback-form configuration.
"""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
# Routes outside /service/ that need no login (served below /feedback/).
public_urlpatterns: list[URLPattern] = []
