"""The tier, benefit and punch card admins through the test client, as a cashier and a manager."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from loyalty.models import Benefit, Program, PunchCard, PunchCardType, Stamp, Tier, TierChange
from loyalty.services import punch_card_stamp, tier_set_manual
from members.tests.factories import MemberFactory
from rewards.tests.factories import RewardFactory

TIER_ADD = reverse("admin:loyalty_tier_add")
TIER_LIST = reverse("admin:loyalty_tier_changelist")
CARD_TYPE_ADD = reverse("admin:loyalty_punchcardtype_add")
PROGRAM_CHANGE = reverse("admin:loyalty_program_change", args=[1])


def tier_data(**changes):
    data = {
        "rank": "1",
        "name_en": "Bronze",
        "colour": "#8a6d3b",
        "threshold": "0",
        "multiplier": "1",
    }
    data.update(changes)
    return data


def card_type_data(reward, **changes):
    data = {
        "name_en": "Coffee card",
        "is_active": "on",
        "stamps_needed": "10",
        "reward": reward.pk,
        "earn_on": PunchCardType.EarnOn.PURCHASE,
        "category": "",
        "sku": "",
        "per_item": "on",
        "spend_step": "",
        "max_stamps_per_day": "",
        "validity_days": "",
    }
    data.update(changes)
    return data


def field_errors(response, field):
    return response.context["adminform"].form.errors.get(field, [])


@pytest.fixture
def bronze(program):
    return Tier.objects.create(rank=1, name="Bronze", threshold=Decimal("0"), colour="#8a6d3b")


@pytest.fixture
def gold(program):
    return Tier.objects.create(
        rank=3, name="Gold", threshold=Decimal("500"), colour="#c0a040", multiplier=Decimal("2")
    )


@pytest.fixture
def reward(program):
    return RewardFactory(name="Free coffee", points_cost=0)


# --- Tiers ------------------------------------------------------------------------------------


def test_manager_creates_a_tier_with_a_finnish_name_and_a_benefit(manager_client):
    shipping = Benefit.objects.create(code="free_shipping", name="Free shipping")

    response = manager_client.post(
        TIER_ADD,
        tier_data(
            rank="2",
            name_en="Silver",
            name_fi="Hopea",
            colour="#c0c0c0",
            threshold="100",
            multiplier="1.5",
            benefits=[shipping.pk],
        ),
    )

    assert response.status_code == 302
    tier = Tier.objects.get(rank=2)
    assert tier.name_en == "Silver"
    assert tier.name_fi == "Hopea"
    assert tier.multiplier == Decimal("1.5")
    assert list(tier.benefits.all()) == [shipping]


def test_tier_list_shows_the_colour_swatch(manager_client, gold):
    response = manager_client.get(TIER_LIST)

    assert response.status_code == 200
    assert "Gold" in response.text
    assert "background:#c0a040" in response.text


def test_tier_with_a_threshold_out_of_order_is_refused_with_a_form_error(
    manager_client, bronze, gold
):
    response = manager_client.post(TIER_ADD, tier_data(rank="2", name_en="Silver", threshold="600"))

    assert response.status_code == 200
    assert field_errors(response, "threshold")
    assert not Tier.objects.filter(rank=2).exists()


def test_editing_a_tier_below_the_one_under_it_is_refused(manager_client, bronze, gold):
    url = reverse("admin:loyalty_tier_change", args=[gold.pk])

    response = manager_client.post(url, tier_data(rank="3", name_en="Gold", threshold="0"))

    assert response.status_code == 200
    assert field_errors(response, "threshold")
    gold.refresh_from_db()
    assert gold.threshold == Decimal("500")


def test_tier_with_a_rank_already_taken_is_refused(manager_client, bronze):
    response = manager_client.post(TIER_ADD, tier_data(rank="1", name_en="Other", threshold="50"))

    assert response.status_code == 200
    assert field_errors(response, "rank")
    assert Tier.objects.count() == 1


def test_cashier_sees_tiers_but_cannot_add_one(cashier_client, gold):
    assert cashier_client.get(TIER_LIST).status_code == 200
    assert cashier_client.post(TIER_ADD, tier_data()).status_code == 403
    assert Tier.objects.count() == 1


def test_manager_creates_a_benefit_with_a_finnish_name(manager_client):
    response = manager_client.post(
        reverse("admin:loyalty_benefit_add"),
        {"code": "priority_service", "name_en": "Priority service", "name_fi": "Etusija"},
    )

    assert response.status_code == 302
    benefit = Benefit.objects.get(code="priority_service")
    assert benefit.name_fi == "Etusija"


def test_programme_page_has_the_tier_and_vip_settings(manager_client, program):
    response = manager_client.get(PROGRAM_CHANGE)

    assert response.status_code == 200
    assert 'name="tier_metric"' in response.text
    assert 'name="vip_auto_metric"' in response.text


# --- Tier history ------------------------------------------------------------------------------


def test_tier_changes_are_listed_read_only(manager_client, manager_user, gold):
    member = MemberFactory()
    tier_set_manual(
        member=member, tier=gold, until=_next_year(), reason="Regular guest", actor=manager_user
    )
    change = TierChange.objects.get(member=member)

    response = manager_client.get(reverse("admin:loyalty_tierchange_changelist"))
    assert response.status_code == 200
    assert "Regular guest" in response.text

    url = reverse("admin:loyalty_tierchange_change", args=[change.pk])
    assert manager_client.get(url).status_code == 200
    assert manager_client.post(url, {"note": "changed"}).status_code == 403
    assert reverse("admin:loyalty_tierchange_add") not in response.text


def _next_year():
    from datetime import date

    return date.today().replace(year=date.today().year + 1)


# --- Punch card types --------------------------------------------------------------------------


def test_manager_creates_a_card_type_with_a_finnish_name(manager_client, reward):
    response = manager_client.post(
        CARD_TYPE_ADD, card_type_data(reward, name_fi="Kahvikortti", stamps_needed="10")
    )

    assert response.status_code == 302
    card_type = PunchCardType.objects.get()
    assert card_type.name_en == "Coffee card"
    assert card_type.name_fi == "Kahvikortti"
    assert card_type.stamps_needed == 10


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stamps_needed": "0"}, "stamps_needed"),
        ({"earn_on": PunchCardType.EarnOn.ITEM}, "category"),
        ({"earn_on": PunchCardType.EarnOn.SPEND}, "spend_step"),
        ({"earn_on": PunchCardType.EarnOn.SPEND, "spend_step": "0"}, "spend_step"),
    ],
)
def test_card_type_that_breaks_a_rule_is_refused_with_a_form_error(
    manager_client, reward, changes, field
):
    response = manager_client.post(CARD_TYPE_ADD, card_type_data(reward, **changes))

    assert response.status_code == 200
    assert field_errors(response, field)
    assert not PunchCardType.objects.exists()


def test_item_card_with_a_category_is_accepted(manager_client, reward):
    response = manager_client.post(
        CARD_TYPE_ADD,
        card_type_data(reward, earn_on=PunchCardType.EarnOn.ITEM, category="coffee"),
    )

    assert response.status_code == 302
    assert PunchCardType.objects.get().category == "coffee"


def test_cashier_cannot_add_a_card_type(cashier_client, reward):
    assert cashier_client.post(CARD_TYPE_ADD, card_type_data(reward)).status_code == 403
    assert not PunchCardType.objects.exists()


# --- Cards and stamps, read-only ------------------------------------------------------------------


def test_cards_and_stamps_are_listed_read_only(cashier_client, manager_user, reward):
    card_type = PunchCardType.objects.create(name="Coffee card", stamps_needed=10, reward=reward)
    member = MemberFactory()
    punch_card_stamp(
        member=member, card_type=card_type, count=3, reason="Welcome", actor=manager_user
    )
    card = PunchCard.objects.get(member=member)
    stamp = Stamp.objects.get(card=card)

    response = cashier_client.get(reverse("admin:loyalty_punchcard_changelist"))
    assert response.status_code == 200
    assert "3 of 10" in response.text

    manager_client = Client()
    manager_client.force_login(manager_user)
    response = manager_client.get(reverse("admin:loyalty_stamp_changelist"))
    assert response.status_code == 200
    assert "Welcome" in response.text
    stamp_url = reverse("admin:loyalty_stamp_change", args=[stamp.pk])
    assert manager_client.post(stamp_url, {"count": "9"}).status_code == 403
    stamp.refresh_from_db()
    assert stamp.count == 3


def test_programme_tier_settings_are_saved(manager_client, program):
    from loyalty.tests.test_admin import program_data

    response = manager_client.post(
        PROGRAM_CHANGE, program_data(program, tier_metric="visits", tier_grace_days="14")
    )

    assert response.status_code == 302
    program = Program.objects.get()
    assert program.tier_metric == "visits"
    assert program.tier_grace_days == 14
