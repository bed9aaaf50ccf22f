"""The kanban board's column figures (``BoardFigures``): recounted, never incremented.

A deal counts on the board at its *place*: (pipeline, stage, owner, state, close day; open
deals share ``BoardFigures.OPEN_DAY``, closed ones without a date ``NO_DAY``), if it and its
account are alive. Every service that
changes a deal — create, edit, move, delete, restore, lead conversion — and every change of
an account's life (delete, restore, merge and its undo) calls :func:`refresh` with the places
the deal was in and is in, inside its own transaction. :func:`refresh` takes the places' rows
first (an upsert that locks them: two writers of the same place queue up, and the second one
counts after the first committed), then counts the place's deals again and writes the sums.

:func:`rebuild` recounts everything (``guanxi sales_recount``, the nightly sales job, the
demo and the migration that introduced the table).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Q

from guanxi.customers.services import register_account_listener
from guanxi.customers.services.merge import register_merge_listener
from guanxi.sales.models import BoardFigures, Opportunity

Place = tuple[int, int, int, str, dt.date]  # pipeline, stage, owner, state, day
ZERO = Decimal("0")
HUNDRED = Decimal(100)
_KEY = ("pipeline_id", "stage_id", "owner_id", "state", "closed_on")
_VALUES = ("amount", "rate_to_cny", "probability")


def place(pipeline_id: int, stage_id: int, owner_id: int, state: str, closed_on: dt.date | None) -> Place:
    """Where a deal with these values counts on the board."""
    if state == Opportunity.State.OPEN:
        return (pipeline_id, stage_id, owner_id, state, BoardFigures.OPEN_DAY)
    return (pipeline_id, stage_id, owner_id, state, closed_on or BoardFigures.NO_DAY)


def _figures(rows: Iterable[tuple[Any, ...]]) -> dict[Place, list[Any]]:
    """{place: [count, amount CNY, weighted CNY]} of (pipeline, stage, owner, state, closed_on,
    amount, rate, probability) rows, in exact decimals."""
    out: dict[Place, list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    for pipeline_id, stage_id, owner_id, state, closed_on, amount, rate, probability in rows:
        sums = out[place(pipeline_id, stage_id, owner_id, state, closed_on)]
        in_cny = Decimal(amount) * Decimal(rate)
        sums[0] += 1
        sums[1] += in_cny
        sums[2] += in_cny * int(probability) / HUNDRED
    return out


def _where(places: Iterable[Place]) -> Q:
    q = Q(pk__in=[])
    for pipeline_id, stage_id, owner_id, state, day in places:
        one = Q(pipeline_id=pipeline_id, stage_id=stage_id, owner_id=owner_id, state=state)
        if state != Opportunity.State.OPEN:
            one &= (Q(closed_on__isnull=True) | Q(closed_on=day)) if day == BoardFigures.NO_DAY else Q(closed_on=day)
        q |= one
    return q


def _live_deals() -> Any:
    return Opportunity.all_objects.filter(deleted_at__isnull=True, account__deleted_at__isnull=True)


def refresh(places: Iterable[Place | None]) -> None:
    """Recount the board figures of ``places`` (call inside the writing transaction)."""
    wanted = sorted({p for p in places if p is not None})
    if not wanted:
        return
    with transaction.atomic(savepoint=False):  # the caller's transaction, if any: the locks last until it ends
        # Create the missing rows and lock all of them, in one order (no two writers deadlock).
        BoardFigures.objects.bulk_create(
            [BoardFigures(pipeline_id=p[0], stage_id=p[1], owner_id=p[2], state=p[3], closed_on=p[4]) for p in wanted],
            update_conflicts=True, unique_fields=["pipeline", "closed_on", "stage", "owner", "state"],
            update_fields=["count"])
        # After the lock, a new statement: it sees what an earlier writer of these places committed.
        counted = _figures(_live_deals().filter(_where(wanted)).values_list(*_KEY, *_VALUES))
        empty: list[Q] = []
        for p in wanted:
            key = Q(pipeline_id=p[0], stage_id=p[1], owner_id=p[2], state=p[3], closed_on=p[4])
            sums = counted.get(p)
            if sums is None:
                empty.append(key)
            else:
                BoardFigures.objects.filter(key).update(count=sums[0], amount=sums[1], weighted=sums[2])
        if empty:
            q = Q(pk__in=[])
            for key in empty:
                q |= key
            BoardFigures.objects.filter(q).delete()


def place_now(deal_id: int) -> Place | None:
    """The place of a deal as the database has it now (None: no such deal)."""
    row = Opportunity.all_objects.filter(pk=deal_id).values_list(*_KEY).first()
    return place(*row) if row else None


def refresh_deal(deal: Opportunity) -> None:
    """Recount where ``deal`` was when it was read and where it is now."""
    places = [place_now(deal.pk)]
    if deal.board_loaded is not None:
        places.append(place(*deal.board_loaded))
    refresh(places)


def refresh_accounts(account_ids: Iterable[int | None]) -> None:
    """Recount every place of the deals of these accounts (an account was deleted, restored or merged)."""
    ids = {pk for pk in account_ids if pk}
    if not ids:
        return
    rows = (Opportunity.all_objects.filter(account_id__in=ids, deleted_at__isnull=True)
            .values_list(*_KEY).distinct())
    refresh(place(*row) for row in rows)


def _as_stored(field: str) -> Any:
    """A function giving a figure as the ``BoardFigures`` column ``field`` gives it back: rounded
    to the column's places (PostgreSQL, exact), through a float of 15 significant digits on SQLite."""
    column = BoardFigures._meta.get_field(field)
    assert isinstance(column, models.DecimalField)
    places = Decimal(1).scaleb(-column.decimal_places)
    if connection.vendor == "sqlite":  # what Django's SQLite converter does with the stored float
        digits = decimal.Context(prec=15)
        return lambda value: digits.create_decimal_from_float(float(value)).quantize(places, context=column.context)
    return lambda value: value.quantize(places, rounding=ROUND_HALF_UP)  # numeric rounds half away from zero


