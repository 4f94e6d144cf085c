"""Punch cards: stamps from purchases, visits and staff; a full card issues its voucher."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty import errors
from loyalty.models import Event, PunchCard, PunchCardType, Stamp
from loyalty.punch_cards import member_punch_cards
from loyalty.selectors import ledger_drift
from loyalty.services import (
    punch_card_stamp,
    punch_cards_expire_due,
    purchase_record,
    purchase_refund,
    visit_record,
)
from loyalty.tests.factories import LocationFactory
from loyalty.tests.support import assert_ledger_clean
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.services import voucher_use
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ledger_sound(db):
    yield
    assert ledger_drift() == []


COFFEE = Decimal("3.50")


def card_type(**fields):
    """A café's 10+1 coffee card: a stamp per coffee; the 11th coffee is free."""
    fields.setdefault("name", "Coffee card")
    fields.setdefault("stamps_needed", 10)
    fields.setdefault("earn_on", PunchCardType.EarnOn.ITEM)
    fields.setdefault("category", "coffee")
    if "reward" not in fields:
        fields["reward"] = RewardFactory(name="Free coffee", points_cost=None, value=COFFEE)
    locations = fields.pop("locations", ())
    card = PunchCardType.objects.create(**fields)
    card.locations.set(locations)
    return card


def coffees(member, location, n=1, *, extra=(), **kwargs):
    lines = [{"amount": str(COFFEE * n), "quantity": n, "category": "coffee", "sku": "LATTE"}]
    lines += list(extra)
    total = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
    return purchase_record(member=member, location=location, total=total, lines=lines, **kwargs)


def collecting(member, kind):
    return PunchCard.objects.get(member=member, card_type=kind, status=PunchCard.Status.ACTIVE)


def stamps_on(member, kind):
    card = PunchCard.objects.filter(
        member=member, card_type=kind, status=PunchCard.Status.ACTIVE
    ).first()
    return card.stamps if card else 0


def stamp(member, kind, count=1, **kwargs):
    kwargs.setdefault("reason", "Forgot the card")
    return punch_card_stamp(member=member, card_type=kind, count=count, **kwargs)


# --------------------------------------------------------------------------------------------
# The 10+1 café card
# --------------------------------------------------------------------------------------------


def test_the_tenth_coffee_issues_the_voucher_and_a_new_card_starts(member, location):
    kind = card_type()
    for _ in range(9):
        assert coffees(member, location).vouchers == []
    assert stamps_on(member, kind) == 9

    tenth = coffees(member, location)

    [voucher] = tenth.vouchers
    assert voucher.origin == Voucher.Origin.PUNCH_CARD
    assert voucher.reward == kind.reward
    assert voucher.member_id == member.pk
    assert voucher.status == Voucher.Status.ISSUED
    full = PunchCard.objects.get(member=member, status=PunchCard.Status.COMPLETED)
    assert (full.stamps, full.voucher, full.completed_at) == (
        10,
        voucher,
        tenth.purchase.occurred_at,
    )
    new = collecting(member, kind)
    assert (new.stamps, new.started_at, new.pk != full.pk) == (0, None, True)
    event = Event.objects.get(member=member, type="punchcard.completed")
    assert event.payload == {"card": full.pk, "card_type": kind.pk, "voucher": voucher.pk}
    assert_ledger_clean()


def test_stamps_beyond_a_full_card_carry_over(member, location):
    kind = card_type()

    result = coffees(member, location, 12)

    assert len(result.vouchers) == 1
    assert stamps_on(member, kind) == 2
    log = list(
        Stamp.objects.filter(purchase=result.purchase).order_by("pk").values_list("card", "count")
    )
    full = PunchCard.objects.get(member=member, status=PunchCard.Status.COMPLETED)
    assert log == [(full.pk, 10), (collecting(member, kind).pk, 2)]


def test_enough_stamps_for_two_cards_issue_two_vouchers(member, location):
    kind = card_type(stamps_needed=5)

    result = coffees(member, location, 11)

    assert len(result.vouchers) == 2
    assert stamps_on(member, kind) == 1
    assert PunchCard.objects.filter(member=member, status="completed").count() == 2


def test_the_stamp_results_say_what_was_given(member, location):
    kind = card_type()

    result = coffees(member, location, 3)

    [given] = result.stamps
    assert (given.given, given.card, given.vouchers) == (3, collecting(member, kind), [])


# --------------------------------------------------------------------------------------------
# What earns a stamp
# --------------------------------------------------------------------------------------------


