"""Member identifiers: phone normalisation, card numbers with a check digit, QR tokens."""

from __future__ import annotations

import re
import secrets

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from loyalty import errors

CARD_NUMBER_LENGTH = 12
_SEPARATORS = re.compile(r"[\s\-./()]")


def luhn_check_digit(digits: str) -> str:
    """Return the Luhn check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def card_number_is_valid(value: str) -> bool:
    """Return whether ``value`` (separators allowed) is a well-formed card number."""
    digits = _SEPARATORS.sub("", value or "")
    return (
        len(digits) == CARD_NUMBER_LENGTH
        and digits.isdigit()
        and digits[0] != "0"
        and luhn_check_digit(digits[:-1]) == digits[-1]
    )


def card_number_normalize(value: str) -> str:
    return _SEPARATORS.sub("", value or "")


def card_number_generate() -> str:
    """Return a random card number: 11 random digits (no leading zero) and a check digit.

    Random rather than sequential, so a number cannot be guessed from another.
    """
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(CARD_NUMBER_LENGTH - 2)
    )
    return body + luhn_check_digit(body)


def qr_token_generate() -> str:
    """Return a new random QR token (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def phone_normalize(raw: str, *, region: str) -> str:
    """Return ``raw`` in E.164 (+358401234567) or raise ``InvalidPhone``.

    Accepts the common notations: +358 40 123 4567, 0401234567 (national, read with the
    programme's default country), 00358401234567, with spaces, dashes, dots or brackets.
    """
    text = (raw or "").strip()
    if not text:
        raise errors.InvalidPhone(field="phone")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region.upper() or None)
    except phonenumbers.NumberParseException:
        raise errors.InvalidPhone(field="phone") from None
    if not phonenumbers.is_valid_number(parsed):
        raise errors.InvalidPhone(field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_looks_like(raw: str) -> bool:
    """Return whether ``raw`` looks like a phone number (digits and separators, +/00 prefix)."""
    return bool(re.fullmatch(r"\+?[\d\s\-./()]{6,24}", (raw or "").strip()))


def email_normalize(raw: str) -> str:
    """Return ``raw`` stripped and lower-cased, or raise ``InvalidEmail``.

    Emails are stored lower-case so that uniqueness and look-ups are case-insensitive and
    use a plain index.
    """
    text = (raw or "").strip().lower()
    try:
        validate_email(text)
    except ValidationError:
        raise errors.InvalidEmail(field="email") from None
    if len(text) > 254:
        raise errors.InvalidEmail(_("This email address is too long."), field="email")
    return text
