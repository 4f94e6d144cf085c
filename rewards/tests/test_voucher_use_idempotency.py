from decimal import Decimal

import pytest

from loyalty import errors
from rewards.models import Reward, Voucher, VoucherUse
from rewards.services import voucher_issue, voucher_use


@pytest.fixture
def credit(member):
    reward = Reward.objects.create(
        name="Credit", kind=Reward.Kind.STORE_CREDIT, value=Decimal("10")
    )
    return voucher_issue(
        member=member, reward=reward, origin=Voucher.Origin.STAFF, reason="goodwill"
    )


def test_a_repeated_draw_down_with_the_same_key_takes_nothing_more(credit, location):
    voucher_use(code=credit.code, location=location, amount="4", idempotency_key="till-1-42")
    again = voucher_use(
        code=credit.code, location=location, amount="4", idempotency_key="till-1-42"
    )

    assert again.remaining_value == Decimal("6.00")
    assert VoucherUse.objects.filter(voucher=credit).count() == 1


def test_another_key_draws_down_again(credit, location):
    voucher_use(code=credit.code, location=location, amount="4", idempotency_key="a")
    voucher_use(code=credit.code, location=location, amount="4", idempotency_key="b")

    credit.refresh_from_db()
    assert credit.remaining_value == Decimal("2.00")
    with pytest.raises(errors.AmountAboveRemaining):
        voucher_use(code=credit.code, location=location, amount="4", idempotency_key="c")


def test_a_confirmation_showing_an_older_remaining_value_is_refused(credit, location):
    voucher_use(code=credit.code, location=location, amount="4")

    with pytest.raises(errors.Conflict):
        voucher_use(
            code=credit.code, location=location, amount="4", expected_remaining=Decimal("10")
        )

    credit.refresh_from_db()
    assert credit.remaining_value == Decimal("6.00")
    assert VoucherUse.objects.filter(voucher=credit).count() == 1
