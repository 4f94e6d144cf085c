"""Vouchers: codes, voucher_issue, voucher_use (store credit too), voucher_cancel, expiry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import errors
from loyalty.models import EntryKind, Event, LedgerEntry, PointsLot, Validity
from loyalty.services import purchase_record
from loyalty.tests.support import fresh
from members.models import Member
from rewards.codes import ALPHABET, qr_svg, voucher_code_generate, voucher_code_normalize
from rewards.models import DigitalCode, Reward, Voucher, VoucherUse
from rewards.selectors import voucher_find, voucher_validate
from rewards.services import (
    reward_redeem,
    voucher_cancel,
    voucher_issue,
    voucher_use,
    vouchers_expire_due,
)
from rewards.tests.factories import (
    RewardFactory,
    give_points,
    issued_voucher,
    redeemed_voucher,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_stays_clean")]


def stock_of(reward: Reward) -> int | None:
    return Reward.objects.values_list("stock", flat=True).get(pk=reward.pk)


# --------------------------------------------------------------------------------------------
# Codes
# --------------------------------------------------------------------------------------------


def test_codes_are_ten_characters_of_the_alphabet_without_look_alikes():
    codes = [voucher_code_generate() for _ in range(2000)]

    assert all(len(code) == 10 and set(code) <= set(ALPHABET) for code in codes)
    assert not set("".join(codes)) & set("01OIL")
    assert len(set(codes)) == len(codes)
    # Every character of the alphabet turns up: the draw is not stuck on a few.
    assert set("".join(codes)) == set(ALPHABET)


def test_vouchers_get_distinct_codes(member):
    reward = RewardFactory(points_cost=None, stock=None)

    codes = {
        voucher_issue(member=member, reward=reward, origin=Voucher.Origin.CAMPAIGN).code
        for _ in range(200)
    }

    assert len(codes) == 200


def test_code_typed_in_lower_case_with_dash_or_spaces_is_found(member):
    voucher = issued_voucher(member)
    shown = voucher.formatted_code

    assert shown == f"{voucher.code[:5]}-{voucher.code[5:]}"
    for typed in (shown, shown.lower(), f"  {voucher.code.lower()} ", shown.replace("-", " ")):
        assert voucher_find(code=typed).pk == voucher.pk
    assert voucher_code_normalize(shown.lower()) == voucher.code


def test_qr_code_is_an_inline_svg_of_the_code():
    svg = qr_svg("ABCDE-FGHJK")

    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert qr_svg("ABCDE-FGHJK") == svg
    assert qr_svg("ABCDE-FGHJM") != svg


def test_qr_code_scales_with_css_and_keeps_a_size_without_it():
    svg = qr_svg("ABCDE-FGHJK", scale=4)
    opening = svg[: svg.index(">")]

    # One viewBox in modules (a 21-module code, not a Micro QR that phones cannot read, plus
    # a 2-module border each side), so CSS can size it freely; width and height in pixels
    # for places that set no size.
    assert opening.count("viewBox=") == 1
    assert 'viewBox="0 0 25 25"' in opening
    assert 'width="100"' in opening and 'height="100"' in opening
    assert "scale(" not in svg


@pytest.mark.parametrize(
    "code",
    [
        "",
        "   ",
        None,
        1234567890,
        "ABC",
        "ABCDEFGHJKM",
        "ABCDE-FGHJ0",
        "O0O0O-I1I1L",
        "ABCDE'--",
        "💥" * 10,
    ],
)
def test_malformed_code_is_not_found(code, member, refused):
    issued_voucher(member)

    refused(errors.VoucherNotFound, lambda: voucher_use(code=code))


def test_unknown_code_is_not_found(member, refused):
    voucher = issued_voucher(member)
    unknown = next(c for c in iter(voucher_code_generate, None) if c != voucher.code)

    refused(errors.VoucherNotFound, lambda: voucher_use(code=unknown))


# --------------------------------------------------------------------------------------------
# voucher_issue
# --------------------------------------------------------------------------------------------


def test_issued_voucher_costs_no_points_and_counts_stock(member, staff_user):
    give_points(member, 40)
    reward = RewardFactory(points_cost=100, stock=1, voucher_valid_days=7)

    voucher = voucher_issue(
        member=member, reward=reward, origin=Voucher.Origin.STAFF, actor=staff_user, reason="Sorry"
    )

    assert (voucher.origin, voucher.points_spent, voucher.ledger_entry, voucher.reason) == (
        Voucher.Origin.STAFF,
        0,
        None,
        "Sorry",
    )
    assert voucher.issued_by == staff_user
    assert voucher.expires_at == voucher.issued_at + timedelta(days=7)
    assert fresh(member).balance == 40
    assert stock_of(reward) == 0
    assert Event.objects.filter(type="voucher.issued", member=member).count() == 1


def test_issue_with_its_own_expiry(member):
    until = timezone.now() + timedelta(days=2)

    voucher = issued_voucher(member, origin=Voucher.Origin.CAMPAIGN, expires_at=until)

    assert voucher.expires_at == until


def test_issue_of_the_last_unit_twice_is_refused(member, refused):
    reward = RewardFactory(stock=1)
    issued_voucher(member, reward)

    refused(errors.OutOfStock, lambda: issued_voucher(member, reward))


@pytest.mark.parametrize("reason", ["", "   "])
def test_staff_goodwill_needs_a_reason(reason, member, refused):
    reward = RewardFactory()

    refused(
        errors.ReasonRequired,
        lambda: voucher_issue(
            member=member, reward=reward, origin=Voucher.Origin.STAFF, reason=reason
        ),
    )


@pytest.mark.parametrize("origin", ["redeemed", "gift", ""])
def test_issue_with_an_unknown_origin_is_refused(origin, member, refused):
    reward = RewardFactory()

    refused(
        errors.InvalidInput,
        lambda: voucher_issue(member=member, reward=reward, origin=origin, reason="x"),
    )


def test_issue_to_an_inactive_member_or_of_an_inactive_reward_is_refused(member, refused):
    active = RewardFactory()
    inactive = RewardFactory(is_active=False)

    refused(errors.RewardNotAvailable, lambda: issued_voucher(member, inactive))
    Member.objects.filter(pk=member.pk).update(is_active=False)
    refused(errors.MemberInactive, lambda: issued_voucher(member, active))


# --------------------------------------------------------------------------------------------
# voucher_use
# --------------------------------------------------------------------------------------------


def test_use_marks_the_voucher_used_with_where_and_by_whom(member, location, staff_user):
    voucher = redeemed_voucher(member)

    used = voucher_use(code=voucher.formatted_code.lower(), location=location, actor=staff_user)

    stored = Voucher.objects.get(pk=voucher.pk)
    assert used.pk == voucher.pk
    assert (stored.status, stored.used_location, stored.used_by) == (
        Voucher.Status.USED,
        location,
        staff_user,
    )
    assert stored.used_at is not None
    assert list(VoucherUse.objects.values_list("voucher_id", "amount", "location_id")) == [
        (voucher.pk, voucher.value, location.pk)
    ]
    assert Event.objects.filter(type="voucher.used", member=member).count() == 1


def test_second_use_is_refused(member, location, refused):
    voucher = redeemed_voucher(member)
    voucher_use(code=voucher.code, location=location)

    refused(errors.VoucherAlreadyUsed, lambda: voucher_use(code=voucher.code, location=location))
    assert VoucherUse.objects.filter(voucher=voucher).count() == 1


def test_voucher_past_its_expiry_is_refused(member, refused):
    voucher = redeemed_voucher(member, RewardFactory(voucher_valid_days=30))

    refused(
        errors.VoucherExpired,
        lambda: voucher_use(code=voucher.code, at=voucher.expires_at),
    )
    used = voucher_use(code=voucher.code, at=voucher.expires_at - timedelta(seconds=1))
    assert used.status == Voucher.Status.USED


def test_voucher_marked_expired_is_refused_even_before_its_date(member, refused):
    voucher = redeemed_voucher(member)
    Voucher.objects.filter(pk=voucher.pk).update(status=Voucher.Status.EXPIRED)

    refused(errors.VoucherExpired, lambda: voucher_use(code=voucher.code))


def test_cancelled_voucher_is_refused(member, staff_user, refused):
    voucher = redeemed_voucher(member)
    voucher_cancel(voucher=voucher, actor=staff_user, reason="Mistake")

    refused(errors.VoucherCancelled, lambda: voucher_use(code=voucher.code))


def test_voucher_is_usable_only_at_its_locations(member, location, other_location, refused):
    reward = RewardFactory()
    reward.locations.set([location])
    voucher = redeemed_voucher(member, reward)

    refused(
        errors.VoucherNotValidHere,
        lambda: voucher_use(code=voucher.code, location=other_location),
    )
    assert voucher_use(code=voucher.code, location=location).status == Voucher.Status.USED


def test_voucher_without_locations_is_usable_everywhere(member, other_location):
    voucher = redeemed_voucher(member)

    assert voucher_use(code=voucher.code, location=other_location).used_location == other_location


def test_validate_writes_nothing_and_says_why_not(member, location, refused):
    voucher = redeemed_voucher(member)

    assert voucher_validate(code=voucher.formatted_code, location=location).pk == voucher.pk
    assert Voucher.objects.get(pk=voucher.pk).status == Voucher.Status.ISSUED
    voucher_use(code=voucher.code)
    refused(errors.VoucherAlreadyUsed, lambda: voucher_validate(code=voucher.code))


# Partners ------------------------------------------------------------------------------------


@pytest.fixture
def partner_voucher(member, partner_a):
    reward = RewardFactory(kind=Reward.Kind.PARTNER, partner=partner_a, value=Decimal("6.00"))
    return redeemed_voucher(member, reward)


def test_partner_uses_its_own_voucher(partner_voucher, partner_a):
    used = voucher_use(code=partner_voucher.code, partner=partner_a)

    assert (used.status, used.used_partner) == (Voucher.Status.USED, partner_a)
    assert VoucherUse.objects.get(voucher=partner_voucher).partner == partner_a


def test_partner_voucher_is_usable_at_the_partners_shop(partner_voucher, partner_a, shop_a):
    used = voucher_use(code=partner_voucher.code, location=shop_a)

    assert (used.used_location, used.used_partner) == (shop_a, partner_a)
    assert VoucherUse.objects.get(voucher=partner_voucher).partner == partner_a


def test_partner_voucher_used_by_another_partner_is_not_found(
    partner_voucher, partner_b, shop_b, refused
):
    refused(
        errors.VoucherNotFound, lambda: voucher_use(code=partner_voucher.code, partner=partner_b)
    )
    refused(errors.VoucherNotFound, lambda: voucher_use(code=partner_voucher.code, location=shop_b))
    refused(
        errors.VoucherNotFound,
        lambda: voucher_validate(code=partner_voucher.code, partner=partner_b),
    )


def test_another_partner_learns_nothing_even_of_a_used_voucher(
    partner_voucher, partner_a, partner_b, refused
):
    voucher_use(code=partner_voucher.code, partner=partner_a)

    refused(
        errors.VoucherNotFound, lambda: voucher_use(code=partner_voucher.code, partner=partner_b)
    )


def test_partner_voucher_at_the_programmes_till_is_not_valid_here(
    partner_voucher, location, refused
):
    refused(
        errors.VoucherNotValidHere,
        lambda: voucher_use(code=partner_voucher.code, location=location),
    )
    refused(errors.VoucherNotValidHere, lambda: voucher_use(code=partner_voucher.code))


def test_programme_voucher_used_by_a_partner_is_not_found(member, partner_a, shop_a, refused):
    voucher = redeemed_voucher(member)

    refused(errors.VoucherNotFound, lambda: voucher_use(code=voucher.code, partner=partner_a))
    refused(errors.VoucherNotFound, lambda: voucher_use(code=voucher.code, location=shop_a))


# Store credit --------------------------------------------------------------------------------


@pytest.fixture
def store_credit(member):
    reward = RewardFactory(kind=Reward.Kind.STORE_CREDIT, points_cost=100, value=Decimal("10.00"))
    return redeemed_voucher(member, reward)


def test_store_credit_is_drawn_down_in_parts_to_zero(store_credit, location, refused):
    for amount, left in [("3.00", "7.00"), ("4,50", "2.50"), (Decimal("2.50"), "0.00")]:
        voucher = voucher_use(code=store_credit.code, location=location, amount=amount)
        assert voucher.remaining_value == Decimal(left)

    stored = Voucher.objects.get(pk=store_credit.pk)
    assert (stored.status, stored.remaining_value) == (Voucher.Status.USED, Decimal("0.00"))
    assert list(
        VoucherUse.objects.filter(voucher=store_credit)
        .order_by("pk")
        .values_list("amount", flat=True)
    ) == [Decimal("3.00"), Decimal("4.50"), Decimal("2.50")]
    refused(
        errors.VoucherAlreadyUsed,
        lambda: voucher_use(code=store_credit.code, location=location, amount="0.01"),
    )


def test_store_credit_stays_issued_while_value_remains(store_credit):
    voucher_use(code=store_credit.code, amount="9.99")

    stored = Voucher.objects.get(pk=store_credit.pk)
    assert (stored.status, stored.remaining_value, stored.used_at) == (
        Voucher.Status.ISSUED,
        Decimal("0.01"),
        None,
    )


def test_store_credit_without_an_amount_uses_what_is_left(store_credit):
    voucher_use(code=store_credit.code, amount="4.00")

    voucher = voucher_use(code=store_credit.code)

    assert (voucher.status, voucher.remaining_value) == (Voucher.Status.USED, Decimal("0"))
    assert VoucherUse.objects.filter(voucher=store_credit).order_by("-pk")[0].amount == Decimal(
        "6.00"
    )


def test_draw_down_above_the_remaining_value_is_refused(store_credit, refused):
    voucher_use(code=store_credit.code, amount="6.00")

    error = refused(
        errors.AmountAboveRemaining,
        lambda: voucher_use(code=store_credit.code, amount="4.01"),
    )

    assert "4.00" in error.detail


@pytest.mark.parametrize("amount", ["-1.00", "0", "0.00", Decimal("-0.01"), "abc", "1e1", "1.005"])
def test_bad_draw_down_amounts_are_refused(amount, store_credit, refused):
    refused(errors.InvalidAmount, lambda: voucher_use(code=store_credit.code, amount=amount))


def test_amount_on_a_voucher_that_is_not_store_credit_is_refused(member, refused):
    voucher = redeemed_voucher(member)

    refused(errors.InvalidInput, lambda: voucher_use(code=voucher.code, amount="2.00"))


# --------------------------------------------------------------------------------------------
# voucher_cancel
# --------------------------------------------------------------------------------------------


def test_cancel_gives_back_the_points_with_the_original_lots_expiry_and_funder(
    program, member, shop_a, partner_a, staff_user
):
    program.validity = Validity.ROLLING
    program.validity_months = 12
    program.save()
    now = timezone.now()
    # Earned at the partner's shop 30 days ago: expires first, funded by the partner.
    purchase_record(
        member=member, location=shop_a, total="100.00", occurred_at=now - timedelta(days=30)
    )
    give_points(member, 80)
    lots_before = {
        (lot.funded_by_id, lot.expires_at) for lot in PointsLot.objects.filter(member=member)
    }
    reward = RewardFactory(points_cost=150, stock=3)
    voucher = reward_redeem(member=member, reward=reward)
    assert fresh(member).balance == 30

    cancelled = voucher_cancel(voucher=voucher, actor=staff_user, reason="Changed mind")

    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        Voucher.Status.CANCELLED,
        staff_user,
        "Changed mind",
    )
    assert cancelled.cancelled_at is not None
    assert voucher.status == Voucher.Status.CANCELLED
    assert fresh(member).balance == 180
    reversals = LedgerEntry.objects.filter(member=member, kind=EntryKind.REVERSE)
    new_lots = sorted(
        ((e.lot.amount, e.lot.funded_by_id, e.lot.expires_at) for e in reversals),
        key=lambda t: t[0],
    )
    expiry_by_funder = dict(lots_before)
    assert new_lots == [
        (50, None, expiry_by_funder[None]),
        (100, partner_a.pk, expiry_by_funder[partner_a.pk]),
    ]
    assert stock_of(reward) == 3
    assert Event.objects.filter(type="voucher.cancelled", member=member).count() == 1


def test_cancel_of_an_issued_voucher_returns_stock_and_writes_no_points(member, staff_user):
    reward = RewardFactory(points_cost=None, stock=1)
    voucher = issued_voucher(member, reward)

    voucher_cancel(voucher=voucher, actor=staff_user, reason="Given by mistake")

    assert stock_of(reward) == 1
    assert not LedgerEntry.objects.filter(member=member, kind=EntryKind.REVERSE).exists()
    assert fresh(member).balance == 0


def test_cancel_is_refused_for_used_expired_and_cancelled_vouchers(member, staff_user, refused):
    used = redeemed_voucher(member)
    voucher_use(code=used.code)
    expired = redeemed_voucher(member)
    Voucher.objects.filter(pk=expired.pk).update(status=Voucher.Status.EXPIRED)
    cancelled = redeemed_voucher(member)
    voucher_cancel(voucher=cancelled, actor=staff_user, reason="First time")

    for voucher, error in [
        (used, errors.VoucherAlreadyUsed),
        (expired, errors.VoucherExpired),
        (cancelled, errors.VoucherCancelled),
    ]:
        refused(error, lambda v=voucher: voucher_cancel(voucher=v, actor=staff_user, reason="x"))


def test_cancel_after_the_expiry_date_is_refused_and_keeps_the_points(member, staff_user, refused):
    voucher = redeemed_voucher(member, RewardFactory(voucher_valid_days=30))

    refused(
        errors.VoucherExpired,
        lambda: voucher_cancel(
            voucher=voucher, actor=staff_user, reason="Late", at=voucher.expires_at
        ),
    )
    assert fresh(member).balance == 0


def test_cancel_of_partly_used_store_credit_is_refused(member, staff_user, refused):
    reward = RewardFactory(kind=Reward.Kind.STORE_CREDIT, value=Decimal("10.00"))
    voucher = redeemed_voucher(member, reward)
    voucher_use(code=voucher.code, amount="1.00")

    refused(
        errors.VoucherAlreadyUsed,
        lambda: voucher_cancel(voucher=voucher, actor=staff_user, reason="x"),
    )


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_cancel_needs_a_reason(reason, member, staff_user, refused):
    voucher = redeemed_voucher(member)

    refused(
        errors.ReasonRequired,
        lambda: voucher_cancel(voucher=voucher, actor=staff_user, reason=reason),
    )


def test_cancel_with_a_too_long_reason_is_refused(member, staff_user, refused):
    voucher = redeemed_voucher(member)

    refused(
        errors.InvalidInput,
        lambda: voucher_cancel(voucher=voucher, actor=staff_user, reason="x" * 256),
    )


def test_cancelling_twice_gives_the_points_back_once(member, staff_user):
    voucher = redeemed_voucher(member)
    voucher_cancel(voucher=voucher, actor=staff_user, reason="Once")

    with pytest.raises(errors.VoucherCancelled):
        # A stale copy of the voucher still says "issued": the service reads the row.
        stale = Voucher.objects.get(pk=voucher.pk)
        stale.status = Voucher.Status.ISSUED
        voucher_cancel(voucher=stale, actor=staff_user, reason="Twice")

    assert fresh(member).balance == 100
    assert LedgerEntry.objects.filter(member=member, kind=EntryKind.REVERSE).count() == 1


def test_a_digital_voucher_whose_code_was_revealed_cannot_be_cancelled(member, staff_user):
    # The member has seen the code: giving the points back and the code to someone else
    # would let one code be used twice.
    ebook = RewardFactory(kind=Reward.Kind.DIGITAL, points_cost=100)
    code = DigitalCode.objects.create(reward=ebook, code="EBOOK-1")
    voucher = redeemed_voucher(member, ebook)

    with pytest.raises(errors.VoucherAlreadyUsed):
        voucher_cancel(voucher=voucher, actor=staff_user, reason="Not delivered")

    code.refresh_from_db()
    voucher.refresh_from_db()
    assert code.voucher == voucher
    assert voucher.status == Voucher.Status.ISSUED


# --------------------------------------------------------------------------------------------
# Expiry job
# --------------------------------------------------------------------------------------------


def test_expire_due_marks_only_issued_vouchers_past_expiry_and_is_safe_to_rerun(member):
    reward = RewardFactory(voucher_valid_days=10, points_cost=None, stock=None)
    now = timezone.now()
    due = [issued_voucher(member, reward, at=now - timedelta(days=d)) for d in (11, 10)]
    fresh_one = issued_voucher(member, reward, at=now - timedelta(days=9))
    used = issued_voucher(member, reward, at=now - timedelta(days=20))
    voucher_use(code=used.code, at=now - timedelta(days=19))
    forever = voucher_issue(
        member=member,
        reward=RewardFactory(voucher_valid_days=None),
        origin=Voucher.Origin.CAMPAIGN,
    )

    assert vouchers_expire_due(as_of=now) == 2
    events = Event.objects.filter(type="voucher.expired").count()
    assert vouchers_expire_due(as_of=now) == 0

    statuses = dict(Voucher.objects.values_list("pk", "status"))
    assert [statuses[v.pk] for v in due] == [Voucher.Status.EXPIRED] * 2
    assert statuses[fresh_one.pk] == Voucher.Status.ISSUED
    assert statuses[used.pk] == Voucher.Status.USED
    assert statuses[forever.pk] == Voucher.Status.ISSUED
    assert events == 2
    assert Event.objects.filter(type="voucher.expired").count() == 2


def test_expired_voucher_keeps_its_points_spent(member, staff_user, refused):
    voucher = redeemed_voucher(member, RewardFactory(voucher_valid_days=1))
    vouchers_expire_due(as_of=timezone.now() + timedelta(days=2))

    refused(
        errors.VoucherExpired,
        lambda: voucher_cancel(voucher=voucher, actor=staff_user, reason="Please"),
    )
    assert fresh(member).balance == 0


def test_expire_due_works_in_chunks(member):
    reward = RewardFactory(voucher_valid_days=1, points_cost=None, stock=None)
    past = timezone.now() - timedelta(days=3)
    for _ in range(7):
        issued_voucher(member, reward, at=past)

    assert vouchers_expire_due(chunk_size=3) == 7
    assert not Voucher.objects.filter(status=Voucher.Status.ISSUED).exists()


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    value_cents=st.integers(min_value=1, max_value=5000),
    draws=st.lists(st.integers(min_value=-100, max_value=3000), max_size=8),
)
def test_store_credit_never_goes_below_zero_and_every_cent_is_accounted_for(
    member, value_cents, draws
):
    value = Decimal(value_cents) / 100
    with transaction.atomic():
        reward = RewardFactory(kind=Reward.Kind.STORE_CREDIT, points_cost=None, value=value)
        voucher = issued_voucher(member, reward)
        left = value
        for cents in draws:
            amount = Decimal(cents) / 100
            try:
                voucher_use(code=voucher.code, amount=amount)
            except errors.LoyaltyError as exc:
                if left == 0:
                    assert isinstance(exc, errors.VoucherAlreadyUsed)
                elif amount <= 0:
                    assert isinstance(exc, errors.InvalidAmount)
                else:
                    assert isinstance(exc, errors.AmountAboveRemaining)
                    assert amount > left
            else:
                assert 0 < amount <= left
                left -= amount
            stored = Voucher.objects.get(pk=voucher.pk)
            assert stored.remaining_value == left
            assert stored.status == (Voucher.Status.USED if left == 0 else Voucher.Status.ISSUED)
            used = VoucherUse.objects.filter(voucher=voucher).values_list("amount", flat=True)
            assert sum(used, Decimal(0)) + left == value
        transaction.set_rollback(True)