def test_category_card_stamps_per_matching_item_and_ignores_other_items(member, location):
    kind = card_type()
    bun = {"amount": "4.00", "quantity": 2, "category": "pastry"}

    coffees(member, location, 2, extra=[bun])
    purchase_record(member=member, location=location, total="4.00", lines=[bun])
    purchase_record(member=member, location=location, total="12.00")  # no lines at all

    assert stamps_on(member, kind) == 2


def test_category_card_may_give_one_stamp_per_purchase(member, location):
    kind = card_type(per_item=False)

    coffees(member, location, 3)
    coffees(member, location, 1)

    assert stamps_on(member, kind) == 2


def test_sku_card_counts_only_that_product(member, location):
    kind = card_type(category="", sku="CROISSANT")
    croissant = {"amount": "2.50", "quantity": 1, "sku": "CROISSANT", "category": "pastry"}
    muffin = {"amount": "3.00", "quantity": 1, "sku": "MUFFIN", "category": "pastry"}

    purchase_record(member=member, location=location, total="5.50", lines=[croissant, muffin])
    coffees(member, location, 1)

    assert stamps_on(member, kind) == 1


def test_visit_card_stamps_on_check_ins_and_purchases(member, location):
    salon = card_type(
        name="Every 7th visit", stamps_needed=7, earn_on=PunchCardType.EarnOn.VISIT, category=""
    )

    visit = visit_record(member=member, location=location, source="kiosk")
    purchase_record(member=member, location=location, total="45.00")

    assert stamps_on(member, salon) == 2
    sources = set(Stamp.objects.values_list("source", flat=True))
    assert sources == {Stamp.Source.VISIT, Stamp.Source.PURCHASE}
    assert Stamp.objects.get(source=Stamp.Source.VISIT).visit == visit
    assert [r.given for r in visit.stamp_results] == [1]


def test_purchase_card_ignores_visits_without_a_purchase(member, location):
    kind = card_type(earn_on=PunchCardType.EarnOn.PURCHASE, category="")

    visit_record(member=member, location=location, source="kiosk")
    purchase_record(member=member, location=location, total="1.00")

    assert stamps_on(member, kind) == 1


def test_spend_card_stamps_every_full_step_of_a_purchase(member, location):
    kind = card_type(earn_on=PunchCardType.EarnOn.SPEND, category="", spend_step=Decimal("10"))

    purchase_record(member=member, location=location, total="35.50")
    purchase_record(member=member, location=location, total="9.99")
    purchase_record(member=member, location=location, total="10.00")

    assert stamps_on(member, kind) == 4


def test_several_cards_of_different_types_collect_at_once(member, location):
    coffee = card_type()
    visits = card_type(name="Visits", stamps_needed=5, earn_on="visit", category="")
    spend = card_type(name="Spend", earn_on="spend", category="", spend_step=Decimal("5"))

    coffees(member, location, 4)  # €14.00

    assert (stamps_on(member, coffee), stamps_on(member, visits), stamps_on(member, spend)) == (
        4,
        1,
        2,
    )
    assert [c.card_type.name for c in member_punch_cards(member=member)] == [
        "Coffee card",
        "Spend",
        "Visits",
    ]


def test_a_card_limited_to_locations_stamps_only_there(member, location):
    airport = LocationFactory(name="Airport", code="airport")
    kind = card_type(locations=[airport])

    coffees(member, location, 2)
    assert stamps_on(member, kind) == 0

    coffees(member, airport, 2)
    assert stamps_on(member, kind) == 2


def test_an_inactive_card_type_gives_no_stamps(member, location):
    kind = card_type(is_active=False)

    coffees(member, location, 2)

    assert not PunchCard.objects.filter(card_type=kind).exists()
    with pytest.raises(errors.InvalidInput):
        stamp(member, kind)


def test_each_member_collects_on_their_own_card(member, location):
    kind = card_type()
    other = MemberFactory()

    coffees(member, location, 3)
    coffees(other, location, 1)

    assert (stamps_on(member, kind), stamps_on(other, kind)) == (3, 1)


# --------------------------------------------------------------------------------------------
# Daily limit
# --------------------------------------------------------------------------------------------


