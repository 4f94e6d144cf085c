"""Voucher codes and their QR images.

Codes are 10 characters drawn with ``secrets`` from an alphabet without look-alikes (no 0/O,
1/I/L): about 49 bits, so a code cannot be guessed or derived from another. Shown as
ABCDE-FGHJK; typed or scanned codes are read case-insensitively, with or without the dash.
"""

from __future__ import annotations

import re
import secrets

import segno

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10
_NOISE = re.compile(r"[\s\-_.]")


def voucher_code_generate() -> str:
    """Return a new random voucher code."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def voucher_code_normalize(raw: str) -> str:
    """Return the code as stored: upper case, without spaces or dashes."""
    # A scanner or a JSON client may hand over a number; read it as the text it shows.
    return _NOISE.sub("", str(raw or "").strip()).upper()


def voucher_code_is_wellformed(code: str) -> bool:
    return len(code) == LENGTH and all(ch in ALPHABET for ch in code)


def qr_svg(data: str, *, scale: int = 5) -> str:
    """Return an inline SVG QR code (no XML declaration) for ``data`` that scales.

    The viewBox is in modules, so CSS can make the code any size without cutting it off;
    ``width`` and ``height`` give it ``scale`` pixels per module where no CSS sizes it.
    """
    # Never a Micro QR (segno.make picks one for short data such as a voucher code): phone
    # cameras and many till scanners cannot read them.
    qr = segno.make_qr(data, error="m")
    width, height = qr.symbol_size(scale=scale, border=2)
    svg = qr.svg_inline(border=2, omitsize=True)
    return svg.replace("<svg ", f'<svg width="{width}" height="{height}" ', 1)
