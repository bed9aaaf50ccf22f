"""Queue tasks of the customer file: importing the area modules registers their job
handlers and periodic tasks (monthly re-rating, return of idle accounts to the pool)."""

from guanxi.customers.services import classification, imports, lists, merge, pool  # noqa: F401
