"""The service demo on an empty database: an interrupted build resumes where it stopped and ends
as a whole one does (kept apart from test_demo.py, whose module-wide demo company fills the
database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from guanxi.core.models import CodeSequence
from guanxi.demo import build_demo
from guanxi.loyalty.models import Invitation
from guanxi.service import demo as service_demo
from guanxi.service.models import Case, CaseEvent

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def test_an_interrupted_build_resumes_where_it_stopped(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_demo, "BATCH", 150)
    real = service_demo.build_service

    def interrupted(**kwargs: Any) -> bool:
        return real(**kwargs, max_batches=1)

    monkeypatch.setattr(service_demo, "build_service", interrupted)
    build_demo("S", now=NOW)  # the company, its sales, then the first 150 cases only
    assert CodeSequence.objects.get(name=service_demo.MARKER).value == 150
    assert Case.objects.count() == 150
    assert not CodeSequence.objects.filter(name=service_demo.DONE).exists()
    assert not Invitation.objects.exists()  # the surveys wait for the whole year of service

    monkeypatch.setattr(service_demo, "build_service", real)
    assert build_demo("S", now=NOW)["created"] is True
    total = Case.objects.count()
    assert service_demo.CASES["S"] < total <= service_demo.CASES["S"] + 40
    codes = list(Case.objects.order_by("id").values_list("code", flat=True))
    assert [int(code.rsplit("-", 1)[1]) for code in codes] == list(range(1, total + 1))
    assert CaseEvent.objects.filter(type="received").count() == total
    assert Invitation.objects.exists()
    assert build_demo("S", now=NOW)["created"] is False
