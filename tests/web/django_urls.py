"""The URLconf of the Django test application (tests/web/test_wsgi.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def user(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(f"user {pk}")


def items(request: HttpRequest) -> HttpResponse:
    return HttpResponse("items")


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


api = [path("items/", items)]

urlpatterns = [
    path("", home),
    path("users/<int:pk>/", user),
    path("api/v1/", include(api)),
    path("boom/", boom),
]
