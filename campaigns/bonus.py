"""Bonus campaigns: what feeds the earning engine, validation, records of points given, previews.

The engine (``loyalty.engine.campaign_awards``) decides which campaigns apply to a purchase;
this module hands it the campaigns (``campaign_specs``) and the member facts they need
(``member_campaign_state``: segments, points already given per capped campaign), records a
``CampaignAward`` for each campaign line of a recorded purchase, and answers the admin's
"what would this campaign have awarded last week" preview with the same engine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import BonusCampaign, CampaignAward
from campaigns.translation import default_text, texts_per_language
from loyalty import engine, errors, hooks

# A purchase can be recorded after the fact (an offline till uploading its queue); campaigns
# that ended up to this long ago still reach the engine so such purchases get their bonus.
LATE_UPLOAD_DAYS = 30
PREVIEW_DAYS = 7
PREVIEW_LIMIT = 5000


class CampaignInvalid(errors.InvalidInput):
    code = "campaign_invalid"
    message = _("The bonus campaign is not valid.")


class CampaignOverlap(errors.InvalidInput):
    code = "campaign_overlap"
    message = _(
        "Exclusive campaigns cannot overlap: “%(other)s” runs at the same time at the same "
        "locations. Change the dates, or give both campaigns different locations."
    )


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def campaign_field_errors(campaign: BonusCampaign) -> dict[str, list[str]]:
    """Return the field errors of ``campaign`` on its own (dates, amounts, hours, weekdays)."""
    found: dict[str, list[str]] = defaultdict(list)
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        found["ends_at"].append(str(_("The campaign must end after it starts.")))
    if campaign.kind == BonusCampaign.Kind.MULTIPLIER and (
        campaign.multiplier is None or campaign.multiplier <= 1
    ):
        found["multiplier"].append(
            str(_("A multiplier campaign needs a multiplier above 1 (2 = double points)."))
        )
    if campaign.kind == BonusCampaign.Kind.FIXED and not (campaign.points and campaign.points > 0):
        found["points"].append(str(_("A fixed campaign needs a positive number of points.")))
    if (campaign.hour_from is None) != (campaign.hour_until is None):
        found["hour_until"].append(str(_("Give both times of day, or neither.")))
    elif campaign.hour_from is not None and campaign.hour_from == campaign.hour_until:
        found["hour_until"].append(
            str(_("The hours start and end at the same time; leave both empty for all day."))
        )
    weekdays = campaign.weekdays or []
    if not isinstance(weekdays, list) or any(
        not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in weekdays
    ):
        found["weekdays"].append(str(_("Weekdays are numbers from 0 (Monday) to 6 (Sunday).")))
    if campaign.cap is not None and campaign.cap <= 0:
        found["cap"].append(str(_("The cap must be a positive number of points.")))
    return dict(found)


def exclusive_overlaps(
    *, campaign: BonusCampaign, location_ids: Iterable[int]
) -> QuerySet[BonusCampaign]:
    """Return the other enabled exclusive campaigns that clash with ``campaign``.

    Two exclusive campaigns clash when their date windows overlap, unless both are limited to
    locations and no location is in both. Weekdays and hours are not compared: two exclusive
    campaigns on the same dates are a mistake often enough to be refused outright.
    """
    location_ids = set(location_ids)
    if campaign.stacking != BonusCampaign.Stacking.EXCLUSIVE or not campaign.is_active:
        return BonusCampaign.objects.none()
    qs = BonusCampaign.objects.filter(
        is_active=True,
        stacking=BonusCampaign.Stacking.EXCLUSIVE,
        starts_at__lt=campaign.ends_at,
        ends_at__gt=campaign.starts_at,
    )
    if campaign.pk:
        qs = qs.exclude(pk=campaign.pk)
    if location_ids:
        # Clash if the other campaign covers every location, or shares one.
        qs = qs.filter(Q(locations__isnull=True) | Q(locations__in=location_ids)).distinct()
    return qs.order_by("starts_at", "pk")


def campaign_validate(*, campaign: BonusCampaign, location_ids: Iterable[int] = ()) -> None:
    """Raise ``CampaignInvalid`` or ``CampaignOverlap`` if ``campaign`` cannot be saved."""
    found = campaign_field_errors(campaign)
    if found:
        field, messages = next(iter(found.items()))
        raise CampaignInvalid(messages[0], field=field)
    other = exclusive_overlaps(campaign=campaign, location_ids=location_ids).first()
    if other is not None:
        raise CampaignOverlap(other=other.name, field="stacking")


# --------------------------------------------------------------------------------------------
# Feeding the engine
# --------------------------------------------------------------------------------------------


def campaign_spec(
    campaign: BonusCampaign, *, location_ids=None, tier_ids=None
) -> engine.CampaignSpec:
    """Return ``campaign`` as the engine sees it."""
    if location_ids is None:
        location_ids = [loc.pk for loc in campaign.locations.all()]
    if tier_ids is None:
        tier_ids = [tier.pk for tier in campaign.tiers.all()]
    return engine.CampaignSpec(
        id=campaign.pk,
        name=default_text(campaign, "name"),
        names=tuple(sorted(texts_per_language(campaign, "name").items())),
        kind=campaign.kind,
        multiplier=campaign.multiplier,
        points=campaign.points,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        weekdays=tuple(sorted(campaign.weekdays or ())),
        hour_from=campaign.hour_from,
        hour_until=campaign.hour_until,
        min_spend=campaign.min_spend,
        category=campaign.category,
        sku=campaign.sku,
        location_ids=frozenset(location_ids),
        tier_ids=frozenset(tier_ids),
        vip_only=campaign.vip_only,
        segment_id=campaign.segment_id,
        stacking=campaign.stacking,
        cap=campaign.cap,
    )


def campaign_specs(*, as_of: datetime | None = None) -> tuple[engine.CampaignSpec, ...]:
    """Return the enabled campaigns the engine may need: running, upcoming, or recently ended.

    Three queries, cached by ``loyalty.selectors.program_rules`` like the earning rules.
    """
    as_of = as_of or timezone.now()
    campaigns = BonusCampaign.objects.filter(
        is_active=True, ends_at__gt=as_of - timedelta(days=LATE_UPLOAD_DAYS)
    ).prefetch_related("locations", "tiers")
    return tuple(campaign_spec(c) for c in campaigns.order_by("pk"))


def member_campaign_state(
    *, member, campaigns: Sequence[engine.CampaignSpec], at: datetime
) -> dict[str, Any]:
    """Return the member's segments and points already given, for the campaigns that ask.

    One query for the caps; segments cost what ``segment_ids_for`` costs (a few per segment).
    """
    from campaigns.segments import segment_ids_for

    segment_ids = sorted({c.segment_id for c in campaigns if c.segment_id is not None})
    capped = sorted({c.id for c in campaigns if c.cap is not None})
    given: dict[int, int] = {}
    if capped:
        given = dict(
            CampaignAward.objects.filter(member_id=member.pk, campaign_id__in=capped)
            .values_list("campaign_id")
            .annotate(total=Sum("points"))
            .values_list("campaign_id", "total")
        )
    return {
        "segment_ids": segment_ids_for(member=member, segment_ids=segment_ids, as_of=at)
        if segment_ids
        else frozenset(),
        "campaign_points": given,
    }


def _per_member_campaigns_running(**_kwargs: Any) -> bool:
    """True while a started campaign with a segment or a cap can apply (batch goes one by one).

    Campaigns that ended recently count too: a late upload may hold purchases from their time.
    """
    from loyalty.selectors import program_rules

    now = timezone.now()
    return any(
        c.needs_member_state and (c.starts_at is None or c.starts_at <= now)
        for c in program_rules().campaigns
    )


def _award_rows(purchase) -> list[CampaignAward]:
    return [
        CampaignAward(
            campaign_id=line["campaign_id"],
            member_id=purchase.member_id,
            purchase_id=purchase.pk,
            points=line["points"],
            created_at=purchase.occurred_at,
        )
        for line in purchase.awards or ()
        if line.get("code") == "campaign" and line.get("campaign_id") and line.get("points")
    ]


def _on_purchase_recorded(*, purchase, **_kwargs: Any) -> None:
    rows = _award_rows(purchase)
    if rows:
        CampaignAward.objects.bulk_create(rows, ignore_conflicts=True)


def _on_purchases_recorded_bulk(*, purchases: Sequence, **_kwargs: Any) -> None:
    rows = [row for purchase in purchases for row in _award_rows(purchase)]
    if rows:
        CampaignAward.objects.bulk_create(rows, ignore_conflicts=True)


def connect() -> None:
    """Install the engine's campaign providers and the purchase handlers."""
    hooks.provide("campaign_specs", campaign_specs)
    hooks.provide("member_campaign_state", member_campaign_state)
    hooks.register("purchase_recorded", _on_purchase_recorded)
    hooks.register("purchases_recorded_bulk", _on_purchases_recorded_bulk)
    hooks.register("purchase_hooks_active", _per_member_campaigns_running)


