"""The ledger services: credit, debit, adjust, expire, release, lot expiry and check_ledger."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from loyalty import errors
from loyalty.models import (
    EntryKind,
    Event,
    LedgerEntry,
    LotAllocation,
    PointsLot,
    Program,
    Validity,
)
from loyalty.services import (
    lot_expiry,
    points_adjust,
    points_credit,
    points_debit,
    points_expire_due,
    points_release_pending,
)
from loyalty.tests.factories import cashier, manager
from loyalty.tests.support import assert_ledger_clean, fresh, snapshot
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

HEL = ZoneInfo("Europe/Helsinki")
UTC = ZoneInfo("UTC")


def assert_refused(code, call):
    before = snapshot()
    with pytest.raises(errors.LoyaltyError) as exc:
        call()
    assert exc.value.code == code, exc.value
    assert snapshot() == before
    assert_ledger_clean()
    return exc.value


def drawn(entry):
    return [(a.lot_id, a.points) for a in entry.allocations.order_by("pk")]


# --------------------------------------------------------------------------------------------
# Credit and debit
# --------------------------------------------------------------------------------------------


def test_credit_is_a_new_lot_an_entry_and_an_event(member):
    entry = points_credit(member=member, points=40, reason="Birthday")

    lot = entry.lot
    assert (lot.amount, lot.remaining, lot.is_available) == (40, 40, True)
    assert lot.expires_at is None  # the default programme: points never expire
    assert (entry.kind, entry.points, entry.balance_after, entry.reason) == (
        EntryKind.BONUS,
        40,
        40,
        "Birthday",
    )
    assert member.balance == fresh(member).balance == 40
    assert Event.objects.filter(type="points.earned", member=member).count() == 1
    assert_ledger_clean()


def test_credit_with_a_later_available_at_is_pending(member):
    points_credit(member=member, points=40, available_at=timezone.now() + timedelta(days=3))

    m = fresh(member)
    assert (m.balance, m.pending) == (0, 40)
    assert_ledger_clean()


def test_debit_draws_earliest_expiry_first_and_lots_without_expiry_last(member):
    now = timezone.now()
    never = points_credit(member=member, points=10, expires_at=None).lot
    late = points_credit(member=member, points=10, expires_at=now + timedelta(days=30)).lot
    soon = points_credit(member=member, points=10, expires_at=now + timedelta(days=5)).lot
    soon_too = points_credit(member=member, points=10, expires_at=now + timedelta(days=5)).lot

    first = points_debit(member=member, points=15)
    second = points_debit(member=member, points=20)
    third = points_debit(member=member, points=5)

    assert drawn(first) == [(soon.pk, 10), (soon_too.pk, 5)]
    assert drawn(second) == [(soon_too.pk, 5), (late.pk, 10), (never.pk, 5)]
    assert drawn(third) == [(never.pk, 5)]
    assert fresh(member).balance == 0
    assert all(lot.remaining == 0 for lot in PointsLot.objects.filter(member=member))
    assert_ledger_clean()


def test_debit_never_draws_pending_points(member):
    points_credit(member=member, points=10)
    pending = points_credit(
        member=member, points=100, available_at=timezone.now() + timedelta(days=3)
    ).lot

    assert_refused("insufficient_points", lambda: points_debit(member=member, points=11))
    entry = points_debit(member=member, points=10)

    assert pending.pk not in [lot for lot, _ in drawn(entry)]
    assert (fresh(member).balance, fresh(member).pending) == (0, 100)


def test_debit_entry_records_kind_reason_and_balance_after(member, manager_user):
    points_credit(member=member, points=50)

    entry = points_debit(member=member, points=20, reason="Free coffee", actor=manager_user)

    assert (entry.kind, entry.points, entry.balance_after) == (EntryKind.REDEEM, -20, 30)
    assert entry.reason == "Free coffee"
    assert entry.actor == manager_user
    assert member.balance == 30
    event = Event.objects.filter(member=member).latest("pk")
    assert event.type == "points.redeemed"
    assert event.payload["points"] == -20


def test_insufficient_points_is_refused_and_writes_nothing(member):
    points_credit(member=member, points=29)

    err = assert_refused("insufficient_points", lambda: points_debit(member=member, points=30))

    assert isinstance(err, errors.InsufficientPoints)
    assert err.params == {"available": 29, "requested": 30}
    assert "29" in err.detail
    assert fresh(member).balance == 29
    # exactly the balance is fine
    points_debit(member=member, points=29)
    assert fresh(member).balance == 0
    assert_refused("insufficient_points", lambda: points_debit(member=member, points=1))


def test_debit_checks_the_stored_balance_not_the_callers_copy(member):
    points_credit(member=member, points=10)
    stale = fresh(member)
    points_debit(member=member, points=10)

    assert stale.balance == 10
    assert_refused("insufficient_points", lambda: points_debit(member=stale, points=5))


@pytest.mark.parametrize("points", [0, -5, 1.5, "1.5", "abc", "", None, True, float("nan")])
@pytest.mark.parametrize("service", [points_credit, points_debit])
def test_credit_and_debit_refuse_points_that_are_not_a_positive_whole_number(
    member, service, points
):
    points_credit(member=member, points=100)

    assert_refused("invalid_points", lambda: service(member=member, points=points))


def test_credit_and_debit_refuse_an_inactive_member(member):
    points_credit(member=member, points=100)
    member.is_active = False
    member.save(update_fields=["is_active"])

    assert_refused("member_inactive", lambda: points_credit(member=member, points=5))
    assert_refused("member_inactive", lambda: points_debit(member=member, points=5))


def test_welcome_bonus_is_a_welcome_entry_at_enrolment(program):
    program.welcome_bonus = 25
    program.save()

    member = MemberFactory()

    assert fresh(member).balance == 25
    assert LedgerEntry.objects.get(member=member).kind == EntryKind.WELCOME
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# Adjustments
# --------------------------------------------------------------------------------------------


def test_manager_adjusts_points_with_a_reason_and_is_recorded(member):
    boss = manager()

    up = points_adjust(member=member, points=30, reason="  Goodwill  ", actor=boss)
    down = points_adjust(member=member, points=-12, reason="Typo at the till", actor=boss)

    assert (up.kind, up.points, up.reason, up.actor, up.source_type) == (
        EntryKind.ADJUST,
        30,
        "Goodwill",
        boss,
        "staff",
    )
    assert (down.points, down.reason, down.actor) == (-12, "Typo at the till", boss)
    assert drawn(down) == [(up.lot_id, 12)]
    assert fresh(member).balance == 18
    events = Event.objects.filter(type="points.adjusted", member=member).order_by("pk")
    assert [(e.payload["points"], e.payload["reason"], e.actor_id) for e in events] == [
        (30, "Goodwill", boss.pk),
        (-12, "Typo at the till", boss.pk),
    ]
    assert_ledger_clean()


def test_adjustment_up_does_not_count_as_earned(member):
    points_adjust(member=member, points=30, reason="Goodwill", actor=manager())

    assert fresh(member).lifetime_points == 0


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_adjustment_without_a_reason_is_refused(member, reason):
    assert_refused(
        "reason_required",
        lambda: points_adjust(member=member, points=10, reason=reason, actor=manager()),
    )


def test_adjustment_reason_longer_than_255_characters_is_refused(member):
    assert_refused(
        "invalid",
        lambda: points_adjust(member=member, points=10, reason="x" * 256, actor=manager()),
    )


@pytest.mark.parametrize("points", [0, "0", 1.5, "2.5", "abc", True, None, float("inf")])
def test_adjustment_of_zero_or_a_part_point_is_refused(member, points):
    assert_refused(
        "invalid_points",
        lambda: points_adjust(member=member, points=points, reason="Why", actor=manager()),
    )


def test_adjustment_above_the_programme_maximum_is_refused(program, member):
    program.max_adjustment_points = 500
    program.save()
    boss = manager()

    assert_refused(
        "invalid_points",
        lambda: points_adjust(member=member, points=501, reason="Big", actor=boss),
    )
    assert_refused(
        "invalid_points",
        lambda: points_adjust(member=member, points=-501, reason="Big", actor=boss),
    )
    points_adjust(member=member, points=500, reason="Exactly the maximum", actor=boss)
    assert fresh(member).balance == 500


def test_cashier_cannot_adjust_points(member):
    points_credit(member=member, points=100)
    till = cashier()

    assert_refused(
        "permission_denied",
        lambda: points_adjust(member=member, points=10, reason="Nice", actor=till),
    )
    assert_refused(
        "permission_denied",
        lambda: points_adjust(member=member, points=-10, reason="Oops", actor=till),
    )


def test_adjustment_down_cannot_take_the_balance_below_zero(member):
    points_credit(member=member, points=10)

    assert_refused(
        "insufficient_points",
        lambda: points_adjust(member=member, points=-11, reason="Fix", actor=manager()),
    )


# --------------------------------------------------------------------------------------------
# Expiry
# --------------------------------------------------------------------------------------------


def test_expiry_takes_only_what_is_due_and_left_and_runs_once(member):
    now = timezone.now()
    due = points_credit(member=member, points=50, expires_at=now + timedelta(days=10)).lot
    later = points_credit(member=member, points=20, expires_at=now + timedelta(days=40)).lot
    points_credit(member=member, points=5, expires_at=None)
    points_debit(member=member, points=30)  # from the due lot: 20 of it are left
    other = MemberFactory()
    other_lot = points_credit(member=other, points=7, expires_at=now + timedelta(days=10)).lot

    assert points_expire_due(as_of=now + timedelta(days=9)) == 0
    assert fresh(member).balance == 45

    expired = points_expire_due(as_of=due.expires_at)  # due at exactly its expiry time

    assert expired == 27
    assert fresh(member).balance == 25
    assert fresh(other).balance == 0
    entry = LedgerEntry.objects.get(member=member, kind=EntryKind.EXPIRE)
    assert (entry.points, entry.pending_points, entry.balance_after) == (-20, 0, 25)
    assert drawn(entry) == [(due.pk, 20)]
    assert LotAllocation.objects.filter(lot=other_lot, entry__kind=EntryKind.EXPIRE).count() == 1
    later.refresh_from_db()
    assert later.remaining == 20
    assert Event.objects.filter(type="points.expired").count() == 2
    assert_ledger_clean()

    # a second run changes nothing
    before = snapshot()
    assert points_expire_due(as_of=due.expires_at + timedelta(days=1)) == 0
    assert snapshot() == before


def test_expiry_of_pending_points_reduces_pending(member):
    now = timezone.now()
    points_credit(
        member=member,
        points=40,
        available_at=now + timedelta(days=30),
        expires_at=now + timedelta(days=10),
    )

    assert points_expire_due(as_of=now + timedelta(days=10)) == 40

    m = fresh(member)
    assert (m.balance, m.pending) == (0, 0)
    entry = LedgerEntry.objects.get(member=member, kind=EntryKind.EXPIRE)
    assert (entry.points, entry.pending_points) == (0, -40)
    assert points_release_pending(as_of=now + timedelta(days=31)) == 0
    assert_ledger_clean()


def test_expiry_works_in_small_chunks_over_many_members(program):
    now = timezone.now()
    members = [MemberFactory() for _ in range(5)]
    for i, m in enumerate(members):
        points_credit(member=m, points=10 + i, expires_at=now + timedelta(days=1))
        points_credit(member=m, points=1, expires_at=now + timedelta(days=2))

    assert points_expire_due(as_of=now + timedelta(days=3), chunk_size=3) == sum(
        11 + i for i in range(5)
    )
    assert all(fresh(m).balance == 0 for m in members)
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# Release of pending points
# --------------------------------------------------------------------------------------------


def test_release_makes_only_due_lots_spendable_and_runs_once(member):
    now = timezone.now()
    points_credit(member=member, points=10, available_at=now + timedelta(days=1))
    points_credit(member=member, points=20, available_at=now + timedelta(days=5))
    other = MemberFactory()
    points_credit(member=other, points=3, available_at=now + timedelta(days=1))

    assert points_release_pending(as_of=now + timedelta(days=2), chunk_size=1) == 13

    assert (fresh(member).balance, fresh(member).pending) == (10, 20)
    assert (fresh(other).balance, fresh(other).pending) == (3, 0)
    assert_ledger_clean()
    before = snapshot()
    assert points_release_pending(as_of=now + timedelta(days=2)) == 0
    assert snapshot() == before

    assert points_release_pending(as_of=now + timedelta(days=5)) == 20
    assert (fresh(member).balance, fresh(member).pending) == (30, 0)
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# lot_expiry
# --------------------------------------------------------------------------------------------


def programme(validity, months=12):
    return Program(validity=validity, validity_months=months)


@pytest.mark.parametrize(
    ("validity", "months", "earned", "expires"),
    [
        (Validity.NEVER, 12, datetime(2026, 3, 15, 10, 30, tzinfo=HEL), None),
        # Rolling: same local time of day, N months later.
        (
            Validity.ROLLING,
            12,
            datetime(2026, 3, 15, 10, 30, tzinfo=HEL),
            datetime(2027, 3, 15, 10, 30, tzinfo=HEL),
        ),
        # A shorter month clamps the day.
        (
            Validity.ROLLING,
            1,
            datetime(2025, 1, 31, 12, 0, tzinfo=HEL),
            datetime(2025, 2, 28, 12, 0, tzinfo=HEL),
        ),
        (
            Validity.ROLLING,
            1,
            datetime(2024, 1, 31, 12, 0, tzinfo=HEL),
            datetime(2024, 2, 29, 12, 0, tzinfo=HEL),
        ),
        (
            Validity.ROLLING,
            12,
            datetime(2024, 2, 29, 12, 0, tzinfo=HEL),
            datetime(2025, 2, 28, 12, 0, tzinfo=HEL),
        ),
        # Across a daylight saving change the local time of day is kept.
        (
            Validity.ROLLING,
            6,
            datetime(2026, 3, 15, 10, 0, tzinfo=HEL),
            datetime(2026, 9, 15, 10, 0, tzinfo=HEL),
        ),
        # End of the month after N months: valid through the last day, expires at its end.
        (
            Validity.END_OF_MONTH,
            12,
            datetime(2026, 3, 15, 10, 30, tzinfo=HEL),
            datetime(2027, 4, 1, 0, 0, tzinfo=HEL),
        ),
        (
            Validity.END_OF_MONTH,
            1,
            datetime(2025, 1, 31, 23, 59, tzinfo=HEL),
            datetime(2025, 3, 1, 0, 0, tzinfo=HEL),
        ),
        (
            Validity.END_OF_MONTH,
            1,
            datetime(2024, 12, 31, 12, 0, tzinfo=HEL),
            datetime(2025, 2, 1, 0, 0, tzinfo=HEL),
        ),
        (
            Validity.END_OF_MONTH,
            0,
            datetime(2026, 2, 1, 0, 0, tzinfo=HEL),
            datetime(2026, 3, 1, 0, 0, tzinfo=HEL),
        ),
        # End of the year after N months.
        (
            Validity.END_OF_YEAR,
            12,
            datetime(2026, 3, 15, 10, 30, tzinfo=HEL),
            datetime(2028, 1, 1, 0, 0, tzinfo=HEL),
        ),
        (
            Validity.END_OF_YEAR,
            1,
            datetime(2026, 12, 31, 23, 0, tzinfo=HEL),
            datetime(2028, 1, 1, 0, 0, tzinfo=HEL),
        ),
        (
            Validity.END_OF_YEAR,
            0,
            datetime(2026, 1, 1, 0, 0, tzinfo=HEL),
            datetime(2027, 1, 1, 0, 0, tzinfo=HEL),
        ),
        # Month and year ends are taken in the installation's time zone (Helsinki, +02:00):
        # 31 Jan 23:30 UTC is already 1 February there.
        (
            Validity.END_OF_MONTH,
            1,
            datetime(2026, 1, 31, 23, 30, tzinfo=UTC),
            datetime(2026, 4, 1, 0, 0, tzinfo=HEL),
        ),
        (
            Validity.END_OF_YEAR,
            0,
            datetime(2026, 12, 31, 22, 30, tzinfo=UTC),
            datetime(2028, 1, 1, 0, 0, tzinfo=HEL),
        ),
    ],
)
def test_lot_expiry_by_validity_rule(validity, months, earned, expires):
    result = lot_expiry(program=programme(validity, months), earned_at=earned)

    assert result == expires
    if expires is not None:
        assert timezone.is_aware(result)
        assert result.utcoffset() == expires.utcoffset()


def test_lot_expiry_uses_the_installation_time_zone_whatever_zone_is_active():
    earned = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # 1 February in Helsinki
    rule = programme(Validity.END_OF_MONTH, 1)

    with timezone.override(ZoneInfo("America/New_York")):  # 31 January there
        result = lot_expiry(program=rule, earned_at=earned)

    assert result == datetime(2026, 4, 1, 0, 0, tzinfo=HEL)


def test_points_credit_uses_the_programme_validity(program, member):
    program.validity = Validity.ROLLING
    program.validity_months = 6
    program.save()
    at = timezone.now() - timedelta(days=1)

    entry = points_credit(member=member, points=5, at=at)

    assert entry.lot.expires_at == lot_expiry(program=program, earned_at=at)
    assert entry.lot.expires_at > timezone.now() + timedelta(days=150)


# --------------------------------------------------------------------------------------------
# check_ledger
# --------------------------------------------------------------------------------------------


def test_check_ledger_is_clean_after_normal_use(member, capsys):
    points_credit(member=member, points=100)
    points_debit(member=member, points=30)

    call_command("check_ledger")

    assert "ledger OK" in capsys.readouterr().out


def raw_sql(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_check_ledger_fails_naming_the_member_whose_balance_was_changed_by_hand(member, capsys):
    points_credit(member=member, points=100)
    healthy = MemberFactory()
    points_credit(member=healthy, points=5)
    raw_sql("UPDATE members_member SET balance = balance + 1 WHERE id = %s", [member.pk])

    with pytest.raises(CommandError) as exc:
        call_command("check_ledger")

    assert "1 member" in str(exc.value)
    err = capsys.readouterr().err
    assert f"member {member.pk}:" in err
    assert f"member {healthy.pk}:" not in err
    call_command("check_ledger", member=[healthy.pk])


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("UPDATE loyalty_pointslot SET remaining = remaining - 1 WHERE member_id = %s", "lot"),
        ("UPDATE members_member SET pending = pending + 3 WHERE id = %s", "pending"),
        ("UPDATE members_member SET points_debt = points_debt + 3 WHERE id = %s", "owed"),
        ("UPDATE loyalty_ledgerentry SET points = points + 1 WHERE member_id = %s", "entries"),
    ],
)
def test_check_ledger_notices_each_kind_of_drift(member, capsys, sql, what):
    points_credit(member=member, points=100)
    raw_sql(sql, [member.pk])

    with pytest.raises(CommandError):
        call_command("check_ledger")

    assert f"member {member.pk}:" in capsys.readouterr().err


def test_check_ledger_exits_non_zero_from_the_command_line(member):
    from django.core.management import execute_from_command_line

    points_credit(member=member, points=10)
    raw_sql("UPDATE members_member SET balance = 0 WHERE id = %s", [member.pk])

    with pytest.raises(SystemExit) as exc:
        execute_from_command_line(["manage.py", "check_ledger"])

    assert exc.value.code not in (0, None)
