"""Shared by the pipeline tests: the standard stages by name and a quick way to open deals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from guanxi.sales.models import Opportunity, Pipeline, Stage
from guanxi.sales.services import board
from guanxi.sales.services import pipeline as services


def stages(pipeline: Pipeline | None = None) -> dict[str, Stage]:
    """The stages of a pipeline (default: the default one) by name."""
    pipeline = pipeline or services.default_pipeline()
    return {s.name: s for s in Stage.objects.filter(pipeline=pipeline)}


def deal(actor: Any, account: Any, name: str = "数控机床项目", amount: str = "100000", **fields: Any) -> Opportunity:
    return services.opportunity_create(actor=actor, account=account, name=name, amount=amount, **fields)


def bulk_deals(owner: Any, account: Any, stage: Stage, n: int, *, amount: str = "1000",
               state: str = Opportunity.State.OPEN, closed_on: dt.date | None = None,
               expected_close: dt.date | None = None, prefix: str = "批量") -> list[Opportunity]:
    """Many deals at once, straight into the table (for sizes and query counts, not behaviour);
    the board's figures are rebuilt after them, as after the demo's bulk load."""
    start = Opportunity.all_objects.count()
    rows = [Opportunity(code=f"T-{prefix}-{start + i}", name=f"{prefix}{i}", account=account, pipeline=stage.pipeline,
                        stage=stage, state=state, probability=stage.probability, amount=Decimal(amount),
                        owner=owner, department=owner.department, rank=i, closed_on=closed_on,
                        expected_close=expected_close or timezone.localdate())
            for i in range(n)]
    made = Opportunity.objects.bulk_create(rows)
    board.rebuild()
    return made