def test_automatic_stamps_are_quietly_capped_by_the_daily_limit(member, location):
    kind = card_type(max_stamps_per_day=2)
    yesterday = timezone.now() - timedelta(days=1)

    coffees(member, location, 3, occurred_at=yesterday)
    coffees(member, location, 1, occurred_at=yesterday)
    assert stamps_on(member, kind) == 2

    result = coffees(member, location, 1)  # a new day

    assert stamps_on(member, kind) == 3
    assert result.purchase.points_awarded == 3  # the purchase itself is recorded as usual


def test_a_stamp_by_hand_beyond_the_daily_limit_is_refused(member, location, cashier_user):
    kind = card_type(max_stamps_per_day=2)
    coffees(member, location, 1)

    with pytest.raises(errors.Conflict) as exc:
        stamp(member, kind, count=2, actor=cashier_user)

    assert "1 left today" in exc.value.detail
    assert stamps_on(member, kind) == 1
    stamp(member, kind, count=1, actor=cashier_user)
    assert stamps_on(member, kind) == 2


def test_a_refund_that_reopens_a_card_does_not_use_up_todays_stamps(member, location):
    kind = card_type(stamps_needed=3, max_stamps_per_day=3)
    yesterday = timezone.now() - timedelta(days=1)
    coffees(member, location, 2, occurred_at=yesterday)
    completing = coffees(member, location, 1, occurred_at=yesterday).purchase
    purchase_refund(purchase=completing)  # reopens the card: its 2 stamps come back today

    coffees(member, location, 1)

    assert stamps_on(member, kind) == 0  # 2 back + 1 today completes the card again
    # The reopened card is closed (as expired); the card completed today holds the voucher.
    assert PunchCard.objects.filter(member=member, status="completed").count() == 1
    assert Voucher.objects.filter(member=member, status="issued").count() == 1
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# Validity and expiry
# --------------------------------------------------------------------------------------------


def test_validity_counts_from_the_first_stamp(member, location):
    kind = card_type(validity_days=90)
    first = coffees(member, location, 1).purchase.occurred_at
    coffees(member, location, 1)

    card = collecting(member, kind)

    assert card.started_at == first
    assert card.expires_at == first + timedelta(days=90)


def test_expire_due_closes_expired_cards_and_is_safe_to_rerun(member, location):
    kind = card_type(validity_days=30)
    forever = card_type(name="Forever card", category="tea")
    coffees(member, location, 4)  # expires in 30 days
    recent = MemberFactory()
    coffees(recent, location, 1, occurred_at=timezone.now() + timedelta(minutes=3))
    tea = {"amount": "3.00", "quantity": 1, "category": "tea"}
    purchase_record(member=member, location=location, total="3.00", lines=[tea])
    as_of = timezone.now() + timedelta(days=30, minutes=1)

    assert punch_cards_expire_due(as_of=as_of) == 1
    assert punch_cards_expire_due(as_of=as_of) == 0

    assert PunchCard.objects.get(member=member, card_type=kind).status == "expired"
    assert collecting(recent, kind).stamps == 1  # its 30 days end two minutes later
    assert [c.card_type for c in member_punch_cards(member=member)] == [forever]
    assert punch_cards_expire_due(as_of=as_of + timedelta(minutes=5)) == 1


def test_a_stamp_after_the_card_expired_starts_a_new_card(member, location):
    kind = card_type(validity_days=30)
    coffees(member, location, 4)
    old = collecting(member, kind)

    result = stamp(member, kind, at=timezone.now() + timedelta(days=31))

    old.refresh_from_db()
    assert old.status == PunchCard.Status.EXPIRED
    assert old.stamps == 4
    assert (result.card.pk != old.pk, result.card.stamps) == (True, 1)


def test_stamping_an_expired_card_by_name_is_refused(member, location):
    kind = card_type(validity_days=30)
    coffees(member, location, 4)
    card = collecting(member, kind)
    punch_cards_expire_due(as_of=timezone.now() + timedelta(days=31))

    with pytest.raises(errors.Conflict) as exc:
        stamp(member, kind, card=card)

    assert "expired" in exc.value.detail
    card.refresh_from_db()
    assert card.stamps == 4
    assert not PunchCard.objects.filter(member=member, status="active").exists()


def test_stamping_a_card_past_its_date_not_yet_closed_is_refused(member, location):
    kind = card_type(validity_days=30)
    coffees(member, location, 4)
    card = collecting(member, kind)

    with pytest.raises(errors.Conflict):
        stamp(member, kind, card=card, at=timezone.now() + timedelta(days=31))
    assert collecting(member, kind).stamps == 4


