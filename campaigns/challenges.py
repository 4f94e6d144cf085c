"""Challenges and badges: progress from purchases, visits and referrals; rewards on completion.

Rules (docs/campaigns.md, "Challenges and badges"):

* Activity counts when it *happened* inside the challenge's window. Purchases uploaded
  late by an offline till still count up to ``LATE_GRACE`` after the end.
* Automatic challenges count every eligible member's activity; their progress row is made
  at the first activity that counts. Opt-in challenges count activity from the moment the
  member joined. The segment is checked when a member joins (or at their first counted
  activity): a member who later leaves the segment keeps going.
* Visits: days with a purchase or check-in (two on one day are one visit).
  Categories: items (quantities) of the category. Products: different SKUs.
* A refund made before completion takes back what the purchase counted for spending
  (the refunded amount), purchases and category items (full refunds only). A completed
  challenge stays completed and its reward is kept.
* Completion happens once: ``completed_at`` is set by a conditional update of the locked,
  unique (challenge, member) row; only the transaction that sets it gives the reward.
  A voucher that cannot be issued (out of stock, reward withdrawn) does not block the
  purchase or the rest of the reward: the reason is kept on the progress row for staff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import Badge, Challenge, ChallengeProgress, MemberBadge
from campaigns.translation import text_lazy
from loyalty import errors, hooks
from loyalty.models import LedgerEntry, Purchase, PurchaseLine, Visit
from loyalty.selectors import _config
from members.models import Member

logger = logging.getLogger(__name__)

LATE_GRACE = timedelta(days=7)
MILESTONE_CHUNK = 2000
Goal = Challenge.Goal


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ChallengeNotFound(errors.NotFound):
    code = "challenge_not_found"
    message = _("This challenge does not exist or is no longer running.")


class ChallengeNotStarted(errors.Conflict):
    code = "challenge_not_started"
    message = _("This challenge has not started yet.")


class ChallengeEnded(errors.Conflict):
    code = "challenge_ended"
    message = _("This challenge has ended.")


class ChallengeNotForMember(errors.Conflict):
    code = "challenge_not_eligible"
    status = 422
    message = _("This challenge is for other members.")


class ChallengeIsAutomatic(errors.Conflict):
    code = "challenge_automatic"
    message = _("Every member takes part in this challenge; there is nothing to join.")


class BadgeInactive(errors.Conflict):
    code = "badge_inactive"
    message = _("This badge is no longer given.")


class UnknownBadgeSource(errors.InvalidInput):
    code = "invalid_badge_source"
    message = _("Unknown badge source.")


# --------------------------------------------------------------------------------------------
# Cached configuration: what is running (loyalty.selectors' configuration cache)
# --------------------------------------------------------------------------------------------


def _load_challenges() -> tuple[Challenge, ...]:
    cutoff = timezone.now() - LATE_GRACE
    return tuple(Challenge.objects.filter(is_active=True, ends_at__gt=cutoff).order_by("pk"))


def challenges_cached() -> tuple[Challenge, ...]:
    """Active challenges that have not ended (or ended less than ``LATE_GRACE`` ago)."""
    return _config("campaigns:challenges", _load_challenges)


def _load_milestone_badges() -> tuple[Badge, ...]:
    return tuple(
        Badge.objects.filter(is_active=True).exclude(milestone=Badge.Milestone.NONE).order_by("pk")
    )


def milestone_badges_cached() -> tuple[Badge, ...]:
    """Active milestone badges."""
    return _config("campaigns:milestone_badges", _load_milestone_badges)


def _challenges_at(at: datetime, goals: Iterable[str]) -> list[Challenge]:
    wanted = set(goals)
    return [c for c in challenges_cached() if c.goal in wanted and c.starts_at <= at < c.ends_at]


def purchase_hooks_active(**_kwargs: Any) -> bool:
    """Yes while a challenge has started (the batch then records purchases one by one)."""
    now = timezone.now()
    return any(c.starts_at <= now for c in challenges_cached())


# --------------------------------------------------------------------------------------------
# Badges
# --------------------------------------------------------------------------------------------


def badge_award(
    *,
    member: Member,
    badge: Badge,
    source: str,
    actor: Any = None,
    reason: str = "",
    challenge: Challenge | None = None,
    at: datetime | None = None,
) -> MemberBadge:
    """Give ``member`` the badge once; a second award returns the badge they already hold.

    Staff must give a reason. The returned row has ``newly_earned`` set to whether this
    call gave it; only then is the member told (message ``badge_earned``).
    """
    from loyalty.services import event_record, member_lock

    reason = (reason or "").strip()
    if source not in MemberBadge.Source.values:
        raise UnknownBadgeSource()
    if source == MemberBadge.Source.STAFF and not reason:
        raise errors.ReasonRequired(field="reason")
    if len(reason) > 255:
        raise errors.InvalidInput(
            _("The reason is too long (at most 255 characters)."), field="reason"
        )
    at = at or timezone.now()
    with transaction.atomic():
        locked = member_lock(member)
        existing = MemberBadge.objects.filter(member_id=locked.pk, badge_id=badge.pk).first()
        if existing is not None:
            existing.newly_earned = False
            return existing
        if locked.erased_at is not None or not locked.is_active:
            raise errors.MemberInactive()
        current = Badge.objects.filter(pk=badge.pk).first()
        if current is None or not current.is_active:
            raise BadgeInactive()
        try:
            with transaction.atomic():
                held = MemberBadge.objects.create(
                    member_id=locked.pk,
                    badge=current,
                    earned_at=at,
                    source=source,
                    challenge=challenge,
                    actor=actor if getattr(actor, "is_authenticated", False) else None,
                    reason=reason,
                )
        except IntegrityError:
            held = MemberBadge.objects.get(member_id=locked.pk, badge_id=badge.pk)
            held.newly_earned = False
            return held
        event_record(
            type="badge.earned",
            member=locked,
            actor=actor,
            payload={
                "badge": current.pk,
                "name": current.name,
                "source": source,
                "challenge": challenge.pk if challenge is not None else None,
                "reason": reason,
            },
            at=at,
        )
        _send(
            member=locked,
            type_code="badge_earned",
            context={
                "badge": text_lazy(current, "name"),
                "description": text_lazy(current, "description"),
            },
            dedupe_key=f"badge:{current.pk}:{locked.pk}",
            at=at,
        )
    held.newly_earned = True
    return held


def _send(*, member: Member, type_code: str, context: dict, dedupe_key: str, at: datetime) -> None:
    from campaigns import messaging

    messaging.message_send(
        member=member, type_code=type_code, context=context, dedupe_key=dedupe_key, at=at
    )


def _activity_count(member: Member) -> int:
    """Purchases and check-ins of the member, in one query."""

    def counted(model):
        return Coalesce(
            Subquery(
                model.objects.filter(member_id=OuterRef("pk"))
                .order_by()
                .values("member_id")
                .annotate(n=Count("pk"))
                .values("n")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        )

    return (
        Member.objects.filter(pk=member.pk)
        .annotate(n=counted(Purchase) + counted(Visit))
        .values_list("n", flat=True)
        .get()
    )


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def _milestones_check(*, member: Member, at: datetime) -> None:
    """Give the milestone badges the member has just reached (in purchase and visit hooks).

    Badges the member already holds are left out first, so the activity count runs only while
    a visits badge is still to be earned. A badge that cannot be given (switched off a moment
    ago in another process) never makes the purchase or visit fail: the nightly job catches up.
    """
    badges = milestone_badges_cached()
    if not badges:
        return
    held = set(
        MemberBadge.objects.filter(
            member_id=member.pk, badge_id__in=[b.pk for b in badges]
        ).values_list("badge_id", flat=True)
    )
    badges = [b for b in badges if b.pk not in held]
    if not badges:
        return
    M = Badge.Milestone
    reached = [
        b
        for b in badges
        if (b.milestone == M.LIFETIME_POINTS and member.lifetime_points >= b.milestone_value)
        or (
            b.milestone == M.MEMBERSHIP_YEARS
            and _years_after(member.enrolled_at, b.milestone_value) <= at
        )
    ]
    visit_badges = [b for b in badges if b.milestone == M.VISITS]
    if visit_badges:
        count = _activity_count(member)
        reached += [b for b in visit_badges if count >= b.milestone_value]
    for badge in reached:
        try:
            with transaction.atomic():
                badge_award(member=member, badge=badge, source=MemberBadge.Source.MILESTONE, at=at)
        except errors.LoyaltyError:
            logger.warning("Milestone badge %s not given to member %s", badge.pk, member.pk)


def badges_milestones_award(*, as_of: datetime | None = None) -> int:
    """Give every milestone badge to the members who reached it and lack it; return how many.

    Set-based: one query per badge and chunk finds the members, one insert writes them. It
    catches up what purchases and visits do not see: years of membership, points from
    other sources, purchases from the offline batch, and badges created later.
    """
    from loyalty.models import Event
    from loyalty.services import events_record_bulk
    from members.models import Member as MemberModel

    as_of = as_of or timezone.now()
    given = 0
    M = Badge.Milestone
    for badge in Badge.objects.filter(is_active=True).exclude(milestone=M.NONE).order_by("pk"):
        qs = MemberModel.objects.filter(is_active=True, erased_at__isnull=True).exclude(
            Exists(MemberBadge.objects.filter(badge_id=badge.pk, member_id=OuterRef("pk")))
        )
        value = badge.milestone_value or 0
        if badge.milestone == M.MEMBERSHIP_YEARS:
            qs = qs.filter(enrolled_at__lte=_years_before(as_of, value))
        elif badge.milestone == M.LIFETIME_POINTS:
            qs = qs.filter(lifetime_points__gte=value)
        else:
            qs = qs.filter(last_activity_at__isnull=False)

            def counted(model):
                return Coalesce(
                    Subquery(
                        model.objects.filter(member_id=OuterRef("pk"), occurred_at__lte=as_of)
                        .order_by()
                        .values("member_id")
                        .annotate(n=Count("pk"))
                        .values("n")[:1],
                        output_field=IntegerField(),
                    ),
                    Value(0),
                )

            qs = qs.annotate(_visits=counted(Purchase) + counted(Visit)).filter(_visits__gte=value)
        last_pk = 0
        while True:
            ids = list(
                qs.filter(pk__gt=last_pk)
                .order_by("pk")
                .values_list("pk", flat=True)[:MILESTONE_CHUNK]
            )
            if not ids:
                break
            last_pk = ids[-1]
            with transaction.atomic():
                created = MemberBadge.objects.bulk_create(
                    [
                        MemberBadge(
                            member_id=pk,
                            badge_id=badge.pk,
                            earned_at=as_of,
                            source=MemberBadge.Source.MILESTONE,
                        )
                        for pk in ids
                    ],
                    ignore_conflicts=True,
                )
                given += len(created)
                events_record_bulk(
                    [
                        Event(
                            type="badge.earned",
                            member_id=pk,
                            payload={
                                "badge": badge.pk,
                                "name": badge.name,
                                "source": MemberBadge.Source.MILESTONE,
                            },
                            created_at=as_of,
                        )
                        for pk in ids
                    ]
                )
                for member in MemberModel.objects.filter(pk__in=ids):
                    _send(
                        member=member,
                        type_code="badge_earned",
                        context={
                            "badge": text_lazy(badge, "name"),
                            "description": text_lazy(badge, "description"),
                        },
                        dedupe_key=f"badge:{badge.pk}:{member.pk}",
                        at=as_of,
                    )
    return given


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


@dataclass
class _Contribution:
    amount: Decimal = Decimal("0")
    skus: frozenset[str] = frozenset()
    day: str = ""


def _rows_for(
    *,
    member: Member,
    challenges: Sequence[Challenge],
    at: datetime,
    create: bool,
) -> list[tuple[Challenge, ChallengeProgress]]:
    """Return (challenge, locked progress row) for the challenges the activity counts in.

    Rows are locked in primary-key order. With ``create``, automatic challenges get a row
    for a member who has none yet (after the segment check).
    """
    from campaigns.segments import segment_contains

    found = {
        row.challenge_id: row
        for row in ChallengeProgress.objects.select_for_update()
        .filter(member_id=member.pk, challenge_id__in=[c.pk for c in challenges])
        .order_by("pk")
    }
    pairs = []
    for challenge in challenges:
        row = found.get(challenge.pk)
        if row is None:
            if not create or challenge.enrolment != Challenge.Enrolment.AUTO:
                continue
            if challenge.segment_id is not None and not segment_contains(
                challenge.segment, member=member, as_of=at
            ):
                continue
            row = ChallengeProgress.objects.create(
                challenge=challenge, member_id=member.pk, joined_at=at
            )
        elif challenge.enrolment == Challenge.Enrolment.OPT_IN and at < row.joined_at:
            continue
        pairs.append((challenge, row))
    return pairs


def _advance(
    *,
    member: Member,
    contributions: dict[int, _Contribution],
    challenges: Sequence[Challenge],
    at: datetime,
) -> None:
    for challenge, row in _rows_for(member=member, challenges=challenges, at=at, create=True):
        if row.completed_at is not None:
            continue
        part = contributions[challenge.pk]
        fields = ["progress", "updated_at"]
        if challenge.goal == Goal.VISITS:
            if part.day in row.seen_days:
                continue
            row.seen_days = sorted([*row.seen_days, part.day])
            row.progress += 1
            fields.append("seen_days")
        elif challenge.goal == Goal.DISTINCT_PRODUCTS:
            new = part.skus - set(row.seen_skus)
            if not new:
                continue
            row.seen_skus = sorted([*row.seen_skus, *new])
            row.progress = Decimal(len(row.seen_skus))
            fields.append("seen_skus")
        else:
            row.progress += part.amount
        row.save(update_fields=fields)
        if row.progress >= challenge.target:
            _complete(member=member, challenge=challenge, row=row, at=at)


def _complete(
    *, member: Member, challenge: Challenge, row: ChallengeProgress, at: datetime
) -> bool:
    """Mark the row completed and give the reward, once; return whether this call did."""
    from loyalty.models import EntryKind
    from loyalty.services import event_record, points_credit
    from rewards.models import Reward, Voucher
    from rewards.services import voucher_issue

    # The conditional update is the guard: only one transaction sets completed_at.
    if not ChallengeProgress.objects.filter(pk=row.pk, completed_at__isnull=True).update(
        completed_at=at
    ):
        return False
    row.completed_at = at
    notes: list[str] = []
    reason = gettext("Challenge completed: %(name)s") % {"name": challenge.name}
    if challenge.reward_points:
        row.points_entry = points_credit(
            member=member,
            points=challenge.reward_points,
            kind=EntryKind.BONUS,
            source_type=LedgerEntry.SourceType.CAMPAIGN,
            reason=reason[:255],
            at=at,
        )
    if challenge.reward_id:
        reward = Reward.objects.filter(pk=challenge.reward_id).first()
        try:
            with transaction.atomic():
                row.voucher = voucher_issue(
                    member=member,
                    reward=reward,
                    origin=Voucher.Origin.CAMPAIGN,
                    reason=reason[:255],
                    at=at,
                )
        except errors.LoyaltyError as exc:
            logger.warning(
                "challenge %s: voucher not issued to %s: %s", challenge.pk, member.pk, exc
            )
            notes.append(gettext("Voucher not issued: %(error)s") % {"error": exc.detail})
    badge_name = ""
    if challenge.badge_id:
        try:
            with transaction.atomic():
                held = badge_award(
                    member=member,
                    badge=challenge.badge,
                    source=MemberBadge.Source.CHALLENGE,
                    challenge=challenge,
                    at=at,
                )
            badge_name = held.badge.name
        except errors.LoyaltyError as exc:
            notes.append(gettext("Badge not given: %(error)s") % {"error": exc.detail})
    row.reward_note = " ".join(notes)[:255]
    row.save(update_fields=["points_entry", "voucher", "reward_note", "updated_at"])
    event_record(
        type="challenge.completed",
        member=member,
        payload={
            "challenge": challenge.pk,
            "name": challenge.name,
            "points": challenge.reward_points,
            "voucher": row.voucher.code if row.voucher else None,
            "badge": challenge.badge_id if badge_name else None,
            "note": row.reward_note,
        },
        at=at,
    )
    _send(
        member=member,
        type_code="challenge_completed",
        context={
            "challenge": text_lazy(challenge, "name"),
            "points": challenge.reward_points,
            "reward": row.voucher.reward.name if row.voucher else "",
            "badge": text_lazy(challenge.badge, "name") if badge_name else "",
            **({"voucher": row.voucher} if row.voucher else {}),
        },
        dedupe_key=f"challenge:{challenge.pk}:{member.pk}",
        at=at,
    )
    return True


def _purchase_contributions(
    challenges: Sequence[Challenge], *, total: Decimal, lines: Sequence[Any], day: str
) -> dict[int, _Contribution]:
    contributions = {}
    skus = frozenset(str(line.sku).strip() for line in lines if str(line.sku or "").strip())
    for challenge in challenges:
        if challenge.goal == Goal.PURCHASES:
            part = _Contribution(amount=Decimal(1))
        elif challenge.goal == Goal.VISITS:
            part = _Contribution(day=day)
        elif challenge.goal == Goal.SPEND:
            part = _Contribution(amount=Decimal(total))
        elif challenge.goal == Goal.CATEGORY:
            wanted = challenge.category.strip().casefold()
            items = sum(
                int(line.quantity or 0)
                for line in lines
                if str(line.category or "").strip().casefold() == wanted
            )
            if not items:
                continue
            part = _Contribution(amount=Decimal(items))
        elif challenge.goal == Goal.DISTINCT_PRODUCTS:
            if not skus:
                continue
            part = _Contribution(skus=skus)
        else:
            continue
        contributions[challenge.pk] = part
    return contributions


def on_purchase_recorded(
    *, member: Member, purchase: Purchase, total: Any, lines: Sequence[Any], at: datetime, **_: Any
) -> None:
    """Count a purchase in the running challenges; check the milestone badges."""
    challenges = _challenges_at(
        at, (Goal.PURCHASES, Goal.VISITS, Goal.SPEND, Goal.CATEGORY, Goal.DISTINCT_PRODUCTS)
    )
    if challenges:
        day = timezone.localdate(at).isoformat()
        contributions = _purchase_contributions(challenges, total=total, lines=lines, day=day)
        if contributions:
            _advance(
                member=member,
                contributions=contributions,
                challenges=[c for c in challenges if c.pk in contributions],
                at=at,
            )
    _milestones_check(member=member, at=at)


def on_visit_recorded(*, member: Member, at: datetime, **_: Any) -> None:
    """Count a check-in as a visit; check the milestone badges."""
    challenges = _challenges_at(at, (Goal.VISITS,))
    if challenges:
        day = timezone.localdate(at).isoformat()
        _advance(
            member=member,
            contributions={c.pk: _Contribution(day=day) for c in challenges},
            challenges=challenges,
            at=at,
        )
    _milestones_check(member=member, at=at)


def on_purchase_refunded(*, member: Member, purchase: Purchase, refund: Any, **_: Any) -> None:
    """Take back what a refunded purchase counted, in challenges not yet completed."""
    occurred = purchase.occurred_at
    challenges = _challenges_at(occurred, (Goal.PURCHASES, Goal.SPEND, Goal.CATEGORY))
    if not challenges:
        return
    refunded_after = (
        Purchase.objects.filter(pk=purchase.pk).values_list("refunded_amount", flat=True).get()
    )
    full = refunded_after >= purchase.total
    if not full:
        challenges = [c for c in challenges if c.goal == Goal.SPEND]
    category_items: dict[str, int] = {}
    if any(c.goal == Goal.CATEGORY for c in challenges):
        for category, quantity in PurchaseLine.objects.filter(purchase_id=purchase.pk).values_list(
            "category", "quantity"
        ):
            key = (category or "").strip().casefold()
            category_items[key] = category_items.get(key, 0) + (quantity or 0)
    for challenge, row in _rows_for(
        member=member, challenges=challenges, at=occurred, create=False
    ):
        if row.completed_at is not None:
            continue  # completed stays completed; the reward is kept
        if challenge.goal == Goal.SPEND:
            taken = Decimal(refund.amount)
        elif challenge.goal == Goal.PURCHASES:
            taken = Decimal(1)
        else:
            taken = Decimal(category_items.get(challenge.category.strip().casefold(), 0))
        if not taken:
            continue
        row.progress = max(row.progress - taken, Decimal("0"))
        row.save(update_fields=["progress", "updated_at"])


def challenge_referral_counted(*, member: Member, at: datetime | None = None) -> None:
    """Count one friend referred by ``member`` (called when a referral is rewarded)."""
    from loyalty.services import member_lock

    at = at or timezone.now()
    challenges = _challenges_at(at, (Goal.REFERRALS,))
    if not challenges:
        return
    with transaction.atomic():
        locked = member_lock(member)
        _advance(
            member=locked,
            contributions={c.pk: _Contribution(amount=Decimal(1)) for c in challenges},
            challenges=challenges,
            at=at,
        )


def challenge_join(
    *, member: Member, challenge: Challenge, at: datetime | None = None
) -> ChallengeProgress:
    """Join an opt-in challenge; joining again returns the member's progress unchanged."""
    from campaigns.segments import segment_contains
    from loyalty.services import member_lock

    at = at or timezone.now()
    with transaction.atomic():
        locked = member_lock(member)
        if locked.erased_at is not None or not locked.is_active:
            raise errors.MemberInactive()
        current = Challenge.objects.filter(pk=challenge.pk, is_active=True).first()
        if current is None:
            raise ChallengeNotFound()
        if current.enrolment == Challenge.Enrolment.AUTO:
            raise ChallengeIsAutomatic()
        if at < current.starts_at:
            raise ChallengeNotStarted()
        if at >= current.ends_at:
            raise ChallengeEnded()
        existing = ChallengeProgress.objects.filter(challenge=current, member_id=locked.pk).first()
        if existing is not None:
            return existing
        if current.segment_id is not None and not segment_contains(
            current.segment, member=locked, as_of=at
        ):
            raise ChallengeNotForMember()
        try:
            with transaction.atomic():
                return ChallengeProgress.objects.create(
                    challenge=current, member_id=locked.pk, joined_at=at
                )
        except IntegrityError:
            return ChallengeProgress.objects.get(challenge=current, member_id=locked.pk)


