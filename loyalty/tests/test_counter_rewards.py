"""Rewards at the counter: redeem for a member, use a voucher, pay with points (cashier)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import strip_tags

from loyalty.models import LedgerEntry
from loyalty.selectors import ledger_drift
from loyalty.tests.factories import StaffUserFactory
from members.tests.factories import MemberFactory
from rewards.models import PointsPayment, Reward, Voucher, VoucherUse
from rewards.tests.factories import RewardFactory, give_points, issued_voucher

USE = reverse("counter:voucher_use")


def html(response) -> str:
    return response.content.decode()


def text(response) -> str:
    return " ".join(strip_tags(html(response)).split())


def token_of(response, name="token") -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html(response))
    assert match, f"no {name} on the page"
    return match.group(1)


def member_url(member):
    return reverse("counter:member", args=[member.pk])


def redeem_url(member, reward):
    return reverse("counter:redeem", args=[member.pk, reward.pk])


def pay_url(member):
    return reverse("counter:pay", args=[member.pk])


def snapshot():
    """Everything a rewards write could change, to show that a refusal wrote nothing."""
    return (
        tuple(Voucher.objects.order_by("pk").values_list("pk", "status", "remaining_value")),
        VoucherUse.objects.count(),
        PointsPayment.objects.count(),
        LedgerEntry.objects.count(),
        tuple(Reward.objects.order_by("pk").values_list("pk", "stock")),
    )


@pytest.fixture(autouse=True)
def _english_and_a_clean_ledger(db):
    # Reward names are translated fields: create and read them in one language, whatever
    # language an earlier test left active.
    with translation.override("en"):
        yield
    assert ledger_drift() == []


@pytest.fixture
def anna(program):
    return MemberFactory(first_name="Anna", last_name="Virtanen")


@pytest.fixture
def coffee(program):
    return RewardFactory(name="Free coffee", points_cost=100, voucher_valid_days=30)


@pytest.fixture
def credit(program):
    return RewardFactory(
        name="Ten euro credit",
        kind=Reward.Kind.STORE_CREDIT,
        points_cost=None,
        value=Decimal("10.00"),
    )


def check(client, code, **extra):
    return client.post(USE, {"action": "check", "voucher-code": code, **extra})


def confirm(client, response, amount=None, **extra):
    """Send the confirmation form that a check showed."""
    data = {
        "action": "use",
        "use-code": token_of(response, "use-code"),
        "use-remaining": re.search(r'name="use-remaining"(?: value="([^"]*)")?', html(response))[1]
        or "",
        **extra,
    }
    if amount is not None:
        data["use-amount"] = amount
    return client.post(USE, data)


# ------------------------------------------------------------------------------------------
# Catalogue and redemption
# ------------------------------------------------------------------------------------------


def test_panel_lists_the_catalogue_with_the_reasons_a_reward_cannot_be_redeemed(
    cashier_client, anna, coffee
):
    RewardFactory(name="Cinema ticket", points_cost=500)
    give_points(anna, 120)

    response = cashier_client.get(member_url(anna))

    page = text(response)
    assert "Free coffee 100 points Redeem Free coffee" in page
    assert "Cinema ticket 500 points 380 more points" in page
    assert redeem_url(anna, coffee) in html(response)


def test_redeem_asks_for_confirmation_then_shows_the_voucher_code_qr_and_expiry(
    cashier_client, cashier_user, anna, coffee
):
    give_points(anna, 150)

    # given the confirmation page, which writes nothing
    page = cashier_client.get(redeem_url(anna, coffee))
    assert "Redeem Free coffee for Anna Virtanen?" in text(page)
    assert "Balance after 50 points" in text(page)
    assert Voucher.objects.count() == 0

    # when the cashier confirms
    response = cashier_client.post(redeem_url(anna, coffee), {"token": token_of(page)})

    # then one voucher is issued, by the cashier, for the points
    voucher = Voucher.objects.get()
    assert (voucher.member, voucher.reward, voucher.issued_by) == (anna, coffee, cashier_user)
    assert response.url == reverse("counter:voucher", args=[anna.pk, voucher.pk])
    anna.refresh_from_db()
    assert anna.balance == 50
    shown = cashier_client.get(response.url)
    assert voucher.formatted_code in text(shown)
    assert "<svg" in html(shown)
    assert "Free coffee redeemed for 100 points." in text(shown)
    assert date_format(timezone.localtime(voucher.expires_at), "DATETIME_FORMAT") in text(shown)
    # and the member panel lists it among the vouchers
    assert voucher.formatted_code in text(cashier_client.get(member_url(anna)))


def test_voucher_page_shows_a_scalable_qr_and_the_digital_code_and_download_link(
    cashier_client, anna
):
    from rewards.models import DigitalCode

    ebook = RewardFactory(
        name="E-book",
        kind=Reward.Kind.DIGITAL,
        points_cost=10,
        digital_url="https://example.com/book.pdf",
    )
    DigitalCode.objects.create(reward=ebook, code="BOOK-1234")
    give_points(anna, 50)
    page = cashier_client.get(redeem_url(anna, ebook))

    response = cashier_client.post(redeem_url(anna, ebook), {"token": token_of(page)})

    shown = cashier_client.get(response.url)
    assert 'data-testid="digital-code">BOOK-1234<' in html(shown)
    assert 'href="https://example.com/book.pdf"' in html(shown)
    # the QR code scales with the CSS width instead of being cut off
    assert html(shown).count("viewBox=") == 1
    # once used, the code and the link are no longer shown
    Voucher.objects.filter(pk=Voucher.objects.get().pk).update(status=Voucher.Status.USED)
    again = html(cashier_client.get(response.url))
    assert "BOOK-1234" not in again and "book.pdf" not in again


def test_double_submit_of_a_redemption_redeems_once(cashier_client, anna, coffee):
    give_points(anna, 250)
    token = token_of(cashier_client.get(redeem_url(anna, coffee)))

    first = cashier_client.post(redeem_url(anna, coffee), {"token": token})
    second = cashier_client.post(redeem_url(anna, coffee), {"token": token}, follow=True)

    anna.refresh_from_db()
    assert Voucher.objects.count() == 1
    assert LedgerEntry.objects.filter(member=anna, kind="redeem").count() == 1
    assert anna.balance == 150
    assert second.redirect_chain[-1][0] == first.url
    assert "already redeemed; nothing more was spent" in text(second)


def test_redeem_with_too_few_points_shows_the_error_and_writes_nothing(
    cashier_client, anna, coffee
):
    give_points(anna, 40)
    page = cashier_client.get(redeem_url(anna, coffee))
    assert "60 more points" in text(page)
    before = snapshot()

    response = cashier_client.post(redeem_url(anna, coffee), {"token": "a" * 22})

    assert response.status_code == 400
    assert "Not enough points: 40 available, 100 needed." in text(response)
    assert snapshot() == before


def test_redeem_out_of_stock_shows_the_error_and_writes_nothing(cashier_client, anna, coffee):
    Reward.objects.filter(pk=coffee.pk).update(stock=0)
    give_points(anna, 500)
    before = snapshot()

    response = cashier_client.post(redeem_url(anna, coffee), {"token": "b" * 22})

    assert response.status_code == 400
    assert "This reward is out of stock." in text(response)
    assert snapshot() == before


def test_redeem_needs_the_permission(client, location, anna, coffee):
    # a user who may use the counter but not issue vouchers
    user = StaffUserFactory(locations=[location])
    user.user_permissions.add(Permission.objects.get(codename="use_counter"))
    client.force_login(user)
    give_points(anna, 500)

    assert "Rewards" not in text(client.get(member_url(anna)))
    assert client.post(redeem_url(anna, coffee), {"token": "c" * 22}).status_code == 403
    assert client.post(USE, {"action": "check", "voucher-code": "x"}).status_code == 403
    assert client.post(pay_url(anna), {"pay-amount": "5"}).status_code == 403
    assert Voucher.objects.count() == 0


# ------------------------------------------------------------------------------------------
# Using vouchers
# ------------------------------------------------------------------------------------------


def test_use_a_voucher_typed_in_lower_case_without_the_dash(
    cashier_client, cashier_user, location, anna, coffee
):
    voucher = issued_voucher(anna, coffee)

    checked = check(cashier_client, voucher.code.lower())
    assert checked.status_code == 200
    assert "Free coffee" in text(checked)
    assert "Anna Virtanen" in text(checked)
    assert Voucher.objects.get().status == "issued"  # checking writes nothing

    response = confirm(cashier_client, checked)

    voucher.refresh_from_db()
    assert response.status_code == 302
    assert (voucher.status, voucher.used_location, voucher.used_by) == (
        "used",
        location,
        cashier_user,
    )
    page = text(cashier_client.get(response.url))
    assert f"Voucher {voucher.formatted_code} used: Free coffee." in page


def test_second_use_is_refused(cashier_client, anna, coffee):
    voucher = issued_voucher(anna, coffee)
    checked = check(cashier_client, voucher.formatted_code)
    confirm(cashier_client, checked)
    before = snapshot()

    again = confirm(cashier_client, checked)
    rechecked = check(cashier_client, voucher.code)

    assert again.status_code == 400
    assert "This voucher has already been used." in text(again)
    assert rechecked.status_code == 400
    assert re.search(
        r'id="id_voucher-code-errors"><li>This voucher has already been used.', html(rechecked)
    )
    assert snapshot() == before


def test_expired_voucher_is_refused(cashier_client, anna, coffee):
    voucher = issued_voucher(anna, coffee)
    Voucher.objects.filter(pk=voucher.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    before = snapshot()

    response = check(cashier_client, voucher.code)

    assert response.status_code == 400
    assert "This voucher has expired." in text(response)
    assert snapshot() == before


@pytest.mark.parametrize("code", ["", "nonsense", "ABCDE-FGHJK", "x" * 65])
def test_unknown_or_malformed_code_is_shown_next_to_the_field(cashier_client, program, code):
    response = check(cashier_client, code)

    assert response.status_code == 400
    assert 'id="id_voucher-code-errors"' in html(response)


def test_store_credit_is_drawn_down_in_parts_then_refused_above_what_is_left(
    cashier_client, anna, credit
):
    voucher = issued_voucher(anna, credit)

    # the whole credit is offered by default
    checked = check(cashier_client, voucher.code)
    assert "€10.00 of €10.00" in text(checked)
    assert 'name="use-amount" value="10.00"' in html(checked)

    response = confirm(cashier_client, checked, amount="4,50")
    assert response.status_code == 302
    voucher.refresh_from_db()
    assert (voucher.status, voucher.remaining_value) == ("issued", Decimal("5.50"))
    assert "€4.50 used from voucher" in text(cashier_client.get(response.url))

    # a resubmitted confirmation does not draw the amount a second time
    before = snapshot()
    again = confirm(cashier_client, checked, amount="4,50")
    assert again.status_code == 400
    assert "used since it was checked" in text(again)
    assert snapshot() == before

    checked = check(cashier_client, voucher.code)
    refused = confirm(cashier_client, checked, amount="6")
    assert refused.status_code == 400
    assert re.search(r'id="id_use-amount-errors"><li>Only €5.50 is left', html(refused))
    assert snapshot() == before

    confirm(cashier_client, checked, amount="5.50")
    voucher.refresh_from_db()
    assert (voucher.status, voucher.remaining_value) == ("used", Decimal("0.00"))
    assert VoucherUse.objects.filter(voucher=voucher).count() == 2


def test_use_from_the_member_panel_returns_to_the_panel(cashier_client, anna, coffee):
    voucher = issued_voucher(anna, coffee)
    checked = check(cashier_client, voucher.code, next=member_url(anna))

    response = confirm(cashier_client, checked, next=member_url(anna))

    assert response.url == member_url(anna)


def test_use_page_is_reachable_from_the_counter_home(cashier_client, program):
    home = cashier_client.get(reverse("counter:home"))

    assert f'href="{USE}"' in html(home)
    assert cashier_client.get(USE).status_code == 200


# ------------------------------------------------------------------------------------------
# Paying with points
# ------------------------------------------------------------------------------------------


def test_pay_with_points_shows_the_quote_then_pays_once(
    cashier_client, cashier_user, program, location, anna
):
    program.point_value = Decimal("0.01")
    program.save()
    give_points(anna, 800)
    token = token_of(cashier_client.get(member_url(anna)), "pay-token")

    # the quote: as many points as the balance and the amount allow; nothing taken
    quote = cashier_client.post(
        pay_url(anna), {"pay-amount": "12,00", "pay-token": token, "action": "quote"}
    )
    assert quote.status_code == 200
    assert "800 points pay €8.00 of this purchase." in text(quote)
    assert PointsPayment.objects.count() == 0

    data = {"pay-amount": "12,00", "pay-points": "800", "pay-token": token, "action": "pay"}
    first = cashier_client.post(pay_url(anna), data)
    second = cashier_client.post(pay_url(anna), data, follow=True)

    payment = PointsPayment.objects.get()
    assert (payment.points, payment.amount, payment.location, payment.actor) == (
        800,
        Decimal("8.00"),
        location,
        cashier_user,
    )
    assert payment.external_id == f"pay:{token}"
    assert first.url == member_url(anna)
    assert "already recorded; nothing more was taken" in text(second)
    anna.refresh_from_db()
    assert anna.balance == 0


def test_pay_with_fewer_points_and_a_receipt_number(cashier_client, program, anna):
    program.point_value = Decimal("0.05")
    program.save()
    give_points(anna, 100)
    token = token_of(cashier_client.get(member_url(anna)), "pay-token")

    cashier_client.post(
        pay_url(anna),
        {
            "pay-amount": "20",
            "pay-points": "40",
            "pay-receipt": "R-9",
            "pay-token": token,
            "action": "pay",
        },
    )

    payment = PointsPayment.objects.get()
    assert (payment.points, payment.amount, payment.external_id) == (40, Decimal("2.00"), "R-9")


def test_pay_with_more_points_than_the_balance_shows_the_error_at_the_points(
    cashier_client, program, anna
):
    program.point_value = Decimal("0.01")
    program.save()
    give_points(anna, 10)
    before = snapshot()

    response = cashier_client.post(
        pay_url(anna),
        {"pay-amount": "5", "pay-points": "50", "pay-token": "d" * 22, "action": "pay"},
    )

    assert response.status_code == 400
    assert re.search(r'id="id_pay-points-errors"><li>Not enough points', html(response))
    assert snapshot() == before


def test_pay_with_points_is_disabled_when_a_point_is_worth_nothing(cashier_client, program, anna):
    assert program.point_value == 0
    give_points(anna, 500)

    panel = cashier_client.get(member_url(anna))
    assert "Paying with points is not enabled in this programme." in text(panel)
    assert 'name="pay-amount"' not in html(panel)

    response = cashier_client.post(
        pay_url(anna), {"pay-amount": "5", "pay-token": "e" * 22, "action": "pay"}
    )
    assert response.status_code == 400
    assert "Paying with points is not enabled" in text(response)
    assert PointsPayment.objects.count() == 0
