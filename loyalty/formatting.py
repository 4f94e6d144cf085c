"""Locale-aware formatting of money and points, for labels that the engine and pages show."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, format_decimal
from django.utils.translation import get_language, to_locale


def _locale() -> str:
    return to_locale(get_language() or "en")


def money(amount: Decimal | int | str, currency: str) -> str:
    """Return ``amount`` formatted in ``currency`` for the active language, e.g. '12,50 €'."""
    try:
        return format_currency(Decimal(amount), currency, locale=_locale())
    except Exception:  # an unknown currency code or locale falls back to a plain rendering
        return f"{Decimal(amount):.2f} {currency}"


def number(value: Decimal | int) -> str:
    """Return ``value`` formatted for the active language (grouping, decimal sign)."""
    try:
        # Every digit counts (a rate of 0.0025 must not read as 0.002).
        return format_decimal(value, locale=_locale(), decimal_quantization=False)
    except Exception:
        return str(value)