def connect() -> None:
    """Register the challenge and badge handlers with the core's hooks."""
    hooks.register("purchase_recorded", on_purchase_recorded)
    hooks.register("visit_recorded", on_visit_recorded)
    hooks.register("purchase_refunded", on_purchase_refunded)
    hooks.register("purchase_hooks_active", purchase_hooks_active)


# --------------------------------------------------------------------------------------------
# Reads for the portal and the API
# --------------------------------------------------------------------------------------------

COMPLETED_SHOWN = 20


@dataclass
class ChallengeView:
    """A challenge as one member sees it."""

    challenge: Challenge
    row: ChallengeProgress | None
    can_join: bool

    @property
    def progress(self) -> Decimal:
        return self.row.progress if self.row is not None else Decimal("0")

    @property
    def percent(self) -> int:
        if self.row is not None and self.row.completed_at is not None:
            return 100
        target = self.challenge.target
        return int(min(self.progress / target, 1) * 100) if target > 0 else 0

    @property
    def joined(self) -> bool:
        return self.row is not None or self.challenge.enrolment == Challenge.Enrolment.AUTO

    @property
    def completed_at(self) -> datetime | None:
        return self.row.completed_at if self.row is not None else None

    @property
    def progress_text(self) -> str:
        return progress_text(self.challenge, self.progress)

    @property
    def reward_text(self) -> str:
        return reward_text(self.challenge)


