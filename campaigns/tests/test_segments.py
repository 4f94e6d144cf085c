"""Segments: each condition with members in and out, combinations, relative dates, consent."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import MemberScore, Segment
from campaigns.segments import (
    segment_contains,
    segment_count,
    segment_ids_for,
    segment_members,
    segment_preview,
)
from loyalty.models import Source, Tier
from loyalty.services import purchase_record, purchase_refund, visit_record
from loyalty.tests.factories import LocationFactory
from members.models import ConsentRecord, Member
from members.services import member_consent_set, member_preferences_update
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2026, 6, 15, 12, 0))


def ids(segment: Segment, **kwargs) -> set[int]:
    kwargs.setdefault("as_of", NOW)
    return set(segment_members(segment, **kwargs).values_list("pk", flat=True))


def seg(**fields) -> Segment:
    tiers = fields.pop("tiers", [])
    locations = fields.pop("locations", [])
    segment = Segment(name=fields.pop("name", "Test segment"), **fields)
    segment.full_clean()
    segment.save()
    segment.tiers.set(tiers)
    segment.locations.set(locations)
    return segment


def buy(member, location, total, *, days_ago: float, external_id=None):
    return purchase_record(
        member=member,
        location=location,
        total=Decimal(total),
        occurred_at=NOW - timedelta(days=days_ago),
        external_id=external_id,
        source=Source.ADMIN,
    )


def visit(member, location, *, days_ago: float):
    return visit_record(
        member=member, location=location, source=Source.ADMIN, at=NOW - timedelta(days=days_ago)
    )


@pytest.fixture
def two(program):
    return MemberFactory(), MemberFactory()


def test_an_empty_segment_matches_every_active_member_but_not_inactive_or_erased(program):
    # given
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    Member.objects.filter(pk=b.pk).update(is_active=False)
    Member.objects.filter(pk=c.pk).update(erased_at=NOW)
    # then
    assert ids(seg()) == {a.pk}


def test_tier(two):
    inside, outside = two
    gold = Tier.objects.create(rank=2, name="Gold", threshold=Decimal("100"))
    silver = Tier.objects.create(rank=1, name="Silver", threshold=Decimal("0"))
    Member.objects.filter(pk=inside.pk).update(tier=gold)
    Member.objects.filter(pk=outside.pk).update(tier=silver)
    assert ids(seg(tiers=[gold])) == {inside.pk}


def test_vip_yes_and_no(two):
    vip, plain = two
    Member.objects.filter(pk=vip.pk).update(vip_until=NOW + timedelta(days=1))
    # A VIP period that ended is not VIP.
    Member.objects.filter(pk=plain.pk).update(vip_until=NOW - timedelta(days=1))
    assert ids(seg(name="v", vip="yes")) == {vip.pk}
    assert ids(seg(name="n", vip="no")) == {plain.pk}


def test_location_by_home_purchase_or_visit(program, location):
    other = LocationFactory(code="other")
    home = MemberFactory(location=location)
    bought = MemberFactory()
    visited = MemberFactory()
    elsewhere = MemberFactory(location=other)
    buy(bought, location, "10", days_ago=3)
    visit(visited, location, days_ago=2)
    buy(elsewhere, other, "10", days_ago=3)
    assert ids(seg(locations=[location])) == {home.pk, bought.pk, visited.pk}


def test_joined_after_and_before(program):
    early = MemberFactory(at=NOW - timedelta(days=100))
    middle = MemberFactory(at=NOW - timedelta(days=50))
    late = MemberFactory(at=NOW - timedelta(days=5))
    after = (NOW - timedelta(days=60)).date()
    before = (NOW - timedelta(days=10)).date()
    assert ids(seg(name="a", joined_after=after)) == {middle.pk, late.pk}
    assert ids(seg(name="b", joined_before=before)) == {early.pk, middle.pk}
    assert ids(seg(name="c", joined_after=after, joined_before=before)) == {middle.pk}


def test_last_visit_after_and_before(program, location):
    recent, old, never = MemberFactory(), MemberFactory(), MemberFactory()
    visit(recent, location, days_ago=2)
    buy(old, location, "5", days_ago=40)
    day = (NOW - timedelta(days=10)).date()
    assert ids(seg(name="a", last_activity_after=day)) == {recent.pk}
    # "Last visit before" needs a last visit: members who never came are not in it.
    assert ids(seg(name="b", last_activity_before=day)) == {old.pk}
    assert never.pk not in ids(seg(name="c", last_activity_before=day))


def test_inactive_days_is_relative_and_counts_members_who_never_came(program, location):
    lapsed, active, never = MemberFactory(), MemberFactory(), MemberFactory()
    buy(lapsed, location, "5", days_ago=61)
    visit(active, location, days_ago=59)
    segment = seg(inactive_days=60)
    assert ids(segment) == {lapsed.pk, never.pk}
    # Ten days later, the active member has been away 69 days too.
    assert ids(segment, as_of=NOW + timedelta(days=10)) == {lapsed.pk, active.pk, never.pk}


def test_visit_frequency_counts_purchases_and_visits_in_the_window(program, location):
    frequent, rare = MemberFactory(), MemberFactory()
    buy(frequent, location, "5", days_ago=1)
    visit(frequent, location, days_ago=5)
    visit(frequent, location, days_ago=20)
    buy(rare, location, "5", days_ago=2)
    visit(rare, location, days_ago=3)
    visit(rare, location, days_ago=45)  # outside the 30 days
    segment = seg(min_visits=3, visits_days=30)
    assert ids(segment) == {frequent.pk}
    # Relative: 15 days later only two of the frequent member's three are in the window.
    assert ids(segment, as_of=NOW + timedelta(days=15)) == set()


def test_total_spend_in_a_period_is_net_of_refunds(program, location):
    big, refunded, old_spender, nothing = (MemberFactory() for _ in range(4))
    buy(big, location, "60", days_ago=5)
    buy(big, location, "50", days_ago=10)
    result = buy(refunded, location, "120", days_ago=3)
    purchase_refund(purchase=result.purchase, amount=Decimal("40"))
    buy(old_spender, location, "500", days_ago=200)
    segment = seg(name="a", spend_min=Decimal("100"), spend_days=90)
    assert ids(segment) == {big.pk}
    # All time: the old spender counts too.
    assert ids(seg(name="b", spend_min=Decimal("100"))) == {big.pk, old_spender.pk}
    # "At most" includes members who spent nothing.
    assert ids(seg(name="c", spend_max=Decimal("80"), spend_days=90)) == {
        refunded.pk,
        old_spender.pk,
        nothing.pk,
    }
    assert ids(seg(name="d", spend_min=Decimal("70"), spend_max=Decimal("100"), spend_days=90)) == {
        refunded.pk
    }


def test_rfm_score_between(program):
    low, mid, high, unscored = (MemberFactory() for _ in range(4))
    for member, score in ((low, 3), (mid, 9), (high, 15)):
        MemberScore.objects.create(
            member=member, recency=1, frequency=1, monetary=1, score=score, computed_at=NOW
        )
    assert ids(seg(name="a", rfm_min=9)) == {mid.pk, high.pk}
    assert ids(seg(name="b", rfm_max=9)) == {low.pk, mid.pk}
    assert ids(seg(name="c", rfm_min=5, rfm_max=10)) == {mid.pk}
    assert unscored.pk not in ids(seg(name="d", rfm_max=15))


def test_birthday_month_fixed_and_current(program):
    june = MemberFactory(birth_date=date(1990, 6, 30))
    july = MemberFactory(birth_date=date(1985, 7, 1))
    MemberFactory()  # no birth date
    assert ids(seg(name="a", birthday_month=7)) == {july.pk}
    current = seg(name="b", birthday_month=Segment.CURRENT_MONTH)
    assert ids(current) == {june.pk}
    assert ids(current, as_of=NOW + timedelta(days=20)) == {july.pk}


def test_favourite_category_is_an_exact_element_case_insensitive_and_non_ascii(program):
    coffee = MemberFactory()
    coffee_cake = MemberFactory()
    cafe = MemberFactory()
    member_preferences_update(member=coffee, favourite_categories=["Coffee", "tea"])
    member_preferences_update(member=coffee_cake, favourite_categories=["coffee cake"])
    member_preferences_update(member=cafe, favourite_categories=["Kahvilä", "咖啡"])
    assert ids(seg(name="a", favourite_category="coffee")) == {coffee.pk}
    assert ids(seg(name="b", favourite_category="kahvilä")) == {cafe.pk}
    assert ids(seg(name="c", favourite_category="咖啡")) == {cafe.pk}


def test_consent_per_channel(program):
    email_yes = MemberFactory()
    sms_yes = MemberFactory()
    withdrawn = MemberFactory()
    member_consent_set(
        member=email_yes, channel=ConsentRecord.Channel.EMAIL, granted=True, source=Source.ADMIN
    )
    member_consent_set(
        member=sms_yes, channel=ConsentRecord.Channel.SMS, granted=True, source=Source.ADMIN
    )
    for channel in (ConsentRecord.Channel.EMAIL, ConsentRecord.Channel.SMS):
        member_consent_set(member=withdrawn, channel=channel, granted=True, source=Source.ADMIN)
        member_consent_set(member=withdrawn, channel=channel, granted=False, source=Source.ADMIN)
    assert ids(seg(name="a", email_consent="yes")) == {email_yes.pk}
    assert ids(seg(name="b", sms_consent="yes")) == {sms_yes.pk}
    assert ids(seg(name="c", email_consent="no")) == {sms_yes.pk, withdrawn.pk}
    assert ids(seg(name="d", email_consent="yes", sms_consent="yes")) == set()


def test_combined_conditions_must_all_hold(program, location):
    # given: lapsed big spenders who agreed to email
    target = MemberFactory()
    not_lapsed = MemberFactory()
    no_consent = MemberFactory()
    small = MemberFactory()
    for member in (target, not_lapsed, small):
        member_consent_set(
            member=member, channel=ConsentRecord.Channel.EMAIL, granted=True, source=Source.ADMIN
        )
    buy(target, location, "300", days_ago=100)
    buy(not_lapsed, location, "300", days_ago=10)
    buy(no_consent, location, "300", days_ago=100)
    buy(small, location, "20", days_ago=100)
    segment = seg(inactive_days=60, spend_min=Decimal("200"), spend_days=365, email_consent="yes")
    # then
    assert ids(segment) == {target.pk}
    assert segment_count(segment, as_of=NOW) == 1
    assert segment_contains(segment, member=target, as_of=NOW)
    assert not segment_contains(segment, member=small, as_of=NOW)


def test_segment_ids_for_returns_the_segments_containing_the_member(program):
    member = MemberFactory(birth_date=date(1990, 6, 1))
    june = seg(name="june", birthday_month=6)
    july = seg(name="july", birthday_month=7)
    everyone = seg(name="all")
    found = segment_ids_for(member=member, segment_ids=[june.pk, july.pk, everyone.pk], as_of=NOW)
    assert found == {june.pk, everyone.pk}
    assert segment_ids_for(member=member, segment_ids=[]) == frozenset()


def test_preview_of_an_unsaved_segment_uses_the_given_tiers(program):
    gold = Tier.objects.create(rank=1, name="Gold", threshold=Decimal("0"))
    inside, outside = MemberFactory(), MemberFactory()
    Member.objects.filter(pk=inside.pk).update(tier=gold)
    unsaved = Segment(name="not saved")
    preview = segment_preview(unsaved, tier_ids=[gold.pk], as_of=NOW)
    assert preview.count == 1
    assert [m.pk for m in preview.sample] == [inside.pk]
    assert segment_preview(unsaved, as_of=NOW).count == 2
    assert outside.pk in ids(unsaved)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"joined_after": date(2026, 5, 1), "joined_before": date(2026, 4, 1)}, "joined_before"),
        ({"joined_after": date(2026, 5, 1), "joined_before": date(2026, 5, 1)}, "joined_before"),
        (
            {"last_activity_after": date(2026, 5, 2), "last_activity_before": date(2026, 5, 1)},
            "last_activity_before",
        ),
        ({"spend_min": Decimal("100"), "spend_max": Decimal("50")}, "spend_max"),
        ({"spend_min": Decimal("-1")}, "spend_min"),
        ({"spend_days": 30}, "spend_min"),
        ({"rfm_min": 12, "rfm_max": 6}, "rfm_max"),
        ({"rfm_min": 2}, "rfm_min"),
        ({"min_visits": 3}, "visits_days"),
        ({"visits_days": 30}, "min_visits"),
    ],
)
def test_contradicting_or_incomplete_conditions_are_refused(db, fields, field):
    segment = Segment(name="bad", **fields)
    with pytest.raises(ValidationError) as caught:
        segment.full_clean()
    assert field in caught.value.message_dict


def test_consistent_conditions_are_accepted(db):
    Segment(
        name="fine",
        joined_after=date(2026, 1, 1),
        joined_before=date(2026, 2, 1),
        spend_min=Decimal("10"),
        spend_max=Decimal("10"),
        spend_days=30,
        min_visits=2,
        visits_days=30,
        rfm_min=5,
        rfm_max=5,
    ).full_clean()
