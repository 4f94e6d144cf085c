"""The programme-core admin through the test client: settings, ledger, purchases, refunds."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty.admin_utils import EstimatedCountPaginator, table_row_estimate
from loyalty.models import EarnRule, Event, LedgerEntry, PointsLot, Program, Refund
from loyalty.services import points_adjust, purchase_record
from members.models import Member
from members.tests.factories import MemberFactory

PROGRAM_CHANGE = reverse("admin:loyalty_program_change", args=[1])


def program_data(program, **changes):
    data = {
        "name": program.name,
        "currency": program.currency,
        "points_name": program.points_name,
        "default_country": program.default_country,
        "earn_rate": program.earn_rate,
        "rounding": program.rounding,
        "first_purchase_bonus": program.first_purchase_bonus,
        "welcome_bonus": program.welcome_bonus,
        "points_per_visit": program.points_per_visit,
        "pending_days": program.pending_days,
        "validity": program.validity,
        "validity_months": program.validity_months,
        "min_redemption_points": program.min_redemption_points,
        "max_purchase_amount": program.max_purchase_amount,
        "max_adjustment_points": program.max_adjustment_points,
        "tier_metric": program.tier_metric,
        "tier_window": program.tier_window,
        "tier_window_months": program.tier_window_months,
        "tier_grace_days": program.tier_grace_days,
        "tier_downgrade": program.tier_downgrade,
        "vip_auto_metric": program.vip_auto_metric,
        "vip_auto_threshold": program.vip_auto_threshold,
        "vip_window_months": program.vip_window_months,
        "vip_period_months": program.vip_period_months,
        "vip_earn_bonus_percent": program.vip_earn_bonus_percent,
    }
    data.update(changes)
    return data


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def purchase(member, location, manager_user):
    return purchase_record(
        member=member, location=location, total="40.00", external_id="R-1", actor=manager_user
    ).purchase


def refund_url(purchase):
    return reverse("admin:loyalty_purchase_refund", args=[purchase.pk])


# --- Site -------------------------------------------------------------------------------------


def test_admin_index_has_the_back_office_title(cashier_client):
    response = cashier_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Loyalty back office" in response.text
    assert str(admin.site.site_header) == "Loyalty back office"


# --- Programme --------------------------------------------------------------------------------


def test_programme_list_goes_straight_to_the_one_programme(manager_client, program):
    response = manager_client.get(reverse("admin:loyalty_program_changelist"))
    assert response.status_code == 302
    assert response.url == PROGRAM_CHANGE


def test_programme_list_creates_the_programme_on_a_fresh_install(manager_client, db):
    Program.objects.all().delete()
    response = manager_client.get(reverse("admin:loyalty_program_changelist"))
    assert response.url == PROGRAM_CHANGE
    assert Program.objects.filter(pk=1).exists()


def test_manager_changes_the_programme(manager_client, program):
    response = manager_client.post(
        PROGRAM_CHANGE, program_data(program, points_name="stars", earn_rate="2")
    )
    assert response.status_code == 302
    program.refresh_from_db()
    assert program.points_name == "stars"
    assert program.earn_rate == Decimal("2")


def test_cashier_can_read_but_not_change_the_programme(cashier_client, program):
    assert cashier_client.get(PROGRAM_CHANGE).status_code == 200
    response = cashier_client.post(PROGRAM_CHANGE, program_data(program, points_name="stars"))
    assert response.status_code == 403
    program.refresh_from_db()
    assert program.points_name == "points"


def test_programme_cannot_be_added_or_deleted(manager_client, program):
    assert manager_client.get(reverse("admin:loyalty_program_add")).status_code == 403
    delete = reverse("admin:loyalty_program_delete", args=[1])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    assert Program.objects.filter(pk=1).exists()


def test_bad_programme_value_is_a_form_error(manager_client, program):
    response = manager_client.post(PROGRAM_CHANGE, program_data(program, earn_rate="-1"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["earn_rate"]


# --- Locations and earning rules --------------------------------------------------------------


def test_manager_puts_staff_at_a_location(manager_client, location, cashier_user, manager_user):
    url = reverse("admin:loyalty_location_change", args=[location.pk])
    response = manager_client.post(
        url,
        {
            "name": location.name,
            "code": location.code,
            "address": "Main Street 1",
            "is_active": "on",
            "staff": [manager_user.pk],
        },
    )
    assert response.status_code == 302
    assert list(location.staff.all()) == [manager_user]


def test_cashier_cannot_change_a_location(cashier_client, location):
    url = reverse("admin:loyalty_location_change", args=[location.pk])
    response = cashier_client.post(url, {"name": "Mine", "code": location.code})
    assert response.status_code == 403


def test_threshold_rule_without_a_total_is_a_form_error_not_a_crash(manager_client, program):
    response = manager_client.post(
        reverse("admin:loyalty_earnrule_add"),
        {"name": "Big spender", "kind": "threshold", "multiplier": "1", "points": "10"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not EarnRule.objects.exists()


def test_cashier_cannot_add_earning_rules(cashier_client, program):
    assert cashier_client.get(reverse("admin:loyalty_earnrule_add")).status_code == 403


# --- Ledger, lots, events: read-only ----------------------------------------------------------


@pytest.fixture
def entry(member, manager_user):
    return points_adjust(member=member, points=10, reason="gift", actor=manager_user)


@pytest.mark.parametrize("client_name", ["cashier_client", "manager_client"])
def test_ledger_is_readable_but_never_writable(request, client_name, entry):
    client = request.getfixturevalue(client_name)
    change = reverse("admin:loyalty_ledgerentry_change", args=[entry.pk])

    assert client.get(reverse("admin:loyalty_ledgerentry_changelist")).status_code == 200
    page = client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert client.get(reverse("admin:loyalty_ledgerentry_add")).status_code == 403
    response = client.post(change, {"points": "999999", "reason": "hack"})
    assert response.status_code == 403
    delete = reverse("admin:loyalty_ledgerentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403

    entry.refresh_from_db()
    assert (entry.points, entry.reason) == (10, "gift")
    assert LedgerEntry.objects.count() == 1


def test_ledger_has_no_bulk_delete_action(manager_client, entry):
    response = manager_client.post(
        reverse("admin:loyalty_ledgerentry_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_ledger_list_filters_by_kind_and_source(manager_client, member, location, manager_user):
    purchase_record(member=member, location=location, total="10", actor=manager_user)
    points_adjust(member=member, points=3, reason="x", actor=manager_user)
    url = reverse("admin:loyalty_ledgerentry_changelist")

    by_kind = manager_client.get(url, {"kind__exact": "adjust"}).context["cl"].result_list
    by_source = manager_client.get(url, {"source_type__exact": "purchase"}).context["cl"]

    assert [e.kind for e in by_kind] == ["adjust"]
    assert [e.kind for e in by_source.result_list] == ["earn"]


def test_ledger_list_has_no_date_hierarchy_and_picks_members_by_raw_id():
    model_admin = admin.site._registry[LedgerEntry]
    assert model_admin.date_hierarchy is None
    assert "member" in model_admin.raw_id_fields
    assert model_admin.show_full_result_count is False
    assert model_admin.paginator is EstimatedCountPaginator


def test_ledger_list_query_count_is_constant(manager_client, location, manager_user, program):
    url = reverse("admin:loyalty_ledgerentry_changelist")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert manager_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    first = MemberFactory()
    points_adjust(member=first, points=1, reason="a", actor=manager_user)
    few = queries()
    for _ in range(20):
        points_adjust(member=MemberFactory(), points=1, reason="b", actor=manager_user)
    assert queries() == few


def test_lots_are_read_only(manager_client, entry):
    lot = PointsLot.objects.get()
    change = reverse("admin:loyalty_pointslot_change", args=[lot.pk])
    assert manager_client.get(change).status_code == 200
    assert manager_client.post(change, {"remaining": "0"}).status_code == 403
    lot.refresh_from_db()
    assert lot.remaining == 10


def test_events_are_read_only_and_filter_by_type(manager_client, entry):
    url = reverse("admin:loyalty_event_changelist")
    response = manager_client.get(url, {"type": "points.adjusted"})
    assert [e.type for e in response.context["cl"].result_list] == ["points.adjusted"]
    everything = manager_client.get(url).context["cl"].result_list
    assert {e.type for e in everything} == {"member.enrolled", "points.adjusted"}

    event = Event.objects.filter(type="points.adjusted").get()
    change = reverse("admin:loyalty_event_change", args=[event.pk])
    assert manager_client.post(change, {"type": "x"}).status_code == 403
    assert manager_client.get(reverse("admin:loyalty_event_add")).status_code == 403


# --- Purchases and refunds --------------------------------------------------------------------


def test_purchase_page_shows_award_lines_and_refund_button_for_managers(
    manager_client, cashier_user, purchase
):
    url = reverse("admin:loyalty_purchase_change", args=[purchase.pk])
    cashier_client = Client()
    cashier_client.force_login(cashier_user)

    manager_page = manager_client.get(url)
    assert manager_page.status_code == 200
    assert "+40" in manager_page.text
    assert refund_url(purchase) in manager_page.text

    cashier_page = cashier_client.get(url)
    assert cashier_page.status_code == 200
    assert refund_url(purchase) not in cashier_page.text


def test_purchases_cannot_be_added_or_edited_in_the_admin(manager_client, purchase):
    assert manager_client.get(reverse("admin:loyalty_purchase_add")).status_code == 403
    change = reverse("admin:loyalty_purchase_change", args=[purchase.pk])
    assert manager_client.post(change, {"total": "1"}).status_code == 403
    purchase.refresh_from_db()
    assert purchase.total == Decimal("40.00")


def test_manager_refunds_part_of_a_purchase(manager_client, manager_user, member, purchase):
    response = manager_client.post(
        refund_url(purchase), {"amount": "10.00", "reason": "One cake returned"}, follow=True
    )

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("10.00")
    refund = Refund.objects.get(purchase=purchase)
    assert (refund.points_clawed_back, refund.actor, refund.reason) == (
        10,
        manager_user,
        "One cake returned",
    )
    member.refresh_from_db()
    assert member.balance == 30
    assert any("10 points taken back" in m for m in messages_of(response))


def test_manager_refunds_the_rest_when_no_amount_is_given(manager_client, member, purchase):
    manager_client.post(refund_url(purchase), {"amount": "15", "reason": "part"})
    manager_client.post(refund_url(purchase), {"amount": "", "reason": "the rest"})

    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("40.00")
    member.refresh_from_db()
    assert member.balance == 0


def test_refund_above_what_is_left_is_refused_and_changes_nothing(manager_client, member, purchase):
    manager_client.post(refund_url(purchase), {"amount": "30", "reason": "first"})

    response = manager_client.post(refund_url(purchase), {"amount": "10.01", "reason": "again"})

    assert response.status_code == 200
    assert "larger than what is left" in str(response.context["form"].errors["amount"])
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("30.00")
    assert Refund.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 10


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": "-5", "reason": "x"}, "amount"),
        ({"amount": "0", "reason": "x"}, "amount"),
        ({"amount": "abc", "reason": "x"}, "amount"),
        ({"amount": "5", "reason": ""}, "reason"),
    ],
)
def test_bad_refund_input_shows_an_error_and_writes_nothing(
    manager_client, member, purchase, data, field
):
    response = manager_client.post(refund_url(purchase), data)

    assert response.context["form"].errors[field]
    assert not Refund.objects.exists()
    member.refresh_from_db()
    assert member.balance == 40


def test_refunding_a_fully_refunded_purchase_says_so(manager_client, purchase):
    manager_client.post(refund_url(purchase), {"amount": "", "reason": "all"})
    response = manager_client.post(refund_url(purchase), {"amount": "", "reason": "again"})
    assert "already been refunded" in str(response.context["form"].errors)
    assert Refund.objects.count() == 1


def test_cashier_cannot_refund(cashier_client, member, purchase):
    assert cashier_client.get(refund_url(purchase)).status_code == 403
    response = cashier_client.post(refund_url(purchase), {"amount": "10", "reason": "x"})
    assert response.status_code == 403
    assert not Refund.objects.exists()


def test_purchase_list_query_count_is_constant(manager_client, location, manager_user, program):
    url = reverse("admin:loyalty_purchase_changelist")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert manager_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    purchase_record(member=MemberFactory(), location=location, total="5", actor=manager_user)
    few = queries()
    for _ in range(10):
        purchase_record(member=MemberFactory(), location=location, total="5", actor=manager_user)
    assert queries() == few


# --- The paginator ----------------------------------------------------------------------------


def test_paginator_counts_exactly_on_a_filtered_list(program):
    for _ in range(3):
        MemberFactory()
    paginator = EstimatedCountPaginator(Member.objects.filter(balance=0).order_by("pk"), 2)
    paginator.exact_below = 0
    assert paginator.count == 3
    assert paginator.num_pages == 2


def test_paginator_counts_exactly_without_a_planner_estimate(program):
    for _ in range(3):
        MemberFactory()
    paginator = EstimatedCountPaginator(Member.objects.order_by("pk"), 2)
    paginator.exact_below = 0
    if connection.vendor != "postgresql":
        assert table_row_estimate(Member) is None
    assert paginator.count == 3


@pytest.mark.postgres
def test_paginator_uses_the_planner_estimate_on_a_big_unfiltered_table(program):
    for _ in range(3):
        MemberFactory()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_member")
    estimate = table_row_estimate(Member)
    assert estimate is not None

    paginator = EstimatedCountPaginator(Member.objects.order_by("pk"), 2)
    paginator.exact_below = 0
    with CaptureQueriesContext(connection) as ctx:
        count = paginator.count
    assert count == estimate
    assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.postgres
def test_paginator_counts_small_tables_exactly_even_on_postgres(program):
    MemberFactory()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_member")
    paginator = EstimatedCountPaginator(Member.objects.order_by("pk"), 2)
    assert paginator.count == 1


def test_manager_adds_a_threshold_rule(manager_client, program):
    response = manager_client.post(
        reverse("admin:loyalty_earnrule_add"),
        {
            "name": "Spend over 50",
            "kind": "threshold",
            "min_total": "50",
            "multiplier": "1",
            "points": "10",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert EarnRule.objects.get().min_total == Decimal("50")


def test_line_rule_without_category_or_sku_is_a_form_error(manager_client, program):
    response = manager_client.post(
        reverse("admin:loyalty_earnrule_add"),
        {"name": "Double", "kind": "multiplier", "multiplier": "2", "points": "0"},
    )
    assert response.context["adminform"].form.errors["category"]
    assert not EarnRule.objects.exists()


def test_refund_page_shows_what_is_left_to_refund(manager_client, purchase):
    response = manager_client.get(refund_url(purchase))
    assert response.status_code == 200
    assert 'value="Refund"' in response.text
    assert "40.00" in response.text