# --------------------------------------------------------------------------------------------
# Reads: current campaigns, preview
# --------------------------------------------------------------------------------------------


def campaigns_current(*, as_of: datetime | None = None) -> QuerySet[BonusCampaign]:
    """Return the enabled campaigns running now or starting later, soonest first."""
    as_of = as_of or timezone.now()
    return (
        BonusCampaign.objects.filter(is_active=True, ends_at__gt=as_of)
        .select_related("segment")
        .prefetch_related("locations", "tiers")
        .order_by("starts_at", "pk")
    )


@dataclass(frozen=True)
class Preview:
    """What a campaign would have added to the purchases of a past period."""

    since: datetime
    until: datetime
    purchases_sampled: int
    sample_limited: bool
    purchases_affected: int
    extra_points: int
    members_reached: int


def campaign_preview(
    *,
    campaign: BonusCampaign,
    as_of: datetime | None = None,
    days: int = PREVIEW_DAYS,
    limit: int = PREVIEW_LIMIT,
) -> Preview:
    """Return what ``campaign`` would have added to the purchases of the last ``days`` days.

    Runs the earning engine on each recorded purchase (its lines, time and location) with and
    without the campaign; the difference is what the campaign adds, after stacking with the
    other campaigns and its cap. The campaign's own dates are ignored (its weekdays, hours
    and other conditions are kept), so a campaign planned for next month can be tried on last
    week. Members are taken as they are now (tier, VIP, segments, points already given). At
    most ``limit`` purchases are used, the latest ones. A fixed number of queries.
    """
    from loyalty.models import Purchase
    from loyalty.selectors import program_get, program_rules, tiers_ordered

    until = as_of or timezone.now()
    since = until - timedelta(days=days)
    program = program_get()
    rules = program_rules(program=program)
    others = tuple(c for c in rules.campaigns if c.id != campaign.pk)
    spec = replace(campaign_spec(campaign), id=campaign.pk or 0, starts_at=None, ends_at=None)
    without_rules = replace(rules, campaigns=others)
    with_rules = replace(rules, campaigns=(*others, spec))

    purchases = list(
        Purchase.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
        .select_related("member")
        .prefetch_related("lines")
        .order_by("-occurred_at", "-pk")[: limit + 1]
    )
    limited = len(purchases) > limit
    purchases = purchases[:limit]
    purchases.reverse()  # chronological, so caps fill up as they would have

    members = {p.member_id: p.member for p in purchases}
    tiers = {t.pk: t for t in tiers_ordered()}
    segment_members = _segment_members(
        {c.segment_id for c in with_rules.campaigns if c.segment_id is not None},
        member_ids=list(members),
        as_of=until,
    )
    capped = [c.id for c in with_rules.campaigns if c.cap is not None and c.id]
    given_with: dict[tuple[int, int], int] = defaultdict(int)
    if capped:
        for member_id, campaign_id, total in (
            CampaignAward.objects.filter(member_id__in=list(members), campaign_id__in=capped)
            .values_list("member_id", "campaign_id")
            .annotate(total=Sum("points"))
            .values_list("member_id", "campaign_id", "total")
        ):
            given_with[(member_id, campaign_id)] = total
    given_without = defaultdict(int, given_with)

    affected = 0
    extra = 0
    reached: set[int] = set()
    for purchase in purchases:
        member = members[purchase.member_id]
        tier = tiers.get(member.tier_id)
        is_vip = member.is_vip(at=until)
        base_state = engine.MemberState(
            tier_name=tier.name if tier else "",
            tier_multiplier=tier.multiplier if tier else Decimal("1"),
            vip_bonus_percent=program.vip_earn_bonus_percent if is_vip else Decimal("0"),
            tier_id=member.tier_id,
            is_vip=is_vip,
            segment_ids=frozenset(s for s, ids in segment_members.items() if member.pk in ids),
        )
        lines = [
            engine.LineIn(
                amount=line.amount, quantity=line.quantity, sku=line.sku, category=line.category
            )
            for line in purchase.lines.all()
        ]
        results = []
        for run_rules, given in ((without_rules, given_without), (with_rules, given_with)):
            state = replace(
                base_state,
                campaign_points={c: given.get((member.pk, c), 0) for c in capped},
            )
            lines_out = engine.campaign_awards(
                rules=run_rules,
                member=state,
                total=purchase.total,
                lines=lines,
                at=purchase.occurred_at,
                location_id=purchase.location_id,
            )
            for award in lines_out:
                if award.campaign_id in capped:
                    given[(member.pk, award.campaign_id)] += award.points
            results.append(sum(a.points for a in lines_out))
        difference = results[1] - results[0]
        if difference:
            affected += 1
            extra += difference
            reached.add(member.pk)
    return Preview(
        since=since,
        until=until,
        purchases_sampled=len(purchases),
        sample_limited=limited,
        purchases_affected=affected,
        extra_points=extra,
        members_reached=len(reached),
    )


