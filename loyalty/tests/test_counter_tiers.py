"""Tiers, VIP status and punch cards on the counter page, as the cashier at the till sees them."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import strip_tags

from loyalty.models import Benefit, Event, PunchCard, PunchCardType, Stamp, Tier, TierWindow
from loyalty.punch_cards import punch_card_stamp
from loyalty.selectors import ledger_drift
from loyalty.services import purchase_record
from loyalty.tests.factories import StaffUserFactory
from members.models import VipMembership
from members.tests.factories import MemberFactory
from members.vip import vip_grant
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

HOME = reverse("counter:home")


def html(response) -> str:
    return response.content.decode()


def text(response) -> str:
    return " ".join(strip_tags(html(response)).split())


def member_url(member):
    return reverse("counter:member", args=[member.pk])


def stamp_url(member, card_type):
    return reverse("counter:stamp", args=[member.pk, card_type.pk])


def stamp_form(response, card_type) -> dict:
    """Return the data of a card's Stamp form as the panel shows it (token and reason)."""
    prefix = f"stamp-{card_type.pk}"
    page = html(response)
    token = re.search(rf'name="{prefix}-token" value="([^"]+)"', page)
    reason = re.search(rf'name="{prefix}-reason" value="([^"]*)"', page)
    assert token and reason, f"no Stamp form for {card_type.name} on the page"
    return {f"{prefix}-token": token[1], f"{prefix}-reason": reason[1]}


def snapshot():
    """Everything a stamp could change, to show that a refusal wrote nothing."""
    return (
        tuple(PunchCard.objects.order_by("pk").values_list("pk", "stamps", "status")),
        Stamp.objects.count(),
        Voucher.objects.count(),
        Event.objects.count(),
    )


@pytest.fixture(autouse=True)
def _english_clean_cache_and_ledger(db):
    # Names of tiers, benefits and cards are translated fields: create and read them in one
    # language. Used stamp tokens live in the cache, which outlives a test's transaction.
    cache.clear()
    with translation.override("en"):
        yield
    assert ledger_drift() == []


@pytest.fixture
def anna(program):
    return MemberFactory(first_name="Anna", last_name="Virtanen")


@pytest.fixture
def tiers(program):
    """A shop over the calendar year: Silver from €100, Gold from €500 (gold coloured)."""
    program.tier_window = TierWindow.CALENDAR_YEAR
    program.save()
    free_shipping = Benefit.objects.create(code="free_shipping", name="Free shipping")
    silver = Tier.objects.create(rank=1, name="Silver", threshold=Decimal("100"))
    gold = Tier.objects.create(
        rank=2, name="Gold", threshold=Decimal("500"), multiplier=2, colour="#c0a040"
    )
    silver.benefits.add(free_shipping)
    gold.benefits.add(free_shipping)
    return silver, gold


@pytest.fixture
def coffee_card(program):
    reward = RewardFactory(name="Free coffee", points_cost=None)  # given, not sold
    return PunchCardType.objects.create(
        name="Coffee card",
        stamps_needed=10,
        earn_on=PunchCardType.EarnOn.PURCHASE,
        reward=reward,
    )


def stamps_on(member, card_type) -> int:
    card = PunchCard.objects.filter(
        member=member, card_type=card_type, status=PunchCard.Status.ACTIVE
    ).first()
    return card.stamps if card else 0


# ------------------------------------------------------------------------------------------
# The member panel
# ------------------------------------------------------------------------------------------


def test_panel_shows_tier_progress_vip_benefits_and_cards_as_stamps(
    cashier_client, location, anna, tiers, coffee_card
):
    # given a Silver member (€380 this year), VIP for a year, with 3 stamps on the coffee card
    purchase_record(member=anna, location=location, total="380", external_id="r1")
    vip_grant(member=anna, source=VipMembership.Source.PAID, fee="20", months=12)
    punch_card_stamp(member=anna, card_type=coffee_card, count=2, reason="Setup")
    Benefit.objects.create(code="early_access", name="Early access", for_vip=True)

    response = cashier_client.get(member_url(anna))

    assert response.status_code == 200
    page = text(response)
    assert "Tier Silver" in page
    assert "€120.00 more to Gold by" in page
    anna.refresh_from_db()
    until = date_format(timezone.localtime(anna.vip_until), "DATE_FORMAT")
    assert f"VIP until {until}" in page
    assert "Free shipping" in page and "Early access" in page  # readable, not the codes
    assert 'data-code="free_shipping"' in html(response)
    # the purchase gave one stamp, the cashier two: three filled circles of ten
    assert "Coffee card" in page and "Free coffee" in page
    assert "3 of 10 stamps" in page
    assert html(response).count("stamp stamp--filled") == 3
    assert html(response).count('class="stamp"') == 7
    assert re.search(r"<button[^>]*>Stamp<span", html(response))


