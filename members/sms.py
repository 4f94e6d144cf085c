"""Sending text messages through a pluggable backend, chosen by ``settings.SMS_BACKEND``.

A backend is a class with ``send_messages(messages) -> int``. The default writes each
message to the log (the embedded set-up has no SMS gateway); ``LocmemBackend`` keeps them
in ``members.sms.outbox`` for tests. A real gateway is one more small class.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("members.sms")

DEFAULT_BACKEND = "members.sms.ConsoleBackend"

outbox: list[SmsMessage] = []


@dataclass(frozen=True)
class SmsMessage:
    """One text message to one phone number (E.164)."""

    to: str
    body: str


class BaseBackend:
    """Base of SMS backends: subclasses deliver a list of messages."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    """Write each message to the log instead of sending it."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        for message in messages:
            logger.info("SMS to %s: %s", message.to, message.body)
        return len(messages)


class LocmemBackend(BaseBackend):
    """Keep messages in ``members.sms.outbox`` (for tests)."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        outbox.extend(messages)
        return len(messages)


def get_backend() -> BaseBackend:
    """Return an instance of the configured backend."""
    return import_string(getattr(settings, "SMS_BACKEND", DEFAULT_BACKEND))()


def sms_send(*, to: str, body: str) -> int:
    """Send one text message through the configured backend; return how many were sent."""
    return get_backend().send_messages([SmsMessage(to=to, body=body)])