@dataclass
class MemberChallenges:
    running: list[ChallengeView]
    completed: list[ChallengeProgress]
    badges: list[MemberBadge]


def progress_text(challenge: Challenge, progress: Decimal) -> str:
    """'2 of 5 visits', '€40.00 of €100.00 spent': the progress in the member's language."""
    from loyalty.formatting import money, number
    from loyalty.selectors import program_get

    if challenge.goal == Goal.SPEND:
        currency = program_get().currency
        return gettext("%(done)s of %(target)s spent") % {
            "done": money(progress, currency),
            "target": money(challenge.target, currency),
        }
    values = {
        "done": number(int(progress)),
        "target": number(int(challenge.target)),
        "category": challenge.category,
    }
    texts = {
        Goal.PURCHASES: gettext("%(done)s of %(target)s purchases"),
        Goal.VISITS: gettext("%(done)s of %(target)s visits"),
        Goal.CATEGORY: gettext("%(done)s of %(target)s items from %(category)s"),
        Goal.REFERRALS: gettext("%(done)s of %(target)s friends referred"),
        Goal.DISTINCT_PRODUCTS: gettext("%(done)s of %(target)s different products"),
    }
    return texts.get(challenge.goal, "%(done)s / %(target)s") % values


def reward_text(challenge: Challenge) -> str:
    """What completing the challenge gives, e.g. '50 points, Free cake, the badge Regular'."""
    from loyalty.formatting import number
    from loyalty.selectors import program_get

    parts = []
    if challenge.reward_points:
        parts.append(
            gettext("%(points)s %(name)s")
            % {"points": number(challenge.reward_points), "name": program_get().points_name}
        )
    if challenge.reward_id:
        parts.append(str(challenge.reward.name))
    if challenge.badge_id:
        parts.append(gettext("the badge %(badge)s") % {"badge": challenge.badge.name})
    return ", ".join(parts)


