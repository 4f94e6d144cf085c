"""The member portal as a signed-in member sees it: pages, redeeming, privacy, query counts."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Benefit, LedgerEntry, PointsLot, Program, PunchCardType, Tier
from loyalty.punch_cards import punch_card_stamp
from loyalty.selectors import config_changed
from loyalty.services import purchase_record
from members.models import Member, VipMembership
from members.tests.factories import MemberFactory
from members.vip import vip_grant
from rewards.models import Reward, Voucher
from rewards.tests.factories import RewardFactory, give_points, issued_voucher, redeemed_voucher

User = get_user_model()


def text(response) -> str:
    """Return the page's visible text with whitespace collapsed (tags dropped)."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def member_with_login(username: str, **member_fields) -> tuple[Member, object]:
    member = MemberFactory(**member_fields)
    user = User.objects.create_user(username=username, email=f"{username}@example.com")
    Member.objects.filter(pk=member.pk).update(user=user)
    member.refresh_from_db()
    return member, user


@pytest.fixture
def anna(program, location):
    Program.objects.filter(pk=1).update(name="Café Aroma", points_name="beans")
    config_changed()
    member, user = member_with_login("anna", first_name="Anna", last_name="Virtanen")
    return member, user


@pytest.fixture
def signed_in(client, anna):
    member, user = anna
    client.force_login(user)
    return client, member


# ------------------------------------------------------------------------------------------
# Access
# ------------------------------------------------------------------------------------------

PAGES = ["portal:dashboard", "portal:card", "portal:rewards", "portal:vouchers", "portal:history"]


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, program, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
    assert "next=" in response.url


def test_a_user_without_a_membership_is_asked_to_claim_one(client, program):
    client.force_login(User.objects.create_user(username="newbie", email="n@example.com"))

    response = client.get(reverse("portal:dashboard"))

    # The claim page belongs to the account pages: redirect there, or say where it is.
    if response.status_code == 302:
        assert "claim" in response.url
    else:
        assert response.status_code == 200
        assert "Link my membership" in text(response)
        assert "/account/claim/" in response.content.decode()


def test_staff_without_a_membership_go_to_the_counter_from_the_root(client, cashier_user):
    client.force_login(cashier_user)

    response = client.get("/")

    assert response.status_code == 302
    assert response.url == reverse("counter:home")


# ------------------------------------------------------------------------------------------
# Dashboard
# ------------------------------------------------------------------------------------------


def test_dashboard_shows_balance_pending_expiring_tier_vip_cards_and_activity(signed_in, location):
    client, member = signed_in
    # given pending points (7-day return window), points expiring soon, a tier and VIP
    Program.objects.filter(pk=1).update(pending_days=7)
    config_changed()
    gold = Tier.objects.create(rank=1, name="Gold", threshold=Decimal("1000"))
    Tier.objects.create(rank=2, name="Platinum", threshold=Decimal("5000"))
    lounge = Benefit.objects.create(code="lounge", name="Free coffee refills")
    gold.benefits.add(lounge)
    Benefit.objects.create(code="vip-desk", name="VIP desk", for_vip=True)
    give_points(member, 250, reason="Welcome gift from the shop")
    PointsLot.objects.filter(member=member, is_available=True).update(
        expires_at=timezone.now() + timedelta(days=10)
    )
    purchase_record(member=member, location=location, total="40.00", external_id="R-1001")
    Member.objects.filter(pk=member.pk).update(tier=gold)
    vip_grant(member=member, source=VipMembership.Source.PAID, months=3, fee="10.00")
    card_type = PunchCardType.objects.create(
        name="Coffee card",
        stamps_needed=8,
        reward=RewardFactory(name="Cup on us", points_cost=None),
    )
    punch_card_stamp(member=member, card_type=card_type, count=3, reason="Loyal customer")

    response = client.get(reverse("portal:dashboard"))

    assert response.status_code == 200
    page = text(response)
    assert "Hello, Anna" in page
    assert re.search(r"Your balance 250 beans", page)
    assert "40 beans on the way" in page
    assert "expire soon" in page
    assert "Gold" in page and "VIP" in page
    assert "more to Platinum" in page
    assert "Free coffee refills" in page and "VIP desk" in page
    assert "3 of 8 stamps" in page and "5 more stamps to Cup on us" in page
    assert page.count('class="stamp stamp--filled"') == 0  # stamps are markup, not text
    assert response.content.decode().count("stamp stamp--filled") == 3
    assert "Receipt R-1001 at Main Street" in page
    assert "Welcome gift from the shop" in page
    assert "Refer a friend" in page and "Challenges" in page
    html = response.content.decode()
    assert "--brand: #0b5cad" in html
    assert 'rel="manifest"' in html


