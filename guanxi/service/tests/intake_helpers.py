"""Helpers of the intake tests: uploads of every kind, a feedback form, a valid public submission."""

from __future__ import annotations

import time
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from guanxi.service.models import FeedbackForm

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def feedback_form(responder: Any, **fields: Any) -> FeedbackForm:
    """A form as the configuration pages leave it (the first is the default)."""
    fields.setdefault("slug", "main")
    fields.setdefault("title", "意见与投诉")
    fields.setdefault("is_default", not FeedbackForm.objects.filter(is_default=True).exists())
    return FeedbackForm.objects.create(responder=responder, **fields)


def old_token(form: FeedbackForm, seconds: float = 60) -> str:
    """A stamp as if the form had been opened ``seconds`` ago (no sleeping in tests)."""
    from guanxi.service.views.intake import form_token

    return form_token(form, issued_at=time.time() - seconds)


def submission(form: FeedbackForm, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "complaint", "title": "设备异响", "description": "新买的设备运行时有很大的异响。", "product": "",
        "order_number": "", "name": "李先生", "company": "", "phone": "13900001111", "email": "",
        "wants_reply": "on", "website": "", "token": old_token(form),
    }
    data.update(fields)
    return data
