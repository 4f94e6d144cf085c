"""Bonus campaigns through the services: recording, quoting, caps, segments, refunds, validation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.bonus import (
    CampaignInvalid,
    CampaignOverlap,
    campaign_preview,
    campaign_validate,
    campaigns_current,
)
from campaigns.models import BonusCampaign, CampaignAward, Segment
from loyalty import hooks
from loyalty.models import Purchase, Tier
from loyalty.selectors import config_changed, ledger_drift
from loyalty.services import purchase_quote, purchase_record, purchase_refund
from loyalty.tests.factories import LocationFactory
from members.tests.factories import MemberFactory


def make_campaign(**fields) -> BonusCampaign:
    now = timezone.now()
    data = {
        "name": "Double points",
        "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=1),
    }
    data.update(fields)
    locations = data.pop("locations", ())
    tiers = data.pop("tiers", ())
    campaign = BonusCampaign.objects.create(**data)
    campaign.locations.set(locations)
    campaign.tiers.set(tiers)
    config_changed()
    return campaign


def campaign_lines(awards):
    return [(a["label"], a["points"], a["campaign_id"]) for a in awards if a["code"] == "campaign"]


def test_double_points_on_a_recorded_purchase_names_the_campaign(program, location, member):
    campaign = make_campaign(name="Double points weekend")

    result = purchase_record(member=member, location=location, total="25.00", external_id="R1")

    assert campaign_lines(result.awards) == [("Double points weekend", 25, campaign.pk)]
    assert result.points == 50
    member.refresh_from_db()
    assert member.balance == 50
    award = CampaignAward.objects.get()
    assert (award.campaign, award.member, award.purchase, award.points) == (
        campaign,
        member,
        result.purchase,
        25,
    )
    assert ledger_drift() == []


def test_purchases_outside_the_window_get_no_campaign_points(program, location, member):
    now = timezone.now()
    make_campaign(starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=2))

    before = purchase_record(
        member=member, location=location, total="10", occurred_at=now - timedelta(days=4)
    )
    inside = purchase_record(
        member=member, location=location, total="10", occurred_at=now - timedelta(days=2, hours=1)
    )
    after = purchase_record(member=member, location=location, total="10")

    assert (before.points, inside.points, after.points) == (10, 20, 10)
    assert CampaignAward.objects.get().purchase == inside.purchase


def test_the_quote_shows_the_campaign_and_respects_the_location(program, location, member):
    other = LocationFactory(name="Harbour", code="harbour")
    campaign = make_campaign(name="Harbour triple", multiplier=Decimal("3"), locations=[other])

    at_harbour = purchase_quote(member=member, location=other, total="10")
    at_main = purchase_quote(member=member, location=location, total="10")

    assert [(a.code, a.label, a.points, a.campaign_id) for a in at_harbour.awards] == [
        ("base", "1 per €1.00 spent", 10, None),
        ("campaign", "Harbour triple", 20, campaign.pk),
    ]
    assert at_main.points == 10
    assert CampaignAward.objects.count() == 0


def test_the_cap_counts_what_the_member_already_got(program, location, member):
    make_campaign(name="Bonus 40", kind="fixed", points=40, cap=100)
    other_member = MemberFactory()

    points = [purchase_record(member=member, location=location, total="1").points for _ in range(4)]
    other = purchase_record(member=other_member, location=location, total="1").points

    # 1 base point each; the bonus gives 40, 40, then the 20 left, then nothing.
    assert points == [41, 41, 21, 1]
    assert other == 41
    assert sum(CampaignAward.objects.filter(member=member).values_list("points", flat=True)) == 100


def test_tier_and_vip_conditions_use_the_member(program, location, member):
    gold = Tier.objects.create(rank=1, name="Gold", threshold=Decimal("100000"))
    make_campaign(name="Gold bonus", kind="fixed", points=10, tiers=[gold])
    make_campaign(name="VIP bonus", kind="fixed", points=7, vip_only=True)

    assert purchase_quote(member=member, location=location, total="1").points == 1

    type(member).objects.filter(pk=member.pk).update(
        tier=gold, vip_until=timezone.now() + timedelta(days=30)
    )
    member.refresh_from_db()
    quote = purchase_quote(member=member, location=location, total="1")
    assert [(a.label, a.points) for a in quote.awards if a.code == "campaign"] == [
        ("Gold bonus", 10),
        ("VIP bonus", 7),
    ]


def test_a_segment_campaign_reaches_only_the_segment(program, location):
    old_hand = MemberFactory()
    newcomer = MemberFactory()
    type(old_hand).objects.filter(pk=old_hand.pk).update(
        enrolled_at=timezone.now() - timedelta(days=400)
    )
    segment = Segment.objects.create(
        name="Members for over a year", joined_before=timezone.localdate() - timedelta(days=365)
    )
    make_campaign(name="Thank you", kind="fixed", points=30, segment=segment)

    assert purchase_record(member=old_hand, location=location, total="5").points == 35
    assert purchase_record(member=newcomer, location=location, total="5").points == 5


def test_no_member_queries_without_segment_or_cap_campaigns(program, location, member):
    calls = []
    original = hooks._providers["member_campaign_state"]
    hooks.provide("member_campaign_state", lambda **kw: calls.append(kw) or original(**kw))
    try:
        make_campaign(name="Plain double")
        purchase_quote(member=member, location=location, total="5")
        assert calls == []
        make_campaign(name="Capped", kind="fixed", points=5, cap=10)
        purchase_quote(member=member, location=location, total="5")
        assert len(calls) == 1
    finally:
        hooks.provide("member_campaign_state", original)


def test_a_refund_takes_back_campaign_points_in_proportion(program, location, member):
    make_campaign(name="Double points")
    result = purchase_record(member=member, location=location, total="40", external_id="R9")
    assert result.points == 80

    purchase_refund(purchase=result.purchase, amount="10")
    member.refresh_from_db()
    assert member.balance == 60  # a quarter of the 80, campaign points included

    purchase_refund(purchase=result.purchase)
    member.refresh_from_db()
    assert member.balance == 0
    assert ledger_drift() == []
    # The points given stay counted against the cap: refunds do not reopen it.
    assert CampaignAward.objects.get().points == 40


def test_recording_the_same_receipt_twice_records_the_award_once(program, location, member):
    make_campaign()
    purchase_record(member=member, location=location, total="10", external_id="R1")
    again = purchase_record(member=member, location=location, total="10", external_id="R1")

    assert again.created is False
    assert CampaignAward.objects.count() == 1
    purchase = Purchase.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignAward.objects.create(
            campaign=BonusCampaign.objects.get(),
            member=member,
            purchase=purchase,
            points=1,
            created_at=timezone.now(),
        )


def test_windows_ending_before_they_start_are_refused(program):
    now = timezone.now()
    campaign = BonusCampaign(name="Backwards", starts_at=now, ends_at=now - timedelta(hours=1))

    with pytest.raises(CampaignInvalid) as err:
        campaign_validate(campaign=campaign)
    assert err.value.detail == "The campaign must end after it starts."
    assert err.value.field == "ends_at"
    with pytest.raises(ValidationError) as invalid:
        campaign.full_clean()
    assert invalid.value.message_dict["ends_at"] == ["The campaign must end after it starts."]
    # The database refuses it too.
    with pytest.raises(IntegrityError), transaction.atomic():
        campaign.save()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"multiplier": Decimal("1")}, "multiplier", "A multiplier campaign needs a multiplier"),
        ({"kind": "fixed", "points": 0}, "points", "A fixed campaign needs a positive number"),
        ({"hour_from": "10:00"}, "hour_until", "Give both times of day, or neither."),
        ({"weekdays": [7]}, "weekdays", "Weekdays are numbers from 0"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_error(program, fields, field, message):
    now = timezone.now()
    campaign = BonusCampaign(name="Bad", starts_at=now, ends_at=now + timedelta(days=1), **fields)

    with pytest.raises(CampaignInvalid) as err:
        campaign_validate(campaign=campaign)

    assert err.value.field == field
    assert err.value.detail.startswith(message)
    assert not BonusCampaign.objects.exists()


def test_overlapping_exclusive_campaigns_are_refused_unless_at_separate_locations(
    program, location
):
    harbour = LocationFactory(name="Harbour", code="harbour")
    now = timezone.now()
    make_campaign(
        name="Black Friday",
        stacking="exclusive",
        starts_at=now,
        ends_at=now + timedelta(days=3),
        locations=[location],
    )

    clash = BonusCampaign(
        name="Cyber Monday",
        stacking="exclusive",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=4),
    )
    with pytest.raises(CampaignOverlap) as err:
        campaign_validate(campaign=clash)  # every location, so Main Street too
    assert "“Black Friday” runs at the same time" in err.value.detail
    with pytest.raises(CampaignOverlap):
        campaign_validate(campaign=clash, location_ids=[location.pk, harbour.pk])

    campaign_validate(campaign=clash, location_ids=[harbour.pk])  # separate locations
    later = BonusCampaign(
        name="Later",
        stacking="exclusive",
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=4),
    )
    campaign_validate(campaign=later)  # back to back is fine
    stacking = BonusCampaign(
        name="Stacking", starts_at=now, ends_at=now + timedelta(days=4), stacking="stack"
    )
    campaign_validate(campaign=stacking)


def test_current_campaigns_are_running_and_upcoming_enabled_ones(program):
    now = timezone.now()
    running = make_campaign(name="Running")
    upcoming = make_campaign(
        name="Upcoming", starts_at=now + timedelta(days=5), ends_at=now + timedelta(days=6)
    )
    make_campaign(name="Ended", starts_at=now - timedelta(days=5), ends_at=now - timedelta(days=4))
    make_campaign(name="Disabled", is_active=False)

    assert list(campaigns_current()) == [running, upcoming]
    assert running.status() == "running"
    assert upcoming.status() == "scheduled"


def test_preview_counts_what_the_campaign_would_have_added_last_week(program, location):
    now = timezone.now()
    members = [MemberFactory() for _ in range(3)]
    for index, member in enumerate(members):
        purchase_record(
            member=member,
            location=location,
            total="10",
            lines=[{"amount": "10", "category": "coffee" if index < 2 else "tea"}],
            occurred_at=now - timedelta(days=2),
        )
    purchase_record(
        member=members[0], location=location, total="10", occurred_at=now - timedelta(days=9)
    )
    # Planned for next month: the preview ignores its dates.
    campaign = make_campaign(
        name="Coffee double",
        category="coffee",
        starts_at=now + timedelta(days=30),
        ends_at=now + timedelta(days=31),
    )

    preview = campaign_preview(campaign=campaign, as_of=now)

    assert (preview.purchases_sampled, preview.purchases_affected) == (3, 2)
    assert (preview.extra_points, preview.members_reached) == (20, 2)
    assert preview.sample_limited is False
    assert campaign_preview(campaign=campaign, as_of=now, limit=2).sample_limited is True


def test_preview_applies_the_cap_and_stacking(program, location, member):
    now = timezone.now()
    for _ in range(3):
        purchase_record(
            member=member, location=location, total="10", occurred_at=now - timedelta(days=1)
        )
    campaign = make_campaign(name="Capped", kind="fixed", points=50, cap=120, is_active=False)
    assert campaign_preview(campaign=campaign, as_of=now).extra_points == 120

    make_campaign(
        name="Exclusive",
        kind="fixed",
        points=5,
        stacking="exclusive",
        starts_at=now - timedelta(days=3),
    )
    campaign.stacking = "exclusive"
    # Exclusive against an exclusive 5-point campaign already running: the previewed one wins
    # (50, 50, then the 20 left of its cap), replacing the 5 points each purchase had.
    assert campaign_preview(campaign=campaign, as_of=now).extra_points == 120 - 3 * 5