def test_dashboard_uses_the_programme_colour(signed_in):
    client, _member = signed_in
    Program.objects.filter(pk=1).update(primary_colour="#7a1f5c")
    config_changed()

    html = client.get(reverse("portal:dashboard")).content.decode()

    assert "--brand: #7a1f5c" in html
    assert '<meta name="theme-color" content="#7a1f5c">' in html


def test_dashboard_of_a_new_member_has_no_made_up_data(signed_in):
    client, _member = signed_in

    page = text(client.get(reverse("portal:dashboard")))

    assert "Your balance 0 beans" in page
    assert "Nothing yet" in page
    assert "on the way" not in page and "expire soon" not in page


def test_dashboard_says_when_referrals_are_off_and_links_to_the_challenges(signed_in):
    client, _member = signed_in

    html = client.get(reverse("portal:dashboard")).content.decode()

    # Referrals are off until staff switch them on: the panel says so, with no code to copy.
    referral = re.search(r'<section[^>]*id="refer-a-friend".*?</section>', html, flags=re.S)
    assert referral is not None
    assert "<a " not in referral.group(0) and "<input" not in referral.group(0)
    assert "will appear here" in referral.group(0)
    challenges = re.search(r'<section[^>]*id="challenges".*?</section>', html, flags=re.S)
    assert challenges is not None
    assert "No challenges are running" in challenges.group(0)
    assert f'href="{reverse("campaigns:challenges")}"' in challenges.group(0)


# ------------------------------------------------------------------------------------------
# Card
# ------------------------------------------------------------------------------------------