def test_stamping_a_full_card_or_another_members_card_by_name_is_refused(member, location):
    kind = card_type(stamps_needed=2)
    coffees(member, location, 2)
    full = PunchCard.objects.get(member=member, status="completed")
    other_card = collecting(member, kind)

    with pytest.raises(errors.Conflict):
        stamp(member, kind, card=full)
    with pytest.raises(errors.InvalidInput):
        stamp(MemberFactory(), kind, card=other_card)
    with pytest.raises(errors.InvalidInput):
        stamp(member, card_type(name="Tea card"), card=other_card)


# --------------------------------------------------------------------------------------------
# Bad configuration and bad input
# --------------------------------------------------------------------------------------------


def test_a_card_type_with_zero_stamps_is_refused_by_the_database(db):
    reward = RewardFactory(points_cost=None)

    with pytest.raises(IntegrityError), transaction.atomic():
        PunchCardType.objects.create(name="Broken", stamps_needed=0, reward=reward)

    assert not PunchCardType.objects.exists()


def test_a_card_type_with_zero_stamps_is_refused_by_validation(db):
    kind = PunchCardType(name="Broken", stamps_needed=0, reward=RewardFactory(points_cost=None))

    with pytest.raises(ValidationError) as exc:
        kind.full_clean()

    assert "stamps_needed" in exc.value.message_dict


@pytest.mark.parametrize(
    "fields",
    [
        {"earn_on": "spend", "spend_step": None},
        {"earn_on": "spend", "spend_step": Decimal("0")},
        {"earn_on": "item", "category": "", "sku": ""},
    ],
)
def test_a_card_type_that_cannot_earn_is_refused_by_the_database(db, fields):
    reward = RewardFactory(points_cost=None)

    with pytest.raises(IntegrityError), transaction.atomic():
        PunchCardType.objects.create(name="Broken", stamps_needed=10, reward=reward, **fields)


def test_a_stamp_by_hand_needs_a_reason(member):
    kind = card_type()

    for reason in ("", "  ", None):
        with pytest.raises(errors.ReasonRequired):
            stamp(member, kind, reason=reason)

    assert not Stamp.objects.exists()


@pytest.mark.parametrize("count", [0, -1, 51, "2", 1.0, True])
def test_a_stamp_count_out_of_range_is_refused(member, count):
    kind = card_type()

    with pytest.raises(errors.InvalidInput) as exc:
        stamp(member, kind, count=count)

    assert exc.value.field == "count"
    assert not Stamp.objects.exists()


def test_a_stamp_by_hand_is_logged_with_who_and_why(member, cashier_user):
    kind = card_type()

    result = stamp(member, kind, count=12, reason="Card left at home", actor=cashier_user)

    assert result.given == 12
    assert len(result.vouchers) == 1
    assert stamps_on(member, kind) == 2
    log = Stamp.objects.order_by("pk")
    assert {(s.source, s.reason, s.actor) for s in log} == {
        ("manual", "Card left at home", cashier_user)
    }
    event = Event.objects.get(type="punchcard.stamped")
    assert event.payload == {"card_type": kind.pk, "stamps": 12, "reason": "Card left at home"}
    assert event.actor == cashier_user


def test_a_closed_membership_cannot_be_stamped(member):
    from members.models import Member

    kind = card_type()
    Member.objects.filter(pk=member.pk).update(is_active=False)

    with pytest.raises(errors.MemberInactive):
        stamp(member, kind)
    assert not Stamp.objects.exists()


# --------------------------------------------------------------------------------------------
# Refunds take the stamps back
# --------------------------------------------------------------------------------------------


def test_a_full_refund_removes_the_stamps_the_purchase_gave(member, location):
    kind = card_type()
    coffees(member, location, 2)
    purchase = coffees(member, location, 3).purchase

    purchase_refund(purchase=purchase)

    assert stamps_on(member, kind) == 2
    taken = Stamp.objects.get(source=Stamp.Source.REFUND)
    assert (taken.count, taken.purchase) == (-3, purchase)
    event = Event.objects.get(type="purchase.refunded")
    assert event.payload["stamps_taken_back"] == 3
    assert_ledger_clean()


def test_a_partial_refund_removes_stamps_in_proportion(member, location):
    kind = card_type()
    purchase = coffees(member, location, 4).purchase  # €14.00, 4 stamps

    purchase_refund(purchase=purchase, amount="3.50")  # a quarter: 1 stamp
    assert stamps_on(member, kind) == 3
    purchase_refund(purchase=purchase, amount="1.75")  # 5.25 of 14: 1.5 -> still 1 in all
    assert stamps_on(member, kind) == 3
    purchase_refund(purchase=purchase, amount="1.75")  # half: 2 in all
    assert stamps_on(member, kind) == 2
    purchase_refund(purchase=purchase)  # the rest: all 4
    assert stamps_on(member, kind) == 0
    assert_ledger_clean()