def test_panel_says_what_it_takes_to_keep_the_tier(
    cashier_client, location, anna, tiers, coffee_card
):
    # given a Gold member (kept from last year) who has spent less than Gold needs this year
    _silver, gold = tiers
    anna.tier = gold
    anna.save(update_fields=["tier"])
    purchase_record(member=anna, location=location, total="450", external_id="r1")

    response = cashier_client.get(member_url(anna))

    page = text(response)
    assert "Tier Gold" in page
    assert "Keep Gold: €50.00 more by" in page
    assert "Top tier reached" in page
    assert "--tier-colour: #c0a040" in html(response)


def test_panel_of_a_member_without_tier_vip_or_cards_shows_none_of_them(cashier_client, anna):
    response = cashier_client.get(member_url(anna))

    page = text(response)
    assert "VIP" not in page
    assert 'data-testid="status"' not in html(response)
    assert 'data-testid="cards"' not in html(response)  # no card types in this programme


def test_member_panel_runs_the_same_queries_whatever_the_cards_and_history(
    cashier_client, program, location, tiers, coffee_card
):
    # given a second and a third card type, a member with nothing and one with everything
    for name in ("Sandwich card", "Salon card"):
        PunchCardType.objects.create(name=name, stamps_needed=8, reward=coffee_card.reward)
    new = MemberFactory()
    regular = MemberFactory()
    purchase_record(member=new, location=location, total="120", external_id="n1")
    for i in range(25):
        purchase_record(member=regular, location=location, total="30", external_id=f"r{i}")
    for card_type in PunchCardType.objects.all():
        punch_card_stamp(member=regular, card_type=card_type, count=3, reason="Setup")
    cashier_client.get(HOME)  # the session knows the location

    with CaptureQueriesContext(connection) as few:
        assert cashier_client.get(member_url(new)).status_code == 200
    with CaptureQueriesContext(connection) as many:
        assert cashier_client.get(member_url(regular)).status_code == 200

    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    # the panel of test_counter.py (12), and for tiers and cards: tier benefits, perk
    # vouchers, benefit names, the programme, the tiers, the qualifying spend, the card types
    # offered here, the member's collecting cards
    assert len(many) <= 20


# ------------------------------------------------------------------------------------------
# One tap to stamp
# ------------------------------------------------------------------------------------------


def test_one_tap_adds_one_stamp_with_the_cashier_and_the_default_reason(
    cashier_client, cashier_user, anna, coffee_card
):
    data = stamp_form(cashier_client.get(member_url(anna)), coffee_card)
    assert data[f"stamp-{coffee_card.pk}-reason"] == "Stamped at the counter"

    response = cashier_client.post(stamp_url(anna, coffee_card), data, follow=True)

    stamp = Stamp.objects.get()
    assert (stamp.count, stamp.source, stamp.actor, stamp.reason) == (
        1,
        Stamp.Source.MANUAL,
        cashier_user,
        "Stamped at the counter",
    )
    assert stamp.card.member == anna
    assert response.redirect_chain[-1][0] == f"{member_url(anna)}?stamp={stamp.pk}"
    page = text(response)
    assert "Stamp added to Coffee card: 1 of 10." in page
    assert "1 of 10 stamps" in page


def test_the_cashier_may_change_the_reason(cashier_client, anna, coffee_card):
    data = stamp_form(cashier_client.get(member_url(anna)), coffee_card)
    data[f"stamp-{coffee_card.pk}-reason"] = "Forgot the card yesterday"

    cashier_client.post(stamp_url(anna, coffee_card), data)

    assert Stamp.objects.get().reason == "Forgot the card yesterday"


def test_double_submit_with_the_same_token_stamps_once(cashier_client, anna, coffee_card):
    data = stamp_form(cashier_client.get(member_url(anna)), coffee_card)

    first = cashier_client.post(stamp_url(anna, coffee_card), data)
    second = cashier_client.post(stamp_url(anna, coffee_card), data, follow=True)

    assert stamps_on(anna, coffee_card) == 1
    assert Stamp.objects.count() == 1
    assert second.redirect_chain[-1][0] == first.url  # the first result, shown again
    assert "This stamp was already given; nothing more was added." in text(second)


