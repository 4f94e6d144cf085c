"""Member messages: the one service every part of the platform calls to tell a member something.

(Being built: the messaging work replaces this module's body; the signature is fixed.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def message_send(
    *,
    member: Any,
    type_code: str,
    context: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    channels: Sequence[str] | None = None,
    at: datetime | None = None,
    broadcast: Any = None,
) -> list[Any]:
    """Queue message ``type_code`` for ``member`` on the allowed channels; return log rows."""
    return []