def test_a_refund_reopens_a_card_whose_voucher_is_unused(member, location):
    kind = card_type()
    coffees(member, location, 8)
    completing = coffees(member, location, 3)  # card full (voucher), 1 carried over
    [voucher] = completing.vouchers

    purchase_refund(purchase=completing.purchase)

    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.CANCELLED
    full = PunchCard.objects.get(pk=voucher.punch_card.pk)
    assert full.status != PunchCard.Status.COMPLETED
    card = collecting(member, kind)
    assert card.stamps == 8  # the 8 stamps of the other purchase are kept
    assert card.started_at == full.started_at
    assert Event.objects.filter(type="voucher.cancelled", payload__voucher=voucher.pk).exists()
    # Three more coffees complete the card again.
    assert len(coffees(member, location, 2).vouchers) == 1
    assert_ledger_clean()


def test_a_refund_forgives_the_stamps_of_a_voucher_already_used(member, location):
    kind = card_type()
    coffees(member, location, 8)
    completing = coffees(member, location, 3)
    [voucher] = completing.vouchers
    voucher_use(code=voucher.code, location=location)

    purchase_refund(purchase=completing.purchase)

    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED
    assert stamps_on(member, kind) == 0  # the one carried over is taken, two are forgiven
    assert PunchCard.objects.get(pk=voucher.punch_card.pk).status == PunchCard.Status.COMPLETED
    assert Stamp.objects.get(source=Stamp.Source.REFUND).count == -1
    assert_ledger_clean()


def test_a_refund_forgives_the_stamps_of_a_digital_reward_whose_code_was_shown(member, location):
    from rewards.models import DigitalCode, Reward

    ebook = RewardFactory(name="E-book", kind=Reward.Kind.DIGITAL, points_cost=None)
    DigitalCode.objects.create(reward=ebook, code="BOOK-1")
    kind = card_type(reward=ebook)
    coffees(member, location, 8)
    completing = coffees(member, location, 3)
    [voucher] = completing.vouchers

    # the code cannot be taken back, so the refund goes through as for a used voucher
    purchase_refund(purchase=completing.purchase)

    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED
    assert stamps_on(member, kind) == 0
    assert PunchCard.objects.get(pk=voucher.punch_card.pk).status == PunchCard.Status.COMPLETED
    assert_ledger_clean()


def test_refunding_a_purchase_without_stamps_changes_no_card(member, location):
    kind = card_type()
    coffees(member, location, 2)
    purchase = purchase_record(member=member, location=location, total="20.00").purchase

    purchase_refund(purchase=purchase)

    assert stamps_on(member, kind) == 2
    assert not Stamp.objects.filter(source=Stamp.Source.REFUND).exists()


def test_a_refund_takes_stamps_from_every_card_type_the_purchase_stamped(member, location):
    coffee = card_type()
    spend = card_type(name="Spend", earn_on="spend", category="", spend_step=Decimal("5"))
    purchase = coffees(member, location, 4).purchase  # 4 coffee stamps, 2 spend stamps

    purchase_refund(purchase=purchase, amount="7.00")

    assert (stamps_on(member, coffee), stamps_on(member, spend)) == (2, 1)


# --------------------------------------------------------------------------------------------
# A reward that cannot be issued
# --------------------------------------------------------------------------------------------


def test_a_card_whose_reward_is_out_of_stock_does_not_block_the_purchase(member, location):
    kind = card_type(reward=RewardFactory(name="Free coffee", points_cost=None, stock=0))
    visits = card_type(name="Visits", earn_on="visit", category="")
    stamp(member, kind, count=9)

    result = coffees(member, location, 2)

    assert result.created and result.points == 7
    assert result.vouchers == []
    assert stamps_on(member, kind) == 9  # no stamps while the reward cannot be given
    assert stamps_on(member, visits) == 1  # other cards collect as usual
    with pytest.raises(errors.RewardNotAvailable):
        stamp(member, kind)  # by hand, staff are told why

    kind.reward.stock = 5
    kind.reward.save()
    assert len(coffees(member, location, 1).vouchers) == 1
    assert_ledger_clean()
