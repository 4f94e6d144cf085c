"""Birthday rewards: once a year, on the day or in the month, in one set-based daily job."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction

from campaigns.actions import birthday_gift_give, birthday_gifts_due
from campaigns.models import BirthdayGift, BirthdayReward
from campaigns.tests.actions_support import birthday_setting
from loyalty.models import EntryKind, LedgerEntry
from loyalty.tests.support import assert_ledger_clean, fresh
from members.services import member_erase, member_update
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Europe/Helsinki")


def on(year: int, month: int, day: int, hour: int = 7) -> datetime:
    return datetime(year, month, day, hour, 5, tzinfo=TZ)


@pytest.fixture
def sent(monkeypatch):
    """Record the messages the service asks to send."""
    calls = []

    def fake_send(**kwargs):
        calls.append(kwargs)
        return []

    monkeypatch.setattr("campaigns.messaging.message_send", fake_send)
    return calls


@pytest.fixture
def born_25_nov(program):
    return MemberFactory(birth_date=date(1990, 11, 25), first_name="Anna")


def test_the_birthday_gives_points_once_and_queues_the_birthday_message(born_25_nov, sent):
    birthday_setting(points=100)

    given = birthday_gifts_due(as_of=on(2026, 11, 25))

    assert given == 1
    gift = BirthdayGift.objects.get()
    assert (gift.member, gift.year, gift.points) == (born_25_nov, 2026, 100)
    entry = LedgerEntry.objects.get(pk=gift.entry_id)
    assert (entry.kind, entry.source_type, entry.points) == (
        EntryKind.BONUS,
        LedgerEntry.SourceType.CAMPAIGN,
        100,
    )
    assert fresh(born_25_nov).balance == 100
    assert len(sent) == 1
    assert sent[0]["member"].pk == born_25_nov.pk
    assert sent[0]["type_code"] == "birthday"
    assert sent[0]["dedupe_key"] == "birthday:2026"
    assert sent[0]["context"]["points"] == 100
    assert_ledger_clean()


def test_running_the_job_again_gives_nothing_more(born_25_nov, sent):
    birthday_setting(points=100)
    birthday_gifts_due(as_of=on(2026, 11, 25))

    assert birthday_gifts_due(as_of=on(2026, 11, 25, 18)) == 0
    assert birthday_gifts_due(as_of=on(2026, 11, 26)) == 0

    assert BirthdayGift.objects.count() == 1
    assert fresh(born_25_nov).balance == 100
    assert len(sent) == 1


def test_next_year_brings_the_next_gift(born_25_nov, sent):
    birthday_setting(points=100)
    birthday_gifts_due(as_of=on(2026, 11, 25))

    assert birthday_gifts_due(as_of=on(2027, 11, 25)) == 1

    assert sorted(BirthdayGift.objects.values_list("year", flat=True)) == [2026, 2027]
    assert fresh(born_25_nov).balance == 200


def test_day_timing_gives_nothing_before_the_birthday_and_catches_up_a_few_missed_days(
    born_25_nov, sent
):
    birthday_setting(timing=BirthdayReward.Timing.DAY)

    assert birthday_gifts_due(as_of=on(2026, 11, 24)) == 0
    assert birthday_gifts_due(as_of=on(2026, 11, 28)) == 1  # the job did not run for 3 days


def test_day_timing_does_not_give_a_birthday_long_past(born_25_nov, sent):
    birthday_setting(timing=BirthdayReward.Timing.DAY)

    assert birthday_gifts_due(as_of=on(2026, 11, 29)) == 0
    assert birthday_gifts_due(as_of=on(2026, 12, 25)) == 0


def test_month_timing_gives_on_the_first_run_of_the_birthday_month(born_25_nov, sent):
    birthday_setting(timing=BirthdayReward.Timing.MONTH)

    assert birthday_gifts_due(as_of=on(2026, 10, 31)) == 0
    assert birthday_gifts_due(as_of=on(2026, 11, 1)) == 1
    assert birthday_gifts_due(as_of=on(2026, 11, 25)) == 0


@pytest.mark.parametrize(
    "today, given",
    [
        (date(2027, 2, 27), 0),
        (date(2027, 2, 28), 1),  # not a leap year: on 28 February
        (date(2028, 2, 28), 0),  # a leap year: wait for the 29th
        (date(2028, 2, 29), 1),
        (date(2027, 3, 1), 0),
    ],
)
def test_a_29_february_birthday_is_celebrated_on_28_february_in_other_years(
    program, sent, today, given
):
    MemberFactory(birth_date=date(2000, 2, 29))
    birthday_setting(timing=BirthdayReward.Timing.DAY)

    assert birthday_gifts_due(as_of=on(today.year, today.month, today.day)) == given


def test_members_without_birth_date_closed_or_erased_get_nothing(program, sent):
    birthday_setting()
    MemberFactory(birth_date=None)
    closed = MemberFactory(birth_date=date(1980, 11, 25))
    member_update(member=closed, is_active=False)
    erased = MemberFactory(birth_date=date(1981, 11, 25))
    member_erase(member=erased)
    MemberFactory(birth_date=date(1982, 11, 26))  # tomorrow
    MemberFactory(birth_date=date(1983, 10, 25))  # another month
    due = MemberFactory(birth_date=date(1984, 11, 25))

    assert birthday_gifts_due(as_of=on(2026, 11, 25)) == 1

    assert list(BirthdayGift.objects.values_list("member_id", flat=True)) == [due.pk]


def test_the_service_skips_a_member_without_birth_date(member, sent):
    birthday_setting()

    assert birthday_gift_give(member=member, year=2026, at=on(2026, 11, 25)) is None
    assert not BirthdayGift.objects.exists()


def test_an_inactive_setting_gives_nothing(born_25_nov, sent):
    birthday_setting(is_active=False)

    assert birthday_gifts_due(as_of=on(2026, 11, 25)) == 0
    assert birthday_gift_give(member=born_25_nov, year=2026) is None
    assert not BirthdayGift.objects.exists()


def test_no_setting_at_all_gives_nothing(born_25_nov, sent):
    assert birthday_gifts_due(as_of=on(2026, 11, 25)) == 0


def test_a_birthday_voucher_is_issued_with_its_own_validity(born_25_nov, sent):
    cake = RewardFactory(name="Birthday cake", voucher_valid_days=30)
    birthday_setting(points=0, reward=cake, voucher_valid_days=14)
    moment = on(2026, 11, 25)

    assert birthday_gifts_due(as_of=moment) == 1

    gift = BirthdayGift.objects.get()
    voucher = Voucher.objects.get(pk=gift.voucher_id)
    assert (voucher.member, voucher.reward, voucher.origin) == (
        born_25_nov,
        cake,
        Voucher.Origin.CAMPAIGN,
    )
    assert voucher.expires_at == moment + timedelta(days=14)
    assert gift.entry_id is None and gift.points == 0
    assert fresh(born_25_nov).balance == 0
    assert sent[0]["context"]["voucher_code"] == voucher.code
    assert sent[0]["context"]["reward"] == "Birthday cake"


def test_a_voucher_that_cannot_be_given_gives_nothing_and_is_retried_next_run(born_25_nov, sent):
    cake = RewardFactory(name="Birthday cake", is_active=False)
    birthday_setting(points=100, reward=cake)
    other = MemberFactory(birth_date=date(1991, 11, 25))

    assert birthday_gifts_due(as_of=on(2026, 11, 25)) == 0

    assert not BirthdayGift.objects.exists()
    assert fresh(born_25_nov).balance == 0 and fresh(other).balance == 0
    assert sent == []
    cake.is_active = True
    cake.save()
    assert birthday_gifts_due(as_of=on(2026, 11, 26)) == 2


def test_finding_nobody_due_is_a_constant_number_of_queries(
    program, sent, django_assert_max_num_queries
):
    birthday_setting()
    for day in range(1, 21):
        MemberFactory(birth_date=date(1990, 10, day))

    with django_assert_max_num_queries(3):
        assert birthday_gifts_due(as_of=on(2026, 11, 25)) == 0


def test_the_database_refuses_a_second_gift_in_one_year(born_25_nov):
    BirthdayGift.objects.create(member=born_25_nov, year=2026)

    with pytest.raises(IntegrityError), transaction.atomic():
        BirthdayGift.objects.create(member=born_25_nov, year=2026)


def test_the_setting_is_a_single_row(db):
    birthday_setting(points=10)
    BirthdayReward(points=20).save()

    assert BirthdayReward.objects.count() == 1
    assert BirthdayReward.current().points == 20


def test_the_daily_task_runs_the_service(born_25_nov, sent, monkeypatch):
    from campaigns import tasks

    birthday_setting()
    monkeypatch.setattr("django.utils.timezone.now", lambda: on(2026, 11, 25))

    tasks.birthday_gifts_due.delay()

    assert BirthdayGift.objects.filter(member=born_25_nov, year=2026).exists()


def test_the_daily_schedule_runs_the_birthday_task():
    from loyalty.schedules import SCHEDULES

    assert "campaigns.birthday_gifts_due" in {s.task for s in SCHEDULES}


def test_the_gift_goes_through_the_real_message_service(born_25_nov):
    birthday_setting(points=100)

    assert birthday_gifts_due(as_of=on(2026, 11, 25)) == 1
    assert fresh(born_25_nov).balance == 100