def test_each_panel_gives_a_new_token_so_two_real_stamps_both_count(
    cashier_client, anna, coffee_card
):
    response = cashier_client.post(
        stamp_url(anna, coffee_card),
        stamp_form(cashier_client.get(member_url(anna)), coffee_card),
        follow=True,
    )
    cashier_client.post(stamp_url(anna, coffee_card), stamp_form(response, coffee_card))

    assert stamps_on(anna, coffee_card) == 2


def test_the_tenth_stamp_completes_the_card_and_shows_the_voucher(
    cashier_client, anna, coffee_card
):
    # given 9 of 10 stamps
    punch_card_stamp(member=anna, card_type=coffee_card, count=9, reason="Setup")
    data = stamp_form(cashier_client.get(member_url(anna)), coffee_card)

    response = cashier_client.post(stamp_url(anna, coffee_card), data, follow=True)

    voucher = Voucher.objects.get(member=anna)
    assert voucher.origin == Voucher.Origin.PUNCH_CARD
    assert PunchCard.objects.get(voucher=voucher).stamps == 10
    page = text(response)
    assert f"Coffee card is full: voucher {voucher.formatted_code} issued." in page
    assert "Card complete! Free coffee issued:" in page
    assert voucher.formatted_code in page
    voucher_page = reverse("counter:voucher", args=[anna.pk, voucher.pk])
    assert f'href="{voucher_page}"' in html(response)
    # a new card has started, empty
    assert "0 of 10 stamps" in page
    assert cashier_client.get(voucher_page).status_code == 200


def test_stamping_without_the_permission_is_forbidden(client, location, anna, coffee_card):
    user = StaffUserFactory(locations=[location])
    user.user_permissions.add(Permission.objects.get(codename="use_counter"))
    client.force_login(user)
    response = client.get(member_url(anna))
    assert response.status_code == 200
    assert f"stamp-{coffee_card.pk}-token" not in html(response)  # no button to tap

    response = client.post(
        stamp_url(anna, coffee_card),
        {f"stamp-{coffee_card.pk}-token": "A" * 22, f"stamp-{coffee_card.pk}-reason": "x"},
    )

    assert response.status_code == 403
    assert Stamp.objects.count() == 0


def test_daily_limit_is_shown_at_the_card_and_nothing_is_written(cashier_client, anna, coffee_card):
    coffee_card.max_stamps_per_day = 2
    coffee_card.save()
    punch_card_stamp(member=anna, card_type=coffee_card, count=2, reason="Setup")
    before = snapshot()
    data = stamp_form(cashier_client.get(member_url(anna)), coffee_card)

    response = cashier_client.post(stamp_url(anna, coffee_card), data)

    assert response.status_code == 400
    assert "At most 2 stamps a day on this card; 0 left today." in text(response)
    assert snapshot() == before
    # the same form may be sent again later: its token was not used up
    coffee_card.max_stamps_per_day = None
    coffee_card.save()
    cashier_client.post(stamp_url(anna, coffee_card), data)
    assert stamps_on(anna, coffee_card) == 3


def test_an_empty_reason_is_refused_at_the_field(cashier_client, anna, coffee_card):
    data = stamp_form(cashier_client.get(member_url(anna)), coffee_card)
    data[f"stamp-{coffee_card.pk}-reason"] = "  "

    response = cashier_client.post(stamp_url(anna, coffee_card), data)

    assert response.status_code == 400
    assert "A reason is required." in text(response)
    assert f'id="id_stamp-{coffee_card.pk}-reason-errors"' in html(response)
    assert Stamp.objects.count() == 0


def test_stamping_a_closed_membership_shows_the_error(cashier_client, anna, coffee_card):
    data = stamp_form(cashier_client.get(member_url(anna)), coffee_card)
    anna.is_active = False
    anna.save(update_fields=["is_active"])

    response = cashier_client.post(stamp_url(anna, coffee_card), data)

    assert response.status_code == 400
    assert Stamp.objects.count() == 0