def test_card_shows_the_qr_of_the_token_and_the_card_number(signed_in):
    client, member = signed_in

    response = client.get(reverse("portal:card"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html
    assert member.formatted_card_number in text(response)
    assert member.qr_token not in text(response)  # encoded in the QR, not printed


def test_manifest_and_service_worker_make_the_card_installable(client, program):
    Program.objects.filter(pk=1).update(name="Café Aroma", primary_colour="#7a1f5c")
    config_changed()

    manifest = client.get(reverse("portal:manifest")).json()
    worker = client.get(reverse("portal:service_worker"))

    assert manifest["name"] == "Café Aroma"
    assert manifest["start_url"] == reverse("portal:card")
    assert manifest["theme_color"] == "#7a1f5c"
    assert manifest["display"] == "standalone"
    assert worker.status_code == 200
    assert worker["Content-Type"].startswith("application/javascript")
    assert "/card/" in worker.content.decode()


# ------------------------------------------------------------------------------------------
# Catalogue and redeeming
# ------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue_items(db):
    coffee = RewardFactory(name="Free coffee", points_cost=100, display_order=1)
    credit = RewardFactory(
        name="Store credit 10 €",
        kind=Reward.Kind.STORE_CREDIT,
        points_cost=300,
        value=Decimal("10.00"),
        display_order=2,
    )
    gold = Tier.objects.create(rank=1, name="Gold", threshold=Decimal("1000"))
    lounge = RewardFactory(name="Lounge evening", points_cost=50, min_tier=gold, display_order=3)
    month = timezone.localtime().month
    other = 12 if month != 12 else 11
    winter = RewardFactory(
        name="Winter mug", points_cost=50, season_months=str(other), display_order=4
    )
    return coffee, credit, lounge, winter


def test_catalogue_shows_the_reasons_a_reward_cannot_be_redeemed(signed_in, catalogue_items):
    client, member = signed_in
    give_points(member, 260)

    page = text(client.get(reverse("portal:rewards")))

    assert "Free coffee" in page
    assert "40 more points" in page  # the store credit costs 300
    assert "Gold members only" in page
    assert "Back in " in page


def test_catalogue_filters_by_kind_and_by_what_is_affordable_now(signed_in, catalogue_items):
    client, member = signed_in
    give_points(member, 260)

    by_kind = text(client.get(reverse("portal:rewards"), {"kind": "store_credit"}))
    affordable = text(client.get(reverse("portal:rewards"), {"affordable": "1"}))

    assert "Store credit 10 €" in by_kind and "Free coffee" not in by_kind
    assert "Free coffee" in affordable
    assert "Store credit 10 €" not in affordable and "Winter mug" not in affordable


def test_redeeming_asks_to_confirm_then_a_double_submit_makes_one_voucher(
    signed_in, catalogue_items
):
    client, member = signed_in
    coffee = catalogue_items[0]
    give_points(member, 150)
    url = reverse("portal:redeem", args=[coffee.pk])

    # given the confirmation page with its one-time token
    confirm = client.get(url)
    assert "Redeem Free coffee?" in text(confirm)
    assert Voucher.objects.count() == 0
    token = re.search(r'name="token" value="([^"]+)"', confirm.content.decode()).group(1)

    # when the form is sent twice (a double tap)
    first = client.post(url, {"token": token})
    second = client.post(url, {"token": token}, follow=True)

    # then one voucher, one debit, and the voucher page shows its QR code and expiry
    voucher = Voucher.objects.get()
    assert voucher.member == member and voucher.reward == coffee
    assert first.status_code == 302
    assert first.url == reverse("portal:voucher", args=[voucher.code])
    member.refresh_from_db()
    assert member.balance == 50
    assert LedgerEntry.objects.filter(member=member, kind="redeem").count() == 1
    page = text(second)
    assert "already redeemed; nothing more was spent" in page
    assert voucher.formatted_code in page
    assert "<svg" in second.content.decode()
    assert timezone.localtime(voucher.expires_at).strftime("%Y") in page


def test_redeeming_with_too_few_points_shows_why_and_writes_nothing(signed_in, catalogue_items):
    client, member = signed_in
    credit = catalogue_items[1]
    give_points(member, 260)
    entries = LedgerEntry.objects.count()
    url = reverse("portal:redeem", args=[credit.pk])

    confirm = client.get(url)
    posted = client.post(url, {"token": "A" * 22})

    assert "40 more points" in text(confirm)
    assert 'name="token"' not in confirm.content.decode()
    assert posted.status_code == 400
    assert "more points" in text(posted) or "enough" in text(posted)
    assert Voucher.objects.count() == 0
    assert LedgerEntry.objects.count() == entries
    member.refresh_from_db()
    assert member.balance == 260


def test_a_reward_outside_the_catalogue_is_not_found(signed_in):
    client, _member = signed_in
    given_only = RewardFactory(points_cost=None)

    assert client.get(reverse("portal:redeem", args=[given_only.pk])).status_code == 404
    assert client.get(reverse("portal:redeem", args=[999999])).status_code == 404


# ------------------------------------------------------------------------------------------
# Vouchers
# ------------------------------------------------------------------------------------------


def test_vouchers_are_listed_by_tab_with_qr_codes_and_store_credit_left(signed_in):
    client, member = signed_in
    coffee = redeemed_voucher(member, RewardFactory(name="Free coffee"))
    credit = issued_voucher(
        member,
        RewardFactory(name="Store credit", kind=Reward.Kind.STORE_CREDIT, value=Decimal("10")),
    )
    old = issued_voucher(member, RewardFactory(name="Old cake"))
    Voucher.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    used = issued_voucher(member, RewardFactory(name="Used muffin"))
    Voucher.objects.filter(pk=used.pk).update(status="used", used_at=timezone.now())

    active = client.get(reverse("portal:vouchers"))
    used_tab = text(client.get(reverse("portal:vouchers"), {"tab": "used"}))
    expired_tab = text(client.get(reverse("portal:vouchers"), {"tab": "expired"}))
    detail = client.get(reverse("portal:voucher", args=[credit.formatted_code.lower()]))

    active_text = text(active)
    assert "Free coffee" in active_text and "Store credit" in active_text
    assert "Old cake" not in active_text and "Used muffin" not in active_text
    assert active.content.decode().count("<svg") == 2
    assert coffee.formatted_code in active_text
    assert "Used muffin" in used_tab and "Free coffee" not in used_tab
    assert "Old cake" in expired_tab and "Free coffee" not in expired_tab
    assert detail.status_code == 200
    assert "Store credit left" in text(detail) and "10.00" in text(detail)


def test_an_expired_voucher_shows_no_qr_code(signed_in):
    client, member = signed_in
    old = issued_voucher(member, RewardFactory(name="Old cake"))
    Voucher.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))

    response = client.get(reverse("portal:voucher", args=[old.code]))

    assert "Expired" in text(response)
    assert "<svg" not in response.content.decode()


# ------------------------------------------------------------------------------------------
# History
# ------------------------------------------------------------------------------------------


def test_history_lists_entries_with_reasons_and_links_purchases(signed_in, location):
    client, member = signed_in
    result = purchase_record(
        member=member,
        location=location,
        total="12.50",
        external_id="R-77",
        lines=[{"description": "Cinnamon bun", "amount": "12.50"}],
    )
    give_points(member, 5, reason="Sorry for the wait")

    page = client.get(reverse("portal:history"))
    receipt = client.get(reverse("portal:purchase", args=[result.purchase.pk]))

    page_text = text(page)
    assert "Receipt R-77 at Main Street" in page_text
    assert "Sorry for the wait" in page_text
    assert "Adjustment" in page_text and "Earned" in page_text
    assert "Balance 17" in page_text
    assert reverse("portal:purchase", args=[result.purchase.pk]) in page.content.decode()
    receipt_text = text(receipt)
    assert "Main Street" in receipt_text and "R-77" in receipt_text
    assert "Cinnamon bun" in receipt_text and "€12.50" in receipt_text