def _segment_members(segment_ids: set[int], *, member_ids: list[int], as_of) -> dict[int, set]:
    """Return, per segment, which of ``member_ids`` it contains (a few queries per segment)."""
    from campaigns.models import Segment
    from campaigns.segments import segment_members

    found: dict[int, set] = {}
    for segment in Segment.objects.filter(pk__in=segment_ids):
        found[segment.pk] = set(
            segment_members(segment, as_of=as_of)
            .filter(pk__in=member_ids)
            .values_list("pk", flat=True)
        )
    return found


@dataclass(frozen=True)
class MemberOffer:
    """A bonus campaign a member can get, with what its cap still leaves them."""

    campaign: BonusCampaign
    running: bool
    points_left: int | None


def campaigns_for_member(*, member, as_of: datetime | None = None) -> list[MemberOffer]:
    """Return the running and upcoming campaigns open to ``member`` (tier, VIP, segment).

    Conditions of the purchase itself (time of day, spend, category, location) are left to
    the page to describe. Capped campaigns the member has used up are left out.
    """
    from campaigns.segments import segment_ids_for

    as_of = as_of or timezone.now()
    campaigns = list(campaigns_current(as_of=as_of))
    is_vip = member.is_vip(at=as_of)
    segments = segment_ids_for(
        member=member,
        segment_ids=sorted({c.segment_id for c in campaigns if c.segment_id is not None}),
        as_of=as_of,
    )
    capped = [c.pk for c in campaigns if c.cap is not None]
    given = (
        dict(
            CampaignAward.objects.filter(member_id=member.pk, campaign_id__in=capped)
            .values_list("campaign_id")
            .annotate(total=Sum("points"))
            .values_list("campaign_id", "total")
        )
        if capped
        else {}
    )
    offers = []
    for campaign in campaigns:
        tier_ids = {t.pk for t in campaign.tiers.all()}
        if tier_ids and member.tier_id not in tier_ids:
            continue
        if campaign.vip_only and not is_vip:
            continue
        if campaign.segment_id is not None and campaign.segment_id not in segments:
            continue
        left = None if campaign.cap is None else max(campaign.cap - given.get(campaign.pk, 0), 0)
        if left == 0:
            continue
        offers.append(MemberOffer(campaign, campaign.starts_at <= as_of, left))
    return offers
