"""Idempotency-Key on every API POST (S19).

The first request with a key inserts a row (the unique constraint makes it the only
one); its answer is stored and replayed to every retry with the same key and body. A
retry with another body is refused with 422; one that arrives while the first is still
running waits for it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from guanxi.core.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
WAIT_SECONDS = 30.0


def _principal(request: HttpRequest) -> str | None:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth.lower().startswith("bearer "):
        return "t:" + hashlib.sha256(auth[7:].strip().encode()).hexdigest()[:40]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"u:{user.pk}"
    return None


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "errors": {}}, status=status)


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get(HEADER)
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return self.get_response(request)
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)  # the API answers 401 itself
        if len(key) > 200:
            return _error(422, "invalid", _("The Idempotency-Key header is too long (at most 200 characters)."))
        body_hash = hashlib.sha256(request.body).hexdigest()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(principal=principal, key=key, method=request.method,
                                                          path=request.path, body_hash=body_hash)
        except IntegrityError:
            return self._replay(principal, key, body_hash, request.path)
        try:
            response = self.get_response(request)
        except Exception:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or getattr(response, "streaming", False):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()  # let the client retry
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status=response.status_code, response=response.content,
            content_type=response.get("Content-Type", "application/json"))
        return response

    def _replay(self, principal: str, key: str, body_hash: str, path: str) -> HttpResponse:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
            if record is None:
                return _error(409, "conflict", _("A request with this Idempotency-Key failed; retry it."))
            if record.body_hash != body_hash or record.path != path:
                return _error(422, "idempotency_mismatch",
                              _("This Idempotency-Key was already used for a different request."))
            if record.status is not None:
                response = HttpResponse(bytes(record.response or b""), status=record.status,
                                        content_type=record.content_type)
                response["Idempotent-Replayed"] = "true"
                return response
            if time.monotonic() > deadline:
                return _error(409, "conflict", _("A request with this Idempotency-Key is still being processed."))
            time.sleep(0.05)