def test_history_pages_older_entries_by_keyset(signed_in):
    client, member = signed_in
    for n in range(30):
        give_points(member, 1, reason=f"Gift {n:02d}")

    first = client.get(reverse("portal:history"))
    older = re.search(r'href="\?before=(\d+)"', first.content.decode()).group(1)
    second = client.get(reverse("portal:history"), {"before": older})

    first_text, second_text = text(first), text(second)
    assert "Gift 29" in first_text and "Gift 05" in first_text and "Gift 04" not in first_text
    assert "Gift 04" in second_text and "Gift 00" in second_text and "Gift 05" not in second_text
    assert 'href="?before=' not in second.content.decode()
    assert client.get(reverse("portal:history"), {"before": "x"}).status_code == 200


# ------------------------------------------------------------------------------------------
# Two members: nobody sees or acts on another's data
# ------------------------------------------------------------------------------------------


def test_another_members_voucher_purchase_and_history_are_not_found(signed_in, location):
    client, anna = signed_in
    bertil, _user = member_with_login("bertil", first_name="Bertil")
    voucher = redeemed_voucher(bertil, RewardFactory(name="Cake"))
    purchase = purchase_record(
        member=bertil, location=location, total="99.00", external_id="B-1"
    ).purchase
    give_points(bertil, 7, reason="Bertil's secret gift")
    bertil_entry = LedgerEntry.objects.filter(member=bertil).order_by("-id").first()
    before = (Voucher.objects.get(pk=voucher.pk).status, Member.objects.get(pk=bertil.pk).balance)

    assert client.get(reverse("portal:voucher", args=[voucher.code])).status_code == 404
    for written in (voucher.formatted_code, voucher.code.lower()):
        assert client.get(reverse("portal:voucher", args=[written])).status_code == 404
    for tab in ("active", "used", "expired"):
        listed = text(client.get(reverse("portal:vouchers"), {"tab": tab}))
        assert voucher.formatted_code not in listed and "Cake" not in listed
    assert client.get(reverse("portal:purchase", args=[purchase.pk])).status_code == 404
    history = text(client.get(reverse("portal:history"), {"before": bertil_entry.pk + 1}))
    assert "Bertil" not in history and "B-1" not in history
    for name in PAGES:
        page = text(client.get(reverse(name)))
        assert "Bertil" not in page and bertil.formatted_card_number not in page
    assert (
        Voucher.objects.get(pk=voucher.pk).status,
        Member.objects.get(pk=bertil.pk).balance,
    ) == before
    assert anna.balance == 0


def test_a_redemption_spends_only_the_signed_in_members_points(signed_in):
    client, _anna = signed_in
    bertil, _user = member_with_login("bertil")
    give_points(bertil, 500)
    reward = RewardFactory(points_cost=100)

    response = client.post(reverse("portal:redeem", args=[reward.pk]), {"token": "B" * 22})

    assert response.status_code == 400
    assert Voucher.objects.count() == 0
    assert Member.objects.get(pk=bertil.pk).balance == 500


# ------------------------------------------------------------------------------------------
# Query counts: constant, whatever the member's history
# ------------------------------------------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _purchases(member, location, n: int, start: int) -> None:
    for i in range(n):
        purchase_record(
            member=member, location=location, total="10.00", external_id=f"Q-{start + i}"
        )


@pytest.mark.parametrize("name", ["portal:dashboard", "portal:history"])
def test_pages_run_the_same_few_queries_for_1_or_50_purchases(signed_in, location, name):
    client, member = signed_in
    Tier.objects.create(rank=1, name="Gold", threshold=Decimal("1000"))
    PunchCardType.objects.create(
        name="Coffee card", stamps_needed=8, reward=RewardFactory(points_cost=None)
    )
    redeemed_voucher(member)
    _purchases(member, location, 1, start=0)
    url = reverse(name)
    client.get(url)  # warm up: session and content types
    few = _queries(client, url)

    _purchases(member, location, 49, start=1)
    many = _queries(client, url)

    assert many == few, (few, many)
    assert few <= 20, few


def test_dashboard_lists_each_date_on_which_points_expire(signed_in, location):
    from datetime import timedelta

    from django.utils import timezone

    from loyalty.services import points_credit

    client, member = signed_in
    now = timezone.now()
    points_credit(member=member, points=30, reason="a", expires_at=now + timedelta(days=5))
    points_credit(member=member, points=20, reason="b", expires_at=now + timedelta(days=12))

    page = client.get(reverse("portal:dashboard")).content.decode()

    assert 'data-testid="expiry-schedule"' in page
    assert ": 30 " in page
    assert ": 20 " in page
