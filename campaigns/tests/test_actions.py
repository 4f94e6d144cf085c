"""action_record: points for things that are not purchases, once per period or reference."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.actions import (
    ActionInactive,
    ActionLimitReached,
    ActionNotFound,
    ActionReferenceRequired,
    ActionReferenceTooLong,
    ActionSourceNotAllowed,
    action_record,
    actions_for_member,
    period_key,
    reference_clean,
)
from campaigns.models import ActionRecord, ActionType
from campaigns.tests.actions_support import ActionTypeFactory, review_action
from loyalty import errors
from loyalty.models import EntryKind, LedgerEntry, Source
from loyalty.tests.support import assert_ledger_clean, fresh, snapshot
from members.services import member_update

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Europe/Helsinki")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_recording_an_action_credits_its_points_as_a_campaign_bonus(member):
    action = ActionTypeFactory(name="Followed us on Instagram", points=30)

    record = action_record(member=member, action=action, source=Source.ADMIN)

    assert record.created is True
    assert fresh(member).balance == 30
    entry = LedgerEntry.objects.get(pk=record.entry_id)
    assert (entry.kind, entry.points, entry.source_type, entry.reason) == (
        EntryKind.BONUS,
        30,
        LedgerEntry.SourceType.CAMPAIGN,
        "Followed us on Instagram",
    )
    assert (record.points, record.source, record.period_key) == (30, Source.ADMIN, "once")
    assert_ledger_clean()


def test_the_action_can_be_given_by_its_code(member):
    ActionTypeFactory(code="app-install", points=10)

    action_record(member=member, action="app-install", source=Source.API)

    assert fresh(member).balance == 10


def test_a_once_action_recorded_again_is_refused_with_a_clear_error(member):
    action = ActionTypeFactory(name="Newsletter", limit=ActionType.Limit.ONCE)
    action_record(member=member, action=action, source=Source.ADMIN)
    before = snapshot()

    with pytest.raises(ActionLimitReached) as caught:
        action_record(member=member, action=action, source=Source.ADMIN)

    assert caught.value.code == "action_limit_reached"
    assert "Newsletter" in caught.value.detail and "once" in caught.value.detail
    assert snapshot() == before
    assert ActionRecord.objects.count() == 1


def test_a_daily_action_pays_once_a_day_in_local_time(member):
    action = ActionTypeFactory(limit=ActionType.Limit.DAILY, points=5)
    # 23:30 and 23:50 on 25 Nov in Helsinki are the same day; 00:10 is the next.
    action_record(member=member, action=action, source=Source.API, at=at(2026, 11, 25, 23, 30))
    with pytest.raises(ActionLimitReached, match="today"):
        action_record(member=member, action=action, source=Source.API, at=at(2026, 11, 25, 23, 50))
    action_record(member=member, action=action, source=Source.API, at=at(2026, 11, 26, 0, 10))

    assert sorted(ActionRecord.objects.values_list("period_key", flat=True)) == [
        "2026-11-25",
        "2026-11-26",
    ]
    assert fresh(member).balance == 10


def test_a_monthly_action_pays_once_a_month(member):
    action = ActionTypeFactory(limit=ActionType.Limit.MONTHLY, points=5)
    action_record(member=member, action=action, source=Source.API, at=at(2026, 11, 1, 9))
    with pytest.raises(ActionLimitReached, match="this month"):
        action_record(member=member, action=action, source=Source.API, at=at(2026, 11, 30, 9))
    action_record(member=member, action=action, source=Source.API, at=at(2026, 12, 1, 9))

    assert fresh(member).balance == 10


def test_the_same_reference_again_is_an_idempotent_no_op_returning_the_first_record(member):
    action = review_action(points=50)
    first = action_record(
        member=member, action=action, reference="https://g.page/r/review/1", source=Source.API
    )
    before = snapshot()

    again = action_record(
        member=member, action=action, reference="https://g.page/r/review/1", source=Source.PORTAL
    )

    assert again.created is False
    assert again.pk == first.pk
    assert snapshot() == before
    assert fresh(member).balance == 50


def test_another_reference_of_an_unlimited_action_is_paid_again(member):
    action = review_action(points=50)

    action_record(member=member, action=action, reference="https://a.example/1", source=Source.API)
    action_record(member=member, action=action, reference="https://a.example/2", source=Source.API)

    assert fresh(member).balance == 100


def test_a_link_is_recognised_with_another_case_trailing_slash_or_fragment(member):
    action = review_action()
    action_record(
        member=member, action=action, reference="https://G.Page/r/Review/1/", source=Source.API
    )

    again = action_record(
        member=member, action=action, reference=" https://g.page/r/Review/1#top ", source=Source.API
    )

    assert again.created is False
    assert reference_clean("https://G.Page/r/Review/1/") == "https://g.page/r/Review/1"


def test_a_reference_already_paid_on_a_daily_action_is_not_paid_the_next_day(member):
    action = ActionTypeFactory(limit=ActionType.Limit.DAILY, requires_reference=True)
    action_record(
        member=member, action=action, reference="post-1", source=Source.API, at=at(2026, 1, 1, 9)
    )

    again = action_record(
        member=member, action=action, reference="post-1", source=Source.API, at=at(2026, 1, 2, 9)
    )

    assert again.created is False
    assert ActionRecord.objects.count() == 1


def test_two_members_may_each_be_paid_for_the_same_reference(member):
    from members.tests.factories import MemberFactory

    other = MemberFactory()
    action = review_action()

    action_record(member=member, action=action, reference="shared-link", source=Source.API)
    action_record(member=other, action=action, reference="shared-link", source=Source.API)

    assert ActionRecord.objects.count() == 2


@pytest.mark.parametrize(
    "setup, call, error",
    [
        ({"is_active": False}, {}, ActionInactive),
        ({"recordable_by_api": False}, {"source": Source.API}, ActionSourceNotAllowed),
        ({"recordable_in_portal": False}, {"source": Source.PORTAL}, ActionSourceNotAllowed),
        ({"recordable_by_staff": False}, {"source": Source.ADMIN}, ActionSourceNotAllowed),
        ({"recordable_by_staff": False}, {"source": Source.COUNTER}, ActionSourceNotAllowed),
        ({"requires_reference": True}, {"reference": "   "}, ActionReferenceRequired),
        ({}, {"reference": "x" * 256}, ActionReferenceTooLong),
        ({}, {"source": "telepathy"}, errors.InvalidInput),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_written(member, setup, call, error):
    action = ActionTypeFactory(**setup)
    before = snapshot()

    with pytest.raises(error) as caught:
        action_record(member=member, action=action, **{"source": Source.API, **call})

    assert caught.value.detail
    assert snapshot() == before
    assert not ActionRecord.objects.exists()


def test_an_unknown_action_code_is_not_found(member):
    with pytest.raises(ActionNotFound):
        action_record(member=member, action="nope", source=Source.API)


def test_a_closed_membership_earns_nothing(member):
    action = ActionTypeFactory()
    member_update(member=member, is_active=False)

    with pytest.raises(errors.MemberInactive):
        action_record(member=member, action=action, source=Source.ADMIN)

    assert not ActionRecord.objects.exists()


def test_the_database_refuses_a_second_record_in_the_same_period(member):
    action = ActionTypeFactory()
    fields = {"action": action, "member": member, "points": 1, "source": Source.API}
    ActionRecord.objects.create(period_key="once", **fields)

    with pytest.raises(IntegrityError), transaction.atomic():
        ActionRecord.objects.create(period_key="once", **fields)


def test_the_database_refuses_a_second_record_of_one_reference(member):
    action = review_action()
    fields = {"action": action, "member": member, "points": 1, "source": Source.API}
    ActionRecord.objects.create(reference="r1", **fields)
    ActionRecord.objects.create(reference="r2", **fields)

    with pytest.raises(IntegrityError), transaction.atomic():
        ActionRecord.objects.create(reference="r1", **fields)


def test_the_database_refuses_an_unlimited_action_without_a_reference(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        ActionType.objects.create(
            code="x", name="X", points=1, limit=ActionType.Limit.PER_REFERENCE
        )


def test_period_keys():
    moment = at(2026, 11, 25, 12)
    assert period_key(limit=ActionType.Limit.ONCE, at=moment) == "once"
    assert period_key(limit=ActionType.Limit.DAILY, at=moment) == "2026-11-25"
    assert period_key(limit=ActionType.Limit.MONTHLY, at=moment) == "2026-11"
    assert period_key(limit=ActionType.Limit.PER_REFERENCE, at=moment) == ""


def test_actions_for_member_says_what_is_done_in_the_current_period(member):
    once = ActionTypeFactory(code="once")
    daily = ActionTypeFactory(code="daily", limit=ActionType.Limit.DAILY)
    review = review_action()
    ActionTypeFactory(code="staff-only", recordable_in_portal=False)
    ActionTypeFactory(code="off", is_active=False)
    action_record(member=member, action=once, source=Source.PORTAL, at=at(2026, 11, 1, 9))
    action_record(member=member, action=daily, source=Source.PORTAL, at=at(2026, 11, 1, 9))
    action_record(member=member, action=review, reference="r", source=Source.PORTAL)

    offers = {o.action.code: o for o in actions_for_member(member=member, as_of=at(2026, 11, 2, 9))}

    assert set(offers) == {"once", "daily", "google-review"}
    assert offers["once"].done and offers["once"].times == 1
    assert not offers["daily"].done and offers["daily"].times == 1
    assert not offers["google-review"].done and offers["google-review"].times == 1


# Automatic actions ---------------------------------------------------------------------------


def test_enrolment_pays_the_sign_up_action(program):
    from members.tests.factories import MemberFactory

    ActionTypeFactory(code="signup", kind=ActionType.Kind.SIGNUP, points=100)

    member = MemberFactory()

    record = ActionRecord.objects.get(member=member)
    assert (record.action.code, record.source) == ("signup", Source.SYSTEM)
    assert fresh(member).balance == 100
    assert_ledger_clean()


def test_enrolment_without_any_automatic_action_pays_nothing_more(program):
    from members.tests.factories import MemberFactory

    ActionTypeFactory(code="signup", kind=ActionType.Kind.SIGNUP, is_active=False)

    member = MemberFactory()

    assert not ActionRecord.objects.exists()
    assert fresh(member).balance == 0


def test_enrolling_with_a_complete_profile_pays_sign_up_and_profile(program):
    from members.tests.factories import MemberFactory

    ActionTypeFactory(code="signup", kind=ActionType.Kind.SIGNUP, points=100)
    ActionTypeFactory(code="profile", kind=ActionType.Kind.PROFILE_COMPLETE, points=20)

    member = MemberFactory(birth_date=date(1990, 5, 1))

    assert fresh(member).balance == 120


def test_completing_the_profile_pays_once(member):
    ActionTypeFactory(code="profile", kind=ActionType.Kind.PROFILE_COMPLETE, points=20)

    member_update(member=member, first_name="Anna")  # no birth date yet
    assert fresh(member).balance == 0
    member_update(member=member, birth_date=date(1990, 5, 1))
    assert fresh(member).balance == 20
    member_update(member=member, last_name="Other")  # still complete: paid once only
    member_update(member=member, birth_date=date(1990, 5, 2))

    assert fresh(member).balance == 20
    assert ActionRecord.objects.filter(member=member).count() == 1


def test_profile_changes_still_save_when_no_profile_action_exists(member):
    member_update(member=member, birth_date=date(1990, 5, 1))

    assert fresh(member).birth_date == date(1990, 5, 1)
    assert not ActionRecord.objects.exists()


def test_opting_in_to_marketing_email_pays_the_newsletter_action_once(member):
    from members.models import ConsentRecord
    from members.services import member_consent_set

    ActionTypeFactory(code="news", kind=ActionType.Kind.NEWSLETTER, points=15)
    email = ConsentRecord.Channel.EMAIL

    member_consent_set(
        member=member, channel=ConsentRecord.Channel.SMS, granted=True, source="admin"
    )
    assert fresh(member).balance == 0
    member_consent_set(member=member, channel=email, granted=True, source="portal")
    member_consent_set(member=member, channel=email, granted=False, source="portal")
    member_consent_set(member=member, channel=email, granted=True, source="portal")

    assert fresh(member).balance == 15
    assert ActionRecord.objects.get().action.code == "news"
    assert ConsentRecord.objects.filter(member=member, channel=email).count() == 3


def test_an_automatic_action_of_a_closed_member_is_skipped_not_an_error(member):
    from members.models import ConsentRecord
    from members.services import member_consent_set

    ActionTypeFactory(code="news", kind=ActionType.Kind.NEWSLETTER, points=15)
    member_update(member=member, is_active=False)

    member_consent_set(
        member=member, channel=ConsentRecord.Channel.EMAIL, granted=True, source="admin"
    )

    assert fresh(member).marketing_email is True
    assert not ActionRecord.objects.exists()


def test_a_timestamp_is_stored_as_given(member):
    action = ActionTypeFactory()
    moment = timezone.now().replace(microsecond=0)

    record = action_record(member=member, action=action, source=Source.API, at=moment)

    assert record.created_at == moment


def test_saving_the_portal_profile_pays_profile_and_newsletter_actions(program):
    from members.accounts import member_profile_save
    from members.tests.factories import MemberFactory

    ActionTypeFactory(code="profile", kind=ActionType.Kind.PROFILE_COMPLETE, points=20)
    ActionTypeFactory(code="news", kind=ActionType.Kind.NEWSLETTER, points=15)
    member = MemberFactory(first_name="Anna", last_name="")

    member_profile_save(
        member=member,
        first_name="Anna",
        last_name="Virtanen",
        birth_date=date(1990, 5, 1),
        language="en",
        favourite_categories=[],
        marketing_email=True,
        marketing_sms=False,
        message_frequency="any",
    )

    assert sorted(ActionRecord.objects.values_list("action__code", flat=True)) == [
        "news",
        "profile",
    ]
    assert fresh(member).balance == 35
    assert_ledger_clean()
