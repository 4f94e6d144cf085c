"""Template filters for money, formatted for the active language."""

from __future__ import annotations

from django import template

from loyalty.formatting import money as format_money

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    """Return ``amount`` in ``currency`` for the active language; empty for no amount."""
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency)