@transaction.atomic
def rebuild() -> int:
    """Recount every row from the deals (the repair) and write what differs: places that got
    deals, figures that changed, places without deals any more. Returns the number of places
    with deals (the rows there are afterwards).

    A night without drift reads the deals and the rows and writes nothing (rewriting all of
    them took most of the nightly sales job at size M)."""
    counted = _figures(_live_deals().order_by().values_list(*_KEY, *_VALUES).iterator(chunk_size=5000))
    stored: dict[Place, tuple[int, int, Decimal, Decimal]] = {}
    for pk, pipeline_id, stage_id, owner_id, state, closed_on, count, amount, weighted in (
            BoardFigures.objects.order_by().values_list("pk", *_KEY, "count", "amount", "weighted")
            .iterator(chunk_size=5000)):
        stored[(pipeline_id, stage_id, owner_id, state, closed_on)] = (pk, count, amount, weighted)
    as_amount, as_weighted = _as_stored("amount"), _as_stored("weighted")
    new: list[BoardFigures] = []
    changed: list[BoardFigures] = []
    for p, (count, amount, weighted) in counted.items():
        old = stored.get(p)
        if old is not None and (old[1], old[2], old[3]) == (count, as_amount(amount), as_weighted(weighted)):
            continue
        row = BoardFigures(pipeline_id=p[0], stage_id=p[1], owner_id=p[2], state=p[3], closed_on=p[4], count=count,
                           amount=amount, weighted=weighted)
        if old is None:
            new.append(row)
        else:
            row.pk = old[0]
            changed.append(row)
    gone = [old[0] for p, old in stored.items() if p not in counted]
    for start in range(0, len(gone), 500):
        BoardFigures.objects.filter(pk__in=gone[start:start + 500]).delete()
    BoardFigures.objects.bulk_create(new, batch_size=2000)
    _update_figures(changed)
    return len(counted)


def _update_figures(rows: list[BoardFigures]) -> None:
    """One plain UPDATE per row, sent as one batch (the ORM's bulk_update builds a CASE per column)."""
    if not rows:
        return
    names = ("count", "amount", "weighted")  # field names are the column names
    fields = [f for f in (BoardFigures._meta.get_field(name) for name in names) if isinstance(f, models.Field)]
    params = [[f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.pk] for row in rows]
    table = connection.ops.quote_name(BoardFigures._meta.db_table)
    sets = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in names)
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", params)  # noqa: S608 (names from the model)


def differences() -> list[tuple[Place, Any, Any]]:
    """(place, stored, counted) wherever the stored figures differ from a recount (a check)."""
    counted = {p: (s[0], s[1].quantize(Decimal("0.01")), s[2].quantize(Decimal("0.01")))
               for p, s in _figures(_live_deals().order_by().values_list(*_KEY, *_VALUES)).items()}
    stored = {(r.pipeline_id, r.stage_id, r.owner_id, r.state, r.closed_on):
              (r.count, Decimal(r.amount).quantize(Decimal("0.01")), Decimal(r.weighted).quantize(Decimal("0.01")))
              for r in BoardFigures.objects.filter(count__gt=0)}
    return [(p, stored.get(p), counted.get(p)) for p in sorted(set(counted) | set(stored))
            if stored.get(p) != counted.get(p)]


def _after_account(account: Any) -> None:
    refresh_accounts([account.pk])


def _after_merge(kept: Any, merged: Any) -> None:
    refresh_accounts([getattr(kept, "pk", None), getattr(merged, "pk", None)])


register_account_listener(_after_account)
register_merge_listener(_after_merge)
