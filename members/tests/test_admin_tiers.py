"""Tiers, VIP status and punch cards on the member page, as a cashier and as a manager."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty.models import Event, PunchCard, PunchCardType, Stamp, Tier, TierChange
from loyalty.services import punch_card_stamp, purchase_record, tier_set_manual
from members.models import VipMembership
from members.tests.factories import MemberFactory
from members.vip import vip_grant
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory


def change_url(member):
    return reverse("admin:members_member_change", args=[member.pk])


def set_tier_url(member):
    return reverse("admin:members_member_set_tier", args=[member.pk])


def grant_vip_url(member):
    return reverse("admin:members_member_grant_vip", args=[member.pk])


def stamp_url(member):
    return reverse("admin:members_member_stamp_card", args=[member.pk])


def form_errors(response):
    return response.context["form"].errors


def page_text(response) -> str:
    """Return the page without its tags, as a screen reader would read it in order."""
    return re.sub(r"<[^>]+>", "", response.text)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def in_a_month() -> date:
    return date.today() + timedelta(days=31)


@pytest.fixture
def tiers(program):
    return {
        "bronze": Tier.objects.create(rank=1, name="Bronze", threshold=Decimal("0")),
        "silver": Tier.objects.create(rank=2, name="Silver", threshold=Decimal("100")),
        "gold": Tier.objects.create(
            rank=3, name="Gold", threshold=Decimal("500"), colour="#c0a040"
        ),
    }


@pytest.fixture
def coffee_card(program):
    reward = RewardFactory(name="Free coffee", points_cost=0)
    return PunchCardType.objects.create(name="Coffee card", stamps_needed=10, reward=reward)


@pytest.fixture
def anna(program):
    return MemberFactory(first_name="Anna", last_name="Virtanen")


def one_tap(card_type):
    """The POST of the stamp button on the member page."""
    return {"card_type": card_type.pk, "count": "1", "reason": "Stamped by staff"}


# --- The member page ---------------------------------------------------------------------------


def test_member_page_shows_tier_progress_vip_and_stamps(
    manager_client, manager_user, location, tiers, coffee_card, anna
):
    purchase_record(member=anna, location=location, total="40.00", actor=manager_user)
    vip_grant(member=anna, source=VipMembership.Source.PAID, fee="49.00", actor=manager_user)
    # The purchase gave the first stamp.
    punch_card_stamp(
        member=anna, card_type=coffee_card, count=2, reason="Welcome", actor=manager_user
    )

    response = manager_client.get(change_url(anna))

    assert response.status_code == 200
    text = page_text(response)
    assert "Bronze" in text
    assert "more to Silver" in text
    assert "vip-badge" in text
    assert "Paid membership" in text
    assert "●●●○○○○○○○" in text
    assert "3 of 10 stamps" in text
    assert stamp_url(anna) in response.text


def test_member_page_shows_the_staff_set_floor_history_and_benefits(
    manager_client, manager_user, tiers, anna
):
    tiers["gold"].benefits.create(code="free_shipping", name="Free shipping")
    tier_set_manual(
        member=anna,
        tier=tiers["gold"],
        until=in_a_month(),
        reason="Local celebrity",
        actor=manager_user,
    )

    response = manager_client.get(change_url(anna))

    text = response.text
    assert "Set by staff" in text
    assert "Local celebrity" in text
    assert "Free shipping" in text
    assert "free_shipping" in text
    assert "background-color: #c0a040" in text


def test_cashier_sees_the_stamp_button_but_not_set_tier_or_grant_vip(
    cashier_client, coffee_card, anna
):
    response = cashier_client.get(change_url(anna))

    assert response.status_code == 200
    assert stamp_url(anna) in response.text
    assert set_tier_url(anna) not in response.text
    assert grant_vip_url(anna) not in response.text


def test_member_page_query_count_does_not_grow_with_cards_and_tier_changes(
    manager_client, manager_user, tiers, anna
):
    def stamp_a_new_card_type(n):
        card_type = PunchCardType.objects.create(
            name=f"Card {n}", stamps_needed=5, reward=RewardFactory(points_cost=0)
        )
        punch_card_stamp(
            member=anna, card_type=card_type, count=2, reason="Test", actor=manager_user
        )

    def set_tier(tier):
        tier_set_manual(
            member=anna, tier=tier, until=in_a_month(), reason="Test", actor=manager_user
        )

    stamp_a_new_card_type(1)
    set_tier(tiers["silver"])
    manager_client.get(change_url(anna))  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        manager_client.get(change_url(anna))

    for n in range(2, 6):
        stamp_a_new_card_type(n)
    for tier in (tiers["gold"], tiers["silver"], tiers["gold"], tiers["bronze"]):
        set_tier(tier)
    with CaptureQueriesContext(connection) as many:
        response = manager_client.get(change_url(anna))

    assert response.text.count("2 of 5 stamps") == 5
    assert len(many) == len(few)


# --- Set a tier by hand ------------------------------------------------------------------------


def test_manager_sets_a_tier_with_a_reason_and_it_is_audited(
    manager_client, manager_user, tiers, anna
):
    response = manager_client.post(
        set_tier_url(anna),
        {"tier": tiers["gold"].pk, "until": in_a_month().isoformat(), "reason": "Press event"},
        follow=True,
    )

    assert response.status_code == 200
    anna.refresh_from_db()
    assert anna.tier == tiers["gold"]
    assert anna.tier_floor == tiers["gold"]
    assert anna.tier_floor_until == in_a_month()
    change = TierChange.objects.get(member=anna)
    assert change.reason == TierChange.Reason.MANUAL
    assert change.note == "Press event"
    assert change.actor == manager_user
    event = Event.objects.get(member=anna, type="tier.changed")
    assert event.actor == manager_user
    assert any("Gold" in m for m in messages_of(response))


def test_setting_a_tier_without_a_reason_is_refused_and_changes_nothing(
    manager_client, tiers, anna
):
    response = manager_client.post(
        set_tier_url(anna),
        {"tier": tiers["gold"].pk, "until": in_a_month().isoformat(), "reason": "  "},
    )

    assert response.status_code == 200
    assert "reason" in form_errors(response)
    anna.refresh_from_db()
    assert anna.tier_id is None
    assert not TierChange.objects.exists()
    assert not Event.objects.filter(type__startswith="tier.").exists()


def test_setting_a_tier_until_a_past_date_is_refused(manager_client, tiers, anna):
    yesterday = date.today() - timedelta(days=1)

    response = manager_client.post(
        set_tier_url(anna),
        {"tier": tiers["gold"].pk, "until": yesterday.isoformat(), "reason": "Oops"},
    )

    assert response.status_code == 200
    assert "until" in form_errors(response)
    assert not TierChange.objects.exists()


def test_cashier_cannot_set_a_tier(cashier_client, tiers, anna):
    assert cashier_client.get(set_tier_url(anna)).status_code == 403
    response = cashier_client.post(
        set_tier_url(anna),
        {"tier": tiers["gold"].pk, "until": in_a_month().isoformat(), "reason": "Friend"},
    )

    assert response.status_code == 403
    anna.refresh_from_db()
    assert anna.tier_id is None


# --- Grant VIP ---------------------------------------------------------------------------------


def test_manager_records_a_paid_vip_membership(manager_client, manager_user, anna):
    response = manager_client.post(
        grant_vip_url(anna), {"source": "paid", "fee": "49.00", "months": "6"}, follow=True
    )

    assert response.status_code == 200
    membership = VipMembership.objects.get(member=anna)
    assert membership.source == VipMembership.Source.PAID
    assert membership.fee == Decimal("49.00")
    assert membership.granted_by == manager_user
    anna.refresh_from_db()
    assert anna.is_vip()
    assert Event.objects.get(member=anna, type="vip.changed").actor == manager_user


def test_paid_vip_without_a_fee_is_refused(manager_client, anna):
    response = manager_client.post(grant_vip_url(anna), {"source": "paid", "months": "6"})

    assert response.status_code == 200
    assert "fee" in form_errors(response)
    assert not VipMembership.objects.exists()


def test_manager_invites_a_member_with_a_note(manager_client, anna):
    manager_client.post(grant_vip_url(anna), {"source": "invitation", "note": "Best customer"})

    membership = VipMembership.objects.get(member=anna)
    assert membership.source == VipMembership.Source.INVITATION
    assert membership.note == "Best customer"


def test_invitation_without_a_note_is_refused(manager_client, anna):
    response = manager_client.post(grant_vip_url(anna), {"source": "invitation", "note": ""})

    assert response.status_code == 200
    assert "note" in form_errors(response)
    assert not VipMembership.objects.exists()


def test_cashier_cannot_grant_vip(cashier_client, anna):
    response = cashier_client.post(grant_vip_url(anna), {"source": "paid", "fee": "10"})

    assert response.status_code == 403
    assert not VipMembership.objects.exists()


# --- Stamp a card ------------------------------------------------------------------------------


def test_cashier_stamps_a_card_with_one_tap(cashier_client, cashier_user, coffee_card, anna):
    response = cashier_client.post(stamp_url(anna), one_tap(coffee_card), follow=True)

    assert response.status_code == 200
    stamp = Stamp.objects.get(card__member=anna)
    assert stamp.count == 1
    assert stamp.source == Stamp.Source.MANUAL
    assert stamp.actor == cashier_user
    assert stamp.reason == "Stamped by staff"
    assert "1 of 10 stamps" in response.text
    assert Event.objects.get(member=anna, type="punchcard.stamped").actor == cashier_user


def test_the_tap_that_fills_a_card_issues_its_voucher(
    cashier_client, manager_user, coffee_card, anna
):
    punch_card_stamp(member=anna, card_type=coffee_card, count=9, reason="Old card")

    response = cashier_client.post(stamp_url(anna), one_tap(coffee_card), follow=True)

    voucher = Voucher.objects.get(member=anna)
    assert voucher.origin == Voucher.Origin.PUNCH_CARD
    assert PunchCard.objects.get(member=anna, status=PunchCard.Status.COMPLETED).voucher == voucher
    assert PunchCard.objects.get(member=anna, status=PunchCard.Status.ACTIVE).stamps == 0
    assert any(voucher.formatted_code in m for m in messages_of(response))
    assert "0 of 10 stamps" in response.text


@pytest.mark.parametrize("count", ["0", "-1", "51", "many", ""])
def test_stamping_with_a_bad_count_is_refused_and_stamps_nothing(
    cashier_client, coffee_card, anna, count
):
    response = cashier_client.post(stamp_url(anna), {**one_tap(coffee_card), "count": count})

    assert response.status_code == 200
    assert "count" in form_errors(response)
    assert not Stamp.objects.exists()


def test_stamping_beyond_the_daily_limit_is_a_form_error(cashier_client, coffee_card, anna):
    coffee_card.max_stamps_per_day = 1
    coffee_card.save()
    cashier_client.post(stamp_url(anna), one_tap(coffee_card))

    response = cashier_client.post(stamp_url(anna), one_tap(coffee_card))

    assert response.status_code == 200
    assert form_errors(response)
    assert Stamp.objects.count() == 1


def test_stamping_without_a_reason_is_refused(cashier_client, coffee_card, anna):
    response = cashier_client.post(stamp_url(anna), {**one_tap(coffee_card), "reason": ""})

    assert response.status_code == 200
    assert "reason" in form_errors(response)
    assert not Stamp.objects.exists()


def test_stamp_form_offers_the_default_reason(cashier_client, coffee_card, anna):
    response = cashier_client.get(stamp_url(anna) + f"?card_type={coffee_card.pk}")

    assert response.status_code == 200
    assert 'value="Stamped by staff"' in response.text


def test_staff_without_the_stamp_permission_cannot_stamp(location, coffee_card, anna):
    from loyalty.tests.factories import StaffUserFactory

    viewer = StaffUserFactory()
    client = Client()
    client.force_login(viewer)

    assert client.post(stamp_url(anna), one_tap(coffee_card)).status_code == 403
    assert not Stamp.objects.exists()


# --- VIP memberships list ----------------------------------------------------------------------


def test_vip_memberships_are_listed_read_only(manager_client, manager_user, anna):
    membership = vip_grant(
        member=anna, source=VipMembership.Source.INVITATION, note="Regular", actor=manager_user
    )

    response = manager_client.get(reverse("admin:members_vipmembership_changelist"))
    assert response.status_code == 200
    assert "Regular" in response.text
    url = reverse("admin:members_vipmembership_change", args=[membership.pk])
    assert manager_client.post(url, {"note": "changed"}).status_code == 403
    membership.refresh_from_db()
    assert membership.note == "Regular"
