"""Read replicas for reports.

With ``DATABASE_REPLICA_URL`` set, settings add a ``replica`` database and this router.
Ordinary reads and every write stay on the primary (a page must see what it just wrote);
only code that opts in reads from the replica::

    from loyalty.db_routers import reads_from_replica

    with reads_from_replica():
        rows = list(report_queryset)

Report views and selectors (settlements, exports, statistics) wrap their reads this way:
a replica lags the primary by a moment, which a report can accept and a ledger write
cannot. Without a replica configured the block reads from the primary, so the same code
runs in the embedded default and in tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

REPLICA = "replica"

_use_replica: ContextVar[bool] = ContextVar("loyalty_use_replica", default=False)


@contextmanager
def reads_from_replica() -> Iterator[None]:
    """Send the ORM reads made inside the block to the read replica, if one is configured."""
    token = _use_replica.set(True)
    try:
        yield
    finally:
        _use_replica.reset(token)


class ReportReplicaRouter:
    """Route reads inside ``reads_from_replica()`` to the replica; leave the rest to Django."""

    def db_for_read(self, model, **hints):
        if _use_replica.get() and REPLICA in settings.DATABASES:
            return REPLICA
        return None  # Django's default: the primary (or the instance's own database)

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the same rows as the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica follows the primary through PostgreSQL replication, never migrate.
        return False if db == REPLICA else None
