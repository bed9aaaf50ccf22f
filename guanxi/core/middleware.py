"""Request middleware: per-user language, deactivated users, request origin for audit."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from guanxi.core import context


def client_ip(request: HttpRequest) -> str | None:
    # Behind the documented reverse proxy the real address arrives in X-Forwarded-For;
    # only trusted when the deployment says a proxy is in front (GUANXI_BEHIND_PROXY). The
    # last entry is the one our proxy wrote: whatever a client put before it is its own say.
    if getattr(settings, "GUANXI_BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR")


class UserLanguageMiddleware:
    """Chinese by default; a signed-in user's own choice, else the language cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or settings.LANGUAGE_CODE
        accept = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
        if request.path.startswith("/api/") and accept:
            language = "en" if accept.lower().startswith("en") else "zh-hans"
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language  # type: ignore[attr-defined]
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language() or language)
        return response


class ActiveUserMiddleware:
    """After authentication: switch to the user's language; end a deactivated user's session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if not user.is_active:
                logout(request)
            elif not request.path.startswith("/api/") or not request.META.get("HTTP_ACCEPT_LANGUAGE"):
                translation.activate(user.language)
                request.LANGUAGE_CODE = user.language  # type: ignore[attr-defined]
        return self.get_response(request)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        channel = "api" if request.path.startswith("/api/") else "web"
        with context.origin(client_ip(request), channel):
            return self.get_response(request)


class ServiceErrorMiddleware:
    """Turn a service error escaping an HTML view into the 403/404/409/422 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.shortcuts import render

        from guanxi.core.errors import ServiceError

        if not isinstance(exception, ServiceError):
            return None
        template = {403: "403.html", 404: "404.html"}.get(exception.status, "error.html")
        return render(request, template, {"message": exception.message}, status=exception.status)
