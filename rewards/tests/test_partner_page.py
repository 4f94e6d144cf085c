"""The partner page: each partner's staff validate and use only their own partner's vouchers."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.html import strip_tags

from loyalty.roles import CASHIER, PARTNER_STAFF
from loyalty.selectors import ledger_drift
from loyalty.tests.factories import StaffUserFactory
from members.tests.factories import MemberFactory
from rewards.models import Reward, Voucher, VoucherUse
from rewards.tests.factories import PartnerFactory, RewardFactory, issued_voucher
from rewards.views import SESSION_PARTNER

HOME = reverse("partner:home")


def html(response) -> str:
    return response.content.decode()


def text(response) -> str:
    return " ".join(strip_tags(html(response)).split())


def snapshot():
    return (
        tuple(Voucher.objects.order_by("pk").values_list("pk", "status", "remaining_value")),
        VoucherUse.objects.count(),
    )


def check(client, code):
    return client.post(HOME, {"action": "check", "voucher-code": code})


def use(client, code, amount=None, remaining=""):
    data = {"action": "use", "use-code": code, "use-remaining": remaining}
    if amount is not None:
        data["use-amount"] = amount
    return client.post(HOME, data)


@pytest.fixture(autouse=True)
def _english_and_a_clean_ledger(db):
    with translation.override("en"):
        yield
    assert ledger_drift() == []


@pytest.fixture
def bakery(db):
    return PartnerFactory(name="Bakery Aalto")


@pytest.fixture
def cinema(db):
    return PartnerFactory(name="Cinema Kino")


def partner_staff(partner, **kwargs):
    user = StaffUserFactory(role=PARTNER_STAFF, **kwargs)
    partner.staff.add(user)
    return user


@pytest.fixture
def bakery_staff(bakery):
    return partner_staff(bakery, username="baker")


@pytest.fixture
def cinema_staff(cinema):
    return partner_staff(cinema, username="usher")


@pytest.fixture
def anna(program):
    return MemberFactory(
        first_name="Anna", last_name="Virtanen", phone="+358401234567", email="anna@example.com"
    )


@pytest.fixture
def bun(bakery):
    return RewardFactory(name="Free bun", kind=Reward.Kind.PARTNER, partner=bakery)


@pytest.fixture
def ticket(cinema):
    return RewardFactory(name="Cinema ticket", kind=Reward.Kind.PARTNER, partner=cinema)


@pytest.fixture
def baker_client(client, bakery_staff):
    client.force_login(bakery_staff)
    return client


# ------------------------------------------------------------------------------------------
# Access
# ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_user_is_sent_to_the_login_and_back(client):
    response = client.get(HOME)

    assert response.status_code == 302
    assert response.url == f"{reverse('admin:login')}?next={HOME}"


def test_user_without_the_partner_permission_gets_403(client, bakery, location):
    # a cashier is linked to the partner's staff but lacks the partner page permission
    user = StaffUserFactory(role=CASHIER, locations=[location])
    bakery.staff.add(user)
    client.force_login(user)

    assert client.get(HOME).status_code == 403
    assert check(client, "ABCDE-FGHJK").status_code == 403


def test_partner_staff_not_linked_to_a_partner_gets_403(client, program):
    client.force_login(StaffUserFactory(role=PARTNER_STAFF))

    response = client.get(HOME)

    assert response.status_code == 403
    assert "not linked to any active partner" in text(response)


def test_staff_of_two_partners_chooses_one_and_it_is_remembered(client, bakery, cinema, program):
    user = partner_staff(bakery)
    cinema.staff.add(user)
    client.force_login(user)

    response = client.get(HOME)
    assert response.url == f"{reverse('partner:choose')}?next=%2Fpartner%2F"
    response = client.post(reverse("partner:choose"), {"partner": cinema.pk, "next": HOME})

    assert response.url == HOME
    assert client.session[SESSION_PARTNER] == cinema.pk
    assert "Vouchers for Cinema Kino" in text(client.get(HOME))


def test_staff_cannot_choose_a_partner_they_do_not_work_for(client, bakery, cinema, program):
    user = partner_staff(bakery)
    PartnerFactory(name="Third").staff.add(user)
    client.force_login(user)

    response = client.post(reverse("partner:choose"), {"partner": cinema.pk})

    assert response.status_code == 400
    assert SESSION_PARTNER not in client.session


# ------------------------------------------------------------------------------------------
# Validate and use
# ------------------------------------------------------------------------------------------


def test_partner_staff_validates_and_uses_their_own_voucher(
    baker_client, bakery, bakery_staff, anna, bun
):
    voucher = issued_voucher(anna, bun)

    checked = check(baker_client, voucher.code.lower())

    page = text(checked)
    assert checked.status_code == 200
    assert "Free bun" in page
    assert "Anna V." in page
    # partners see the first name and last initial only
    assert "Virtanen" not in page
    assert "+358401234567" not in html(checked)
    assert "anna@example.com" not in html(checked)
    assert anna.formatted_card_number not in page
    assert Voucher.objects.get().status == "issued"

    response = use(baker_client, voucher.code)

    assert response.status_code == 302
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_partner, voucher.used_by) == (
        "used",
        bakery,
        bakery_staff,
    )
    after = baker_client.get(HOME)
    assert f"Voucher {voucher.formatted_code} used: Free bun." in text(after)
    assert "Virtanen" not in text(after)


def test_another_partners_voucher_and_a_programme_voucher_are_not_found(
    baker_client, anna, ticket, program
):
    theirs = issued_voucher(anna, ticket)
    programme = issued_voucher(anna, RewardFactory(name="Free coffee"))
    before = snapshot()

    for voucher in (theirs, programme):
        checked = check(baker_client, voucher.formatted_code)
        used = use(baker_client, voucher.code)

        for response in (checked, used):
            assert response.status_code == 400
            assert re.search(
                r'id="id_voucher-code-errors"><li>No voucher has this code', html(response)
            )
            assert "Cinema ticket" not in text(response)
            assert "Free coffee" not in text(response)
            assert "Anna" not in text(response)
    assert snapshot() == before


def test_second_use_is_refused(baker_client, anna, bun):
    voucher = issued_voucher(anna, bun)
    use(baker_client, voucher.code)
    before = snapshot()

    response = use(baker_client, voucher.code)

    assert response.status_code == 400
    assert "This voucher has already been used." in text(response)
    assert snapshot() == before


def test_partner_store_credit_is_drawn_down_and_refused_above_what_is_left(
    baker_client, anna, bakery
):
    credit = RewardFactory(
        name="Bakery credit",
        kind=Reward.Kind.STORE_CREDIT,
        partner=bakery,
        points_cost=None,
        value=Decimal("8.00"),
    )
    voucher = issued_voucher(anna, credit)
    checked = check(baker_client, voucher.code)
    assert 'name="use-amount" value="8.00"' in html(checked)

    use(baker_client, voucher.code, amount="3", remaining="8.00")
    refused = use(baker_client, voucher.code, amount="6", remaining="5.00")

    voucher.refresh_from_db()
    assert voucher.remaining_value == Decimal("5.00")
    assert refused.status_code == 400
    assert re.search(r'id="id_use-amount-errors"><li>Only €5.00 is left', html(refused))


def test_the_list_shows_only_this_partners_uses_and_the_months_totals(
    client, baker_client, bakery, cinema_staff, anna, bun, ticket
):
    mine = issued_voucher(anna, bun)
    theirs = issued_voucher(anna, ticket)
    use(baker_client, mine.code)
    client.force_login(cinema_staff)
    assert use(client, theirs.code).status_code == 302
    client.get(HOME)  # the cinema's confirmation is shown there
    client.force_login(bakery.staff.get())

    page = client.get(HOME)

    table = html(page).split('data-testid="uses"')[1]
    assert mine.formatted_code in table
    assert theirs.formatted_code not in html(page)
    assert "Cinema ticket" not in text(page)
    month = text(page).split("This month")[1]
    assert "Vouchers used 1 Value used €5.00 Owed to you by the programme €5.00" in month


def test_the_list_is_paginated(baker_client, anna, bun, program):
    for _ in range(21):
        use(baker_client, issued_voucher(anna, bun).code)

    first = baker_client.get(HOME)
    second = baker_client.get(f"{HOME}?page=2")

    assert "Page 1 of 2" in text(first)
    assert html(first).split('data-testid="uses"')[1].count("<tr>") == 21  # header + 20
    assert html(second).split('data-testid="uses"')[1].count("<tr>") == 2
    assert baker_client.get(f"{HOME}?page=abc").status_code == 200
