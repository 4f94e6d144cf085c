import pytest
from django.db import transaction

from loyalty import errors
from loyalty.models import Event, WebhookSubscription
from loyalty.services import (
    _dispatch_after_commit,
    event_dispatch_pending,
    points_credit,
    points_debit,
)
from members.tests.factories import MemberFactory


@pytest.fixture
def subscriber(db):
    return WebhookSubscription.objects.create(
        name="shop", url="https://shop.example.com/hooks", secret="whsec_test"
    )


def test_events_are_dispatched_once_after_the_transaction_commits(
    program, subscriber, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        member = MemberFactory()
        points_credit(member=member, points=10, reason="goodwill")
        points_credit(member=member, points=5, reason="goodwill")
        assert not Event.objects.filter(dispatched_at__isnull=False).exists()

    # one dispatch for the whole transaction, and it delivered every event
    assert callbacks.count(_dispatch_after_commit) == 1
    assert Event.objects.filter(type="points.earned").count() == 2
    assert Event.objects.filter(type="member.enrolled", member=member).exists()
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_a_failed_write_leaves_no_event_and_dispatches_nothing(
    program, django_capture_on_commit_callbacks
):
    member = MemberFactory()
    before = Event.objects.count()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(errors.InsufficientPoints),
    ):
        points_debit(member=member, points=10, reason="too much")

    assert Event.objects.count() == before
    assert callbacks == []


def test_event_records_who_and_what(member, manager_user):
    from loyalty.services import points_adjust

    points_adjust(member=member, points=25, reason="Coffee spilled", actor=manager_user)

    event = Event.objects.filter(type="points.adjusted").get()
    assert event.actor == manager_user
    assert event.member == member
    assert event.payload["points"] == 25
    assert event.payload["reason"] == "Coffee spilled"
    assert event.payload["balance"] == 25


def test_without_subscribers_nothing_is_queued_and_the_periodic_job_hands_events_over(
    program, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        member = MemberFactory()
        points_credit(member=member, points=10, reason="goodwill")

    assert callbacks == []
    assert Event.objects.filter(member=member, dispatched_at__isnull=True).count() == 2

    assert event_dispatch_pending() >= 2
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
