"""The rewards admin through the test client, as a cashier and as a manager."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.formatting import money
from loyalty.models import Event, LedgerEntry
from loyalty.selectors import ledger_drift
from loyalty.services import points_adjust, purchase_record
from loyalty.tests.factories import LocationFactory
from members.tests.factories import MemberFactory
from rewards.models import Partner, PointsPayment, Reward, Voucher, VoucherUse
from rewards.services import reward_redeem, voucher_use
from rewards.tests.factories import (
    PartnerFactory,
    RewardFactory,
    give_points,
    issued_voucher,
    redeemed_voucher,
)

REWARD_ADD = reverse("admin:rewards_reward_add")
REWARD_LIST = reverse("admin:rewards_reward_changelist")
VOUCHER_LIST = reverse("admin:rewards_voucher_changelist")
VOUCHER_ADD = reverse("admin:rewards_voucher_add")
VOUCHER_USE = reverse("admin:rewards_voucher_use")
SETTLEMENT = reverse("admin:rewards_partner_settlement")


def reward_data(**changes) -> dict:
    """Return the POST data of the reward add form: a free coffee for 100 points."""
    data = {
        "name_en": "Free coffee",
        "description_en": "Any size.",
        "kind": Reward.Kind.FREE_PRODUCT,
        "points_cost": "100",
        "value": "3.50",
        "discount_percent": "",
        "cause": "",
        "benefit_code": "",
        "digital_url": "",
        "available_from_0": "",
        "available_from_1": "",
        "available_until_0": "",
        "available_until_1": "",
        "season_months": "",
        "stock": "",
        "limit_per_member": "",
        "limit_period": Reward.Period.MONTH,
        "voucher_valid_days": "30",
        "partner": "",
        "min_tier": "",
        "vip_early_access_days": "0",
        "is_active": "on",
        "display_order": "100",
        "pool_entries-TOTAL_FORMS": "0",
        "pool_entries-INITIAL_FORMS": "0",
        "digital_codes-TOTAL_FORMS": "0",
        "digital_codes-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def cancel_url(voucher: Voucher) -> str:
    return reverse("admin:rewards_voucher_cancel", args=[voucher.pk])


def change_url(voucher: Voucher) -> str:
    return reverse("admin:rewards_voucher_change", args=[voucher.pk])


@pytest.fixture
def voucher(member):
    return redeemed_voucher(member, RewardFactory(name="Free bun", points_cost=80))


def writes_snapshot() -> tuple[int, int, int]:
    return VoucherUse.objects.count(), Event.objects.count(), LedgerEntry.objects.count()


# --- Cashier ----------------------------------------------------------------------------------


def test_cashier_sees_rewards_and_vouchers(cashier_client, voucher):
    assert "Free bun" in cashier_client.get(REWARD_LIST).text
    response = cashier_client.get(VOUCHER_LIST)
    assert response.status_code == 200
    assert voucher.formatted_code in response.text
    page = cashier_client.get(change_url(voucher))
    assert page.status_code == 200
    assert "<svg" in page.text  # the QR code
    assert reverse("admin:rewards_voucher_use") in page.text
    assert cancel_url(voucher) not in page.text


def test_cashier_uses_a_voucher_through_the_admin(cashier_client, cashier_user, voucher, location):
    response = cashier_client.post(
        VOUCHER_USE, {"code": voucher.formatted_code.lower(), "location": location.pk}
    )
    assert response.status_code == 302
    assert response.url == change_url(voucher)
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED
    assert voucher.used_location == location
    assert voucher.used_by == cashier_user


def test_cashier_cannot_cancel_a_voucher(cashier_client, voucher):
    assert cashier_client.get(cancel_url(voucher)).status_code == 403
    response = cashier_client.post(cancel_url(voucher), {"reason": "Asked for it"})
    assert response.status_code == 403
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED


def test_cashier_cannot_change_rewards_issue_vouchers_or_see_settlement(cashier_client, voucher):
    reward = voucher.reward
    assert cashier_client.get(REWARD_ADD).status_code == 403
    url = reverse("admin:rewards_reward_change", args=[reward.pk])
    response = cashier_client.post(url, reward_data(name_en="Mine"))
    assert response.status_code == 403
    reward.refresh_from_db()
    assert reward.name == "Free bun"
    assert cashier_client.get(VOUCHER_ADD).status_code == 403
    assert cashier_client.get(SETTLEMENT).status_code == 403
    assert cashier_client.get(reverse("admin:rewards_partner_changelist")).status_code == 403


def test_cashier_without_a_location_cannot_use_vouchers_elsewhere(client, voucher, program):
    from loyalty.tests.factories import cashier

    other = LocationFactory(code="elsewhere")
    client.force_login(cashier(locations=[]))
    response = client.post(VOUCHER_USE, {"code": voucher.code, "location": other.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["location"]
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED


# --- Catalogue --------------------------------------------------------------------------------


def test_manager_creates_a_reward_with_a_finnish_name(manager_client, program):
    response = manager_client.post(REWARD_ADD, reward_data(name_fi="Ilmainen kahvi"))
    assert response.status_code == 302, form_errors(response)
    reward = Reward.objects.get()
    assert reward.name_en == "Free coffee"
    assert reward.name_fi == "Ilmainen kahvi"
    assert reward.points_cost == 100
    assert "Free coffee" in manager_client.get(REWARD_LIST).text
    page = manager_client.get(reverse("admin:rewards_reward_change", args=[reward.pk]))
    assert 'name="name_fi"' in page.text
    assert 'value="Ilmainen kahvi"' in page.text


def test_manager_stores_the_season_in_order(manager_client, program):
    response = manager_client.post(REWARD_ADD, reward_data(season_months="8, 6,7"))
    assert response.status_code == 302, form_errors(response)
    assert Reward.objects.get().season_months == "6,7,8"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": Reward.Kind.PERCENT_DISCOUNT}, "discount_percent"),
        ({"kind": Reward.Kind.PERCENT_DISCOUNT, "discount_percent": "120"}, "discount_percent"),
        ({"kind": Reward.Kind.PERCENT_DISCOUNT, "discount_percent": "0"}, "discount_percent"),
        ({"kind": Reward.Kind.DONATION}, "cause"),
        ({"kind": Reward.Kind.PERK}, "benefit_code"),
        ({"kind": Reward.Kind.PARTNER}, "partner"),
        ({"kind": Reward.Kind.STORE_CREDIT, "value": "0"}, "value"),
        (
            {
                "available_from_0": "2030-06-01",
                "available_from_1": "00:00",
                "available_until_0": "2030-05-01",
                "available_until_1": "00:00",
            },
            "available_until",
        ),
        ({"season_months": "6,13"}, "season_months"),
        ({"season_months": "summer"}, "season_months"),
        ({"name_en": ""}, "name_en"),
    ],
)
def test_invalid_kind_specific_input_is_a_form_error_and_creates_nothing(
    manager_client, program, changes, field
):
    response = manager_client.post(REWARD_ADD, reward_data(**changes))
    assert response.status_code == 200
    assert field in form_errors(response)
    assert not Reward.objects.exists()


def test_a_reward_of_each_kind_with_its_fields_is_saved(manager_client, program):
    partner = PartnerFactory()
    kinds = [
        {"kind": Reward.Kind.PERCENT_DISCOUNT, "discount_percent": "15"},
        {"kind": Reward.Kind.DONATION, "cause": "Red Cross"},
        {"kind": Reward.Kind.PERK, "benefit_code": "extended_warranty"},
        {"kind": Reward.Kind.PARTNER, "partner": str(partner.pk)},
        {"kind": Reward.Kind.STORE_CREDIT, "value": "10"},
    ]
    for n, changes in enumerate(kinds):
        response = manager_client.post(REWARD_ADD, reward_data(name_en=f"R{n}", **changes))
        assert response.status_code == 302, form_errors(response)
    assert Reward.objects.count() == len(kinds)


def test_mystery_gift_takes_its_prizes_inline(manager_client, program):
    prize = RewardFactory(name="Croissant")
    response = manager_client.post(
        REWARD_ADD,
        reward_data(
            name_en="Mystery bag",
            kind=Reward.Kind.MYSTERY,
            **{
                "pool_entries-TOTAL_FORMS": "1",
                "pool_entries-0-reward": str(prize.pk),
                "pool_entries-0-weight": "3",
            },
        ),
    )
    assert response.status_code == 302, form_errors(response)
    mystery = Reward.objects.get(name_en="Mystery bag")
    assert [(e.reward, e.weight) for e in mystery.pool_entries.all()] == [(prize, 3)]


def test_reward_list_editing_of_order_and_active(manager_client, program):
    reward = RewardFactory(display_order=5)
    response = manager_client.post(
        REWARD_LIST,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(reward.pk),
            "form-0-display_order": "1",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    reward.refresh_from_db()
    assert reward.display_order == 1
    assert reward.is_active is False  # the unchecked box


# --- Vouchers: search, cancel, issue, use -----------------------------------------------------


@pytest.mark.parametrize("spelling", ["dashed-lower", "plain-lower", "dashed-upper"])
def test_voucher_search_by_code_in_any_case_with_or_without_dash(
    manager_client, member, voucher, spelling
):
    other = issued_voucher(member)
    term = {
        "dashed-lower": voucher.formatted_code.lower(),
        "plain-lower": voucher.code.lower(),
        "dashed-upper": voucher.formatted_code,
    }[spelling]
    response = manager_client.get(VOUCHER_LIST, {"q": term})
    assert list(response.context["cl"].result_list) == [voucher]
    assert other.formatted_code not in response.text


def test_voucher_search_for_a_malformed_code_finds_nothing(manager_client, voucher):
    response = manager_client.get(VOUCHER_LIST, {"q": "free"})
    assert list(response.context["cl"].result_list) == []


def test_manager_cancels_a_voucher_and_the_points_come_back(manager_client, member, voucher):
    member.refresh_from_db()
    assert member.balance == 0
    response = manager_client.post(cancel_url(voucher), {"reason": "Changed their mind"})
    assert response.status_code == 302
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.CANCELLED
    assert voucher.cancel_reason == "Changed their mind"
    member.refresh_from_db()
    assert member.balance == 80
    assert ledger_drift() == []
    page = manager_client.get(response.url)
    assert any("80 points given back" in m for m in messages_of(page))


def test_cancel_needs_a_reason(manager_client, voucher):
    response = manager_client.post(cancel_url(voucher), {"reason": "  "})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED


def test_cancelling_a_used_voucher_is_refused_on_the_form(manager_client, voucher, location):
    voucher_use(code=voucher.code, location=location)
    before = writes_snapshot()
    response = manager_client.post(cancel_url(voucher), {"reason": "Oops"})
    assert response.status_code == 200
    assert "already been used" in str(response.context["form"].non_field_errors())
    assert writes_snapshot() == before


def test_manager_issues_a_goodwill_voucher_with_a_reason(manager_client, manager_user, member):
    reward = RewardFactory(name="Cake")
    response = manager_client.post(
        VOUCHER_ADD, {"member": member.pk, "reward": reward.pk, "reason": "Late order"}
    )
    assert response.status_code == 302
    voucher = Voucher.objects.get()
    assert response.url == change_url(voucher)
    assert (voucher.member, voucher.reward, voucher.origin) == (
        member,
        reward,
        Voucher.Origin.STAFF,
    )
    assert voucher.reason == "Late order"
    assert voucher.issued_by == manager_user
    assert voucher.points_spent == 0


def test_issuing_without_a_reason_is_an_error(manager_client, member):
    reward = RewardFactory()
    response = manager_client.post(
        VOUCHER_ADD, {"member": member.pk, "reward": reward.pk, "reason": ""}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert not Voucher.objects.exists()


def test_issuing_the_last_unit_twice_is_refused(manager_client, member):
    reward = RewardFactory(stock=1)
    data = {"member": member.pk, "reward": reward.pk, "reason": "Prize"}
    assert manager_client.post(VOUCHER_ADD, data).status_code == 302
    response = manager_client.post(VOUCHER_ADD, data)
    assert response.status_code == 200
    assert "out of stock" in str(response.context["form"].errors)
    assert Voucher.objects.count() == 1


def test_issue_page_renders_the_member_lookup(manager_client, member):
    response = manager_client.get(VOUCHER_ADD, {"member": member.pk})
    assert response.status_code == 200
    assert "vForeignKeyRawIdAdminField" in response.text


def test_vouchers_are_never_edited_or_deleted_as_models(manager_client, voucher):
    page = manager_client.get(change_url(voucher))
    assert page.status_code == 200
    assert 'name="status"' not in page.text
    delete = reverse("admin:rewards_voucher_delete", args=[voucher.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    assert manager_client.post(change_url(voucher), {"status": "used"}).status_code == 403
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED


@pytest.mark.parametrize("case", ["expired", "used", "unknown", "malformed"])
def test_using_a_bad_code_shows_the_error_and_writes_nothing(
    manager_client, member, location, case
):
    if case == "expired":
        code = issued_voucher(member, expires_at=timezone.now() - timedelta(minutes=1)).code
        expected = "expired"
    elif case == "used":
        code = issued_voucher(member).code
        voucher_use(code=code, location=location)
        expected = "already been used"
    elif case == "unknown":
        code = "ABCDE-FGHJK"
        expected = "No voucher has this code"
    else:
        code = "hello"
        expected = "No voucher has this code"
    before = writes_snapshot()
    response = manager_client.post(VOUCHER_USE, {"code": code, "location": location.pk})
    assert response.status_code == 200
    assert expected in " ".join(response.context["form"].errors["code"])
    assert writes_snapshot() == before


def test_store_credit_is_drawn_down_in_parts(manager_client, member, location, program):
    credit = issued_voucher(member, RewardFactory(kind=Reward.Kind.STORE_CREDIT, value="20.00"))
    response = manager_client.post(
        VOUCHER_USE, {"code": credit.code, "location": location.pk, "amount": "7.50"}
    )
    assert response.status_code == 302
    credit.refresh_from_db()
    assert credit.remaining_value == Decimal("12.50")
    assert credit.status == Voucher.Status.ISSUED
    too_much = manager_client.post(
        VOUCHER_USE, {"code": credit.code, "location": location.pk, "amount": "13"}
    )
    assert too_much.status_code == 200
    assert too_much.context["form"].errors["amount"]
    credit.refresh_from_db()
    assert credit.remaining_value == Decimal("12.50")


def test_voucher_list_queries_do_not_grow_with_the_number_of_vouchers(manager_client, program):
    members = [MemberFactory() for _ in range(3)]
    rewards = [RewardFactory() for _ in range(3)]

    def issue(n):
        for i in range(n):
            issued_voucher(members[i % 3], rewards[i % 3])

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = manager_client.get(VOUCHER_LIST)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    issue(5)
    few = count_queries()
    issue(25)
    assert count_queries() == few


def test_payments_with_points_and_voucher_uses_are_read_only(
    manager_client, member, location, program, voucher
):
    program.point_value = Decimal("0.01")
    program.save()
    from rewards.services import points_pay

    give_points(member, 100)
    payment = points_pay(member=member, location=location, amount="5", points=100)
    voucher_use(code=voucher.code, location=location)
    use = VoucherUse.objects.get()
    for model, obj in (("pointspayment", payment), ("voucheruse", use)):
        assert manager_client.get(reverse(f"admin:rewards_{model}_changelist")).status_code == 200
        change = reverse(f"admin:rewards_{model}_change", args=[obj.pk])
        assert manager_client.get(change).status_code == 200
        assert manager_client.get(reverse(f"admin:rewards_{model}_add")).status_code == 403
        delete = reverse(f"admin:rewards_{model}_delete", args=[obj.pk])
        assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    assert PointsPayment.objects.count() == 1


# --- Partners and settlement ------------------------------------------------------------------


@pytest.fixture
def partner_scenario(program, member):
    """A partner shop that funds points and honours its own reward, both used today.

    The member earns 200 points at the partner's shop (funded by the partner), spends 100 of
    them on a programme reward and 50 on the partner's own reward, which is used at the shop.
    """
    program.point_value = Decimal("0.01")
    program.save()
    partner = PartnerFactory(name="Bike Shop", settlement_share=Decimal("50"))
    shop = LocationFactory(name="Bike Shop", code="bikes", partner=partner)
    purchase_record(member=member, location=shop, total="200.00")
    reward_redeem(member=member, reward=RewardFactory(name="Coffee", points_cost=100))
    ride = RewardFactory(
        name="Bike service", kind=Reward.Kind.PARTNER, partner=partner, points_cost=50, value="10"
    )
    voucher = reward_redeem(member=member, reward=ride)
    voucher_use(code=voucher.code, location=shop)
    return partner, voucher


def today_period() -> dict:
    today = timezone.localdate().isoformat()
    return {"date_from": today, "date_until": today}


def test_settlement_shows_what_each_side_owes(manager_client, partner_scenario):
    partner, voucher = partner_scenario
    response = manager_client.get(SETTLEMENT, today_period())
    assert response.status_code == 200
    (row,) = [r for r in response.context["rows"] if r["partner"] == partner]
    assert row["vouchers_used"] == 1
    assert row["voucher_value"] == money(Decimal("10.00"), "EUR")
    assert row["owed_to_partner"] == money(Decimal("5.00"), "EUR")
    assert row["points_funded_spent"] == 100
    assert row["owed_by_partner"] == money(Decimal("1.00"), "EUR")
    assert row["net"] == money(Decimal("4.00"), "EUR")
    assert voucher.formatted_code in response.text


def test_settlement_csv_download_has_the_partner_row(manager_client, partner_scenario):
    _partner, voucher = partner_scenario
    response = manager_client.get(SETTLEMENT, {**today_period(), "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    summary = [r for r in rows if r and r[0] == "Bike Shop" and len(r) == 9]
    used, value, owed_to, points, owed_by, net = summary[0][3:]
    assert (used, points) == ("1", "100")
    assert [Decimal(v) for v in (value, owed_to, owed_by, net)] == [10, 5, 1, 4]
    assert any(voucher.formatted_code in r for r in rows)


def test_settlement_defaults_to_last_month(manager_client, partner_scenario):
    response = manager_client.get(SETTLEMENT)
    assert response.status_code == 200
    first = timezone.localdate().replace(day=1)
    assert response.context["form"].cleaned_data["date_until"] == first - timedelta(days=1)
    (row,) = response.context["rows"]
    assert row["vouchers_used"] == 0  # everything happened this month


def test_settlement_with_the_end_before_the_start_is_a_form_error(manager_client, program):
    response = manager_client.get(
        SETTLEMENT, {"date_from": "2030-02-01", "date_until": "2030-01-01"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["date_until"]
    assert response.context["rows"] == []


def test_donations_are_reported_per_cause(manager_client, member, program):
    trees = RewardFactory(kind=Reward.Kind.DONATION, cause="Plant a tree", points_cost=10)
    redeemed_voucher(member, trees)
    redeemed_voucher(member, trees)
    response = manager_client.get(SETTLEMENT, today_period())
    (row,) = response.context["donations"]
    assert (row["cause"], row["count"], row["points"]) == ("Plant a tree", 2, 20)


def test_partner_page_lists_its_locations_read_only(manager_client, partner_scenario):
    partner, _voucher = partner_scenario
    response = manager_client.get(reverse("admin:rewards_partner_change", args=[partner.pk]))
    assert response.status_code == 200
    assert reverse("admin:loyalty_location_change", args=[partner.locations.get().pk]) in (
        response.text
    )
    assert manager_client.get(reverse("admin:rewards_partner_changelist")).status_code == 200


def test_manager_adds_partner_staff(manager_client, program, cashier_user):
    response = manager_client.post(
        reverse("admin:rewards_partner_add"),
        {
            "name": "Florist",
            "settlement": Partner.Settlement.FIXED,
            "settlement_fixed": "2.00",
            "settlement_share": "100",
            "staff": [cashier_user.pk],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert list(Partner.objects.get(name="Florist").staff.all()) == [cashier_user]


def test_adjusted_points_are_not_partner_funded(manager_client, manager_user, member, program):
    # A sanity check of the scenario above: only points earned at a partner shop count.
    points_adjust(member=member, points=100, reason="Gift", actor=manager_user)
    PartnerFactory(name="Nobody")
    reward_redeem(member=member, reward=RewardFactory(points_cost=100))
    response = manager_client.get(SETTLEMENT, today_period())
    (row,) = response.context["rows"]
    assert row["points_funded_spent"] == 0
