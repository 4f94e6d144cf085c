"""Real threads on PostgreSQL: the dedupe constraint and the frequency cap hold under races."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.messaging import message_send
from campaigns.models import MessageLog, MessagingSettings
from loyalty.models import Program, Source
from loyalty.tests.test_concurrency import run_together
from members.services import member_consent_set, member_preferences_update
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _setup(settings, transactional_db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    Program.objects.get_or_create(pk=1)
    config = MessagingSettings.get()
    config.quiet_hours_start = config.quiet_hours_end = dt.time(0, 0)
    config.save()


def test_same_dedupe_key_from_many_workers_logs_one_row_per_channel():
    member = MemberFactory()

    results = run_together(
        6,
        lambda i: [
            log.pk
            for log in message_send(member=member, type_code="points_expiring", dedupe_key="lot:7")
        ],
    )

    assert all(kind == "ok" for kind, _value in results), results
    assert len({tuple(sorted(value)) for _kind, value in results}) == 1
    assert MessageLog.objects.filter(dedupe_key="lot:7").count() == 3


def test_weekly_cap_lets_one_of_many_concurrent_marketing_messages_through():
    member = MemberFactory()
    member_consent_set(member=member, channel="email", granted=True, source=Source.PORTAL)
    member_preferences_update(member=member, message_frequency="weekly")
    codes = ["win_back", "near_reward", "birthday", "badge_earned", "campaign_started"]

    results = run_together(
        len(codes),
        lambda i: message_send(member=member, type_code=codes[i], channels=["email"])[0].status,
    )

    statuses = sorted(value for _kind, value in results)
    assert statuses.count("suppressed") == len(codes) - 1, results
    assert MessageLog.objects.filter(reason="frequency").count() == len(codes) - 1
