"""Helpers shared by the admin modules: a paginator for big tables and domain-error handling."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property

from loyalty.errors import LoyaltyError


def table_row_estimate(model, *, using: str = "default") -> int | None:
    """Return the PostgreSQL planner's row estimate for ``model``'s table, or None.

    ``pg_class.reltuples`` is kept up to date by autovacuum/ANALYZE; it is -1 for a table
    that was never analysed, which reads here as "unknown".
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator):
    """Paginate without ``COUNT(*)`` over a whole big table.

    An unfiltered queryset on PostgreSQL is counted from the planner's estimate when the
    table is larger than ``exact_below`` rows: counting ten million ledger rows on every
    page load costs seconds, and nobody needs the exact figure to page through them.
    Filtered querysets, small tables and other databases get the exact count.
    """

    exact_below = 10_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and self._is_whole_table(qs):
            estimate = table_row_estimate(qs.model, using=qs.db)
            if estimate is not None and estimate >= self.exact_below:
                return estimate
        return super().count

    @staticmethod
    def _is_whole_table(qs: QuerySet) -> bool:
        query = qs.query
        return (
            not query.where
            and not query.distinct
            and not query.combinator
            and query.low_mark == 0
            and query.high_mark is None
        )


def service_error_to_form(
    form: forms.Form, error: LoyaltyError, *, default_field: str | None = None
) -> None:
    """Show a domain error on the form field it concerns (or on the whole form)."""
    field = error.field if error.field in form.fields else default_field
    if field not in form.fields:
        field = None
    form.add_error(field, error.detail)


def loyalty_errors_as_messages(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Turn a ``LoyaltyError`` escaping an admin view into an error message and a redirect.

    The admin wraps saving in ``transaction.atomic``, so by the time the error arrives here
    the write has been rolled back: the user sees why, and nothing was half-saved.
    """

    @wraps(view)
    def wrapper(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(self, request, *args, **kwargs)
        except LoyaltyError as error:
            messages.error(request, error.detail)
            # Back to the form after a failed POST; a GET that fails would fail again there.
            target = request.get_full_path() if request.method == "POST" else reverse("admin:index")
            return HttpResponseRedirect(target)

    return wrapper
