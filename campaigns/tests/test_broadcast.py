"""Broadcasts: a marketing message to a segment, with a preview, a test send and a safe re-run."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse

from campaigns.messaging import (
    BroadcastEmptySegment,
    BroadcastNotDraft,
    broadcast_count,
    broadcast_preview,
    broadcast_run,
    broadcast_send,
    broadcast_test_send,
    message_type_get,
)
from campaigns.models import Broadcast, MessageLog, MessagingSettings, Segment
from loyalty.models import Source
from members.services import member_consent_set, member_preferences_update
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    # No quiet hours: delivery is immediate whatever time the test runs.
    config = MessagingSettings.get()
    config.quiet_hours_start = config.quiet_hours_end = dt.time(0, 0)
    config.save()


@pytest.fixture
def members(program):
    """Three members: two agreed to email (one of them wants no marketing), one did not."""
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    for m in (a, b):
        member_consent_set(member=m, channel="email", granted=True, source=Source.PORTAL)
    member_preferences_update(member=b, message_frequency="never")
    return a, b, c


@pytest.fixture
def broadcast(members, manager_user):
    return Broadcast.objects.create(
        name="Spring",
        message_type=message_type_get("broadcast"),
        segment=Segment.objects.create(name="Everyone"),
        email=True,
        sms=False,
        inbox=True,
        created_by=manager_user,
    )


def test_preview_counts_segment_and_reachable_members(broadcast):
    preview = broadcast_preview(broadcast=broadcast)

    assert preview.members == 3
    assert preview.email == 1  # consent, and not "never"
    assert preview.sms == 0  # the broadcast does not use SMS
    assert preview.inbox == 2  # everyone but "never"


def test_send_reaches_the_segment_and_a_rerun_sends_nothing_twice(
    broadcast, members, django_capture_on_commit_callbacks
):
    a, _b, _c = members
    with django_capture_on_commit_callbacks(execute=True):
        broadcast_send(broadcast=broadcast)

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert [m.to for m in mail.outbox] == [[a.email]]
    assert broadcast.recipients == 3
    # Counted when the run ended: a's email was still on its way then.
    assert broadcast.sent_count + broadcast.queued_count == 3  # a's email, a's and c's inbox
    broadcast_count(broadcast=broadcast)
    assert broadcast.sent_count == 3
    assert broadcast.suppressed_count == 3  # b never (email, inbox), c no consent
    logs = MessageLog.objects.filter(broadcast=broadcast)
    assert set(logs.values_list("dedupe_key", flat=True)) == {f"broadcast:{broadcast.pk}"}

    with django_capture_on_commit_callbacks(execute=True):
        broadcast_run(broadcast_id=broadcast.pk)

    assert len(mail.outbox) == 1
    assert MessageLog.objects.filter(broadcast=broadcast).count() == 6


def test_rerun_after_a_partial_run_sends_only_to_the_rest(
    broadcast, members, django_capture_on_commit_callbacks
):
    a, _b, _c = members
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SENDING)
    with django_capture_on_commit_callbacks(execute=True):
        broadcast_run(broadcast_id=broadcast.pk, chunk=1)
        broadcast_run(broadcast_id=broadcast.pk, chunk=2)
    assert [m.to for m in mail.outbox] == [[a.email]]


def test_empty_segment_is_a_clear_error_and_nothing_changes(broadcast):
    broadcast.segment = Segment.objects.create(name="Nobody", joined_after=dt.date(2999, 1, 1))
    broadcast.save()

    with pytest.raises(BroadcastEmptySegment):
        broadcast_send(broadcast=broadcast)

    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT
    assert not MessageLog.objects.exists()


def test_sent_broadcast_cannot_be_sent_again(broadcast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        broadcast_send(broadcast=broadcast)
    with pytest.raises(BroadcastNotDraft):
        broadcast_send(broadcast=broadcast)


def test_test_send_goes_to_the_staff_email_only(broadcast, manager_user):
    broadcast_test_send(broadcast=broadcast, user=manager_user)

    assert [m.to for m in mail.outbox] == [[manager_user.email]]
    assert mail.outbox[0].subject.startswith("[Test]")
    assert not MessageLog.objects.exists()


# Through the admin, as a manager ---------------------------------------------------------


def test_admin_change_page_shows_the_audience(staff_roles, manager_client, broadcast):
    page = manager_client.get(reverse("admin:campaigns_broadcast_change", args=[broadcast.pk]))

    html = page.content.decode()
    assert "3 members in the segment" in html
    assert "Send test to me" in html


def test_admin_test_send_and_send_with_confirmation(
    staff_roles,
    manager_client,
    manager_user,
    broadcast,
    members,
    django_capture_on_commit_callbacks,
):
    test = manager_client.post(reverse("admin:campaigns_broadcast_test", args=[broadcast.pk]))
    assert test.status_code == 302
    assert [m.to for m in mail.outbox] == [[manager_user.email]]

    confirm = manager_client.get(reverse("admin:campaigns_broadcast_send", args=[broadcast.pk]))
    assert confirm.status_code == 200
    assert "Send now" in confirm.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT  # the GET only asks

    with django_capture_on_commit_callbacks(execute=True):
        sent = manager_client.post(reverse("admin:campaigns_broadcast_send", args=[broadcast.pk]))
    assert sent.status_code == 302
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    assert len(mail.outbox) == 2


def test_admin_send_to_empty_segment_shows_the_error(staff_roles, manager_client, broadcast):
    broadcast.segment = Segment.objects.create(name="Nobody", joined_after=dt.date(2999, 1, 1))
    broadcast.save()

    response = manager_client.post(
        reverse("admin:campaigns_broadcast_send", args=[broadcast.pk]), follow=True
    )

    assert "The segment has no members" in response.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT


def test_admin_test_send_without_staff_email_is_a_clear_error(
    staff_roles, manager_client, manager_user, broadcast
):
    manager_user.email = ""
    manager_user.save()

    response = manager_client.post(
        reverse("admin:campaigns_broadcast_test", args=[broadcast.pk]), follow=True
    )

    assert "no email address" in response.content.decode()
    assert mail.outbox == []


def test_admin_can_create_a_draft(staff_roles, manager_client, members):
    segment = Segment.objects.create(name="All")
    response = manager_client.post(
        reverse("admin:campaigns_broadcast_add"),
        {
            "name": "Autumn",
            "message_type": message_type_get("broadcast").pk,
            "segment": segment.pk,
            "email": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Broadcast.objects.get(name="Autumn").status == Broadcast.Status.DRAFT


def test_cashier_cannot_send(staff_roles, cashier_client, broadcast):
    response = cashier_client.post(reverse("admin:campaigns_broadcast_send", args=[broadcast.pk]))
    assert response.status_code == 403
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.DRAFT


def test_admin_shows_current_counts_of_a_sent_broadcast(
    staff_roles, manager_client, broadcast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        broadcast_send(broadcast=broadcast)
    Broadcast.objects.filter(pk=broadcast.pk).update(sent_count=0)

    page = manager_client.get(reverse("admin:campaigns_broadcast_change", args=[broadcast.pk]))

    assert page.status_code == 200
    assert "Send test to me" not in page.content.decode()
    broadcast.refresh_from_db()
    assert broadcast.sent_count == 3