def _running_views(
    *, member: Member, running: Sequence[Challenge], as_of: datetime
) -> list[ChallengeView]:
    """The member's view of ``running``: their progress, or whether they may join."""
    from campaigns.segments import segment_ids_for

    if not running:
        return []
    rows = {
        row.challenge_id: row
        for row in ChallengeProgress.objects.filter(
            member_id=member.pk, challenge_id__in=[c.pk for c in running]
        )
    }
    to_check = [c.segment_id for c in running if c.segment_id and c.pk not in rows]
    inside = segment_ids_for(member=member, segment_ids=to_check, as_of=as_of) if to_check else ()
    views = []
    for challenge in running:
        row = rows.get(challenge.pk)
        if row is None and challenge.segment_id and challenge.segment_id not in inside:
            continue
        if row is not None and row.completed_at is not None:
            continue
        can_join = row is None and challenge.enrolment == Challenge.Enrolment.OPT_IN
        views.append(ChallengeView(challenge=challenge, row=row, can_join=can_join))
    return views


def member_challenges(*, member: Member, as_of: datetime | None = None) -> MemberChallenges:
    """The running challenges the member takes part in or may join, their completed ones
    (latest first) and their badges: a constant number of queries, whatever the history
    (plus one segment check per running challenge with a segment the member has not joined).
    """
    as_of = as_of or timezone.now()
    running = list(
        Challenge.objects.filter(is_active=True, starts_at__lte=as_of, ends_at__gt=as_of)
        .select_related("reward", "badge")
        .order_by("ends_at", "pk")
    )
    completed = list(
        ChallengeProgress.objects.filter(member_id=member.pk, completed_at__isnull=False)
        .select_related("challenge", "challenge__reward", "challenge__badge")
        .order_by("-completed_at", "-pk")[:COMPLETED_SHOWN]
    )
    badges = list(
        MemberBadge.objects.filter(member_id=member.pk)
        .select_related("badge")
        .order_by("-earned_at", "-pk")
    )
    return MemberChallenges(
        running=_running_views(member=member, running=running, as_of=as_of),
        completed=completed,
        badges=badges,
    )


@dataclass
class ChallengesSummary:
    running: list[ChallengeView]
    joinable: int
    badges: int


def member_challenges_summary(
    *, member: Member, as_of: datetime | None = None, shown: int = 3
) -> ChallengesSummary:
    """The dashboard's panel: up to ``shown`` challenges the member takes part in, how many
    wait to be joined and how many badges they hold. The running challenges come from the
    configuration cache, so with none running this is a single count query.
    """
    as_of = as_of or timezone.now()
    running = sorted(
        (c for c in challenges_cached() if c.starts_at <= as_of < c.ends_at),
        key=lambda c: (c.ends_at, c.pk),
    )
    views = _running_views(member=member, running=running, as_of=as_of)
    return ChallengesSummary(
        running=[v for v in views if v.joined][:shown],
        joinable=sum(1 for v in views if v.can_join),
        badges=MemberBadge.objects.filter(member_id=member.pk).count(),
    )