def test_stamping_a_card_not_given_at_this_location_is_refused(
    cashier_client, program, anna, coffee_card
):
    from loyalty.tests.factories import LocationFactory

    coffee_card.locations.add(LocationFactory(name="Harbour", code="harbour"))
    response = cashier_client.post(
        stamp_url(anna, coffee_card),
        {f"stamp-{coffee_card.pk}-token": "A" * 22, f"stamp-{coffee_card.pk}-reason": "x"},
        follow=True,
    )

    assert "This card is not stamped at this location." in text(response)
    assert Stamp.objects.count() == 0


@pytest.mark.parametrize("token", ["", "short", "<script>" * 4])
def test_a_stamp_without_a_valid_token_is_refused(cashier_client, anna, coffee_card, token):
    response = cashier_client.post(
        stamp_url(anna, coffee_card),
        {f"stamp-{coffee_card.pk}-token": token, f"stamp-{coffee_card.pk}-reason": "x"},
    )

    assert response.status_code == 400
    assert Stamp.objects.count() == 0


def test_stamp_needs_a_post(cashier_client, anna, coffee_card):
    assert cashier_client.get(stamp_url(anna, coffee_card)).status_code == 405


# ------------------------------------------------------------------------------------------
# Stamps from purchases and visits
# ------------------------------------------------------------------------------------------


def purchase_token(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', html(response))[1]


def test_a_purchase_that_completes_a_card_shows_the_voucher_in_the_result(
    cashier_client, location, anna, coffee_card
):
    punch_card_stamp(member=anna, card_type=coffee_card, count=9, reason="Setup")
    token = purchase_token(cashier_client.get(member_url(anna)))

    response = cashier_client.post(
        reverse("counter:purchase", args=[anna.pk]), {"amount": "4,20", "token": token}, follow=True
    )

    voucher = Voucher.objects.get(member=anna)
    result = html(response).split('data-testid="result"', 1)[1].split("</section>", 1)[0]
    result = " ".join(strip_tags(result).split())
    assert "Coffee card: 1 stamp" in result
    assert "now 0 of 10" in result
    assert f"Card complete! Free coffee issued: {voucher.formatted_code}" in result
    assert reverse("counter:voucher", args=[anna.pk, voucher.pk]) in html(response)


def test_a_purchase_result_lists_the_stamps_given(cashier_client, anna, coffee_card):
    token = purchase_token(cashier_client.get(member_url(anna)))

    response = cashier_client.post(
        reverse("counter:purchase", args=[anna.pk]), {"amount": "3", "token": token}, follow=True
    )

    assert "Coffee card: 1 stamp now 1 of 10" in text(response)
    assert "Card complete!" not in text(response)


def test_a_visit_shows_the_stamps_it_gave(cashier_client, anna, coffee_card):
    coffee_card.earn_on = PunchCardType.EarnOn.VISIT
    coffee_card.save()
    punch_card_stamp(member=anna, card_type=coffee_card, count=9, reason="Setup")

    response = cashier_client.post(reverse("counter:visit", args=[anna.pk]), follow=True)

    assert re.search(r"\?visit=\d+$", response.redirect_chain[-1][0])
    voucher = Voucher.objects.get(member=anna)
    page = text(response)
    assert "Visit recorded Coffee card: 1 stamp now 0 of 10" in page
    assert voucher.formatted_code in page


def test_an_old_purchase_result_does_not_claim_a_card_a_later_stamp_completed(
    cashier_client, location, anna, coffee_card
):
    # given a purchase that gave the 9th stamp, then a tap that gave the 10th
    punch_card_stamp(member=anna, card_type=coffee_card, count=8, reason="Setup")
    purchase = purchase_record(member=anna, location=location, total="3").purchase
    punch_card_stamp(
        member=anna,
        card_type=coffee_card,
        reason="Setup",
        at=timezone.now() + timedelta(seconds=1),
    )

    response = cashier_client.get(f"{member_url(anna)}?purchase={purchase.pk}")

    assert "Coffee card: 1 stamp" in text(response)
    assert "Card complete!" not in text(response)


def test_result_ids_that_are_not_the_members_or_out_of_range_show_just_the_panel(
    cashier_client, anna, coffee_card
):
    other = MemberFactory()
    punch_card_stamp(member=other, card_type=coffee_card, reason="Setup")
    theirs = Stamp.objects.get().pk

    huge = "9" * 20
    for query in (f"stamp={theirs}", f"stamp={huge}", f"visit={huge}", f"purchase={huge}"):
        response = cashier_client.get(f"{member_url(anna)}?{query}")
        assert response.status_code == 200
        assert 'data-testid="stamped"' not in html(response)
