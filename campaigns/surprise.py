"""Surprise and delight: pick N random members of a segment and give each a reward.

How a draw is made, so that anyone can re-run it:

1. The candidates are the segment's members at the moment of the draw, as member ids in
   ascending order (``segment_members(segment).order_by("pk")``).
2. The seed is a non-negative integer below 2**64 — the one staff typed, or
   ``secrets.randbits(64)`` — and is stored on the draw.
3. The winners are ``random.Random(seed).sample(candidate_ids, min(count, len(candidate_ids)))``
   with Python's standard ``random`` module (Mersenne Twister), in that order; winner *n* is
   the *n*-th element of the sample (``SurpriseWinner.position``).

The candidate ids are stored with the draw (delta-encoded, JSON, zlib-compressed) together
with the SHA-256 of their comma-separated decimal text, so ``surprise_draw_verify`` can
re-run the draw later from the record alone, even after the segment or its members changed.

Each winner gets the chosen reward as a voucher (``voucher_issue``, origin *campaign*)
and/or the bonus points (``points_credit``, source *campaign*), and a ``surprise`` message.
A winner row is unique per draw and member, and a form submitted twice (same request key)
returns the first draw instead of drawing again.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Segment, SurpriseDraw, SurpriseWinner
from campaigns.segments import segment_members
from loyalty import errors
from loyalty.models import EntryKind, LedgerEntry
from loyalty.services import clean_points, member_lock, points_credit
from members.models import Member
from rewards.models import Reward, Voucher
from rewards.services import voucher_issue

MAX_WINNERS = 1_000  # rewards are given in the request: keep a draw to a few seconds
MAX_SEED = 2**64 - 1


class SurpriseError(errors.InvalidInput):
    code = "surprise_invalid"
    message = _("The surprise draw could not be made.")


class SurpriseSegmentEmpty(errors.Conflict):
    code = "surprise_segment_empty"
    message = _("No members match this segment now, so there is nobody to surprise.")


class SurpriseNothingToGive(SurpriseError):
    code = "surprise_nothing_to_give"
    message = _("Choose a reward, bonus points, or both.")


class SurpriseBadCount(SurpriseError):
    code = "surprise_bad_count"
    message = _("Enter how many members to surprise: a whole number from 1 to %(max)s.")


class SurpriseBadSeed(SurpriseError):
    code = "surprise_bad_seed"
    message = _("The seed must be a whole number from 0 to %(max)s.")


# --------------------------------------------------------------------------------------------
# Candidate snapshot and the draw itself (pure functions: the record can be re-run with them)
# --------------------------------------------------------------------------------------------


def candidates_encode(ids: list[int]) -> bytes:
    """Compress ascending member ids: deltas as JSON, then zlib."""
    deltas = [b - a for a, b in zip([0, *ids[:-1]], ids, strict=True)]
    return zlib.compress(json.dumps(deltas, separators=(",", ":")).encode(), 9)


def candidates_decode(data: bytes | memoryview) -> list[int]:
    deltas = json.loads(zlib.decompress(bytes(data)))
    ids, total = [], 0
    for delta in deltas:
        total += delta
        ids.append(total)
    return ids


def candidates_sha256(ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in ids).encode()).hexdigest()


def draw_winners(candidate_ids: list[int], *, count: int, seed: int) -> list[int]:
    """The winners of a draw: the documented, reproducible selection."""
    return random.Random(seed).sample(candidate_ids, min(count, len(candidate_ids)))


def clean_seed(value: Any) -> int | None:
    """An optional seed typed by staff: empty for a random one, else an integer 0..2**64-1."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seed = int(str(value).strip())
    except ValueError:
        raise SurpriseBadSeed(field="seed", max=MAX_SEED) from None
    if not 0 <= seed <= MAX_SEED:
        raise SurpriseBadSeed(field="seed", max=MAX_SEED)
    return seed


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------


def surprise_draw(
    *,
    segment: Segment,
    count: int,
    reward: Reward | None = None,
    points: int = 0,
    seed: int | str | None = None,
    actor: AbstractBaseUser | None = None,
    name: str = "",
    note: str = "",
    request_key: str | None = None,
    at: datetime | None = None,
) -> SurpriseDraw:
    """Draw ``count`` random members of ``segment`` and give each the reward and/or points.

    Fewer members than ``count``: all of them win. No members: ``SurpriseSegmentEmpty`` and
    nothing is written. Any error while rewarding (reward out of stock, ...) undoes the
    whole draw. With a ``request_key`` already used, the earlier draw is returned.
    """
    at = at or timezone.now()
    name = (name or "").strip() or str(segment.name)
    if len(name) > 100:
        raise SurpriseError(_("The name is too long (at most 100 characters)."), field="name")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_WINNERS:
        raise SurpriseBadCount(field="count", max=MAX_WINNERS)
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise errors.InvalidPoints(field="points")
    if points:
        points = clean_points(points)
    if reward is None and not points:
        raise SurpriseNothingToGive(field="reward")
    if reward is not None and not reward.is_active:
        raise errors.RewardNotAvailable(reasons=_("Not available"), field="reward")
    seed_value = clean_seed(seed)
    if seed_value is None:
        seed_value = secrets.randbits(64)
    actor = actor if actor is not None and actor.is_authenticated else None

    with transaction.atomic():
        if request_key:
            earlier = SurpriseDraw.objects.filter(request_key=request_key).first()
            if earlier is not None:
                return earlier
        candidate_ids = list(
            segment_members(segment, as_of=at).order_by("pk").values_list("pk", flat=True)
        )
        if not candidate_ids:
            raise SurpriseSegmentEmpty(field="segment")
        winner_ids = draw_winners(candidate_ids, count=count, seed=seed_value)
        try:
            with transaction.atomic():
                draw = SurpriseDraw.objects.create(
                    name=name,
                    segment=segment,
                    segment_name=segment.name,
                    count=count,
                    reward=reward,
                    points=points,
                    seed=str(seed_value),
                    members_matched=len(candidate_ids),
                    candidates=candidates_encode(candidate_ids),
                    candidates_sha256=candidates_sha256(candidate_ids),
                    drawn_at=at,
                    drawn_by=actor,
                    note=note or "",
                    request_key=request_key or None,
                )
        except IntegrityError:
            # The same form, submitted twice at once: the other request made the draw.
            if request_key:
                earlier = SurpriseDraw.objects.filter(request_key=request_key).first()
                if earlier is not None:
                    return earlier
            raise
        position = {member_id: n for n, member_id in enumerate(winner_ids, start=1)}
        # Lock every winner first, in member-id order, before any reward row is locked: the
        # core locks a member before a reward, so taking the reward lock and then more
        # members could deadlock with a redemption at the till.
        winners = list(Member.objects.select_for_update().filter(pk__in=winner_ids).order_by("pk"))
        for member in winners:
            _reward_winner(draw, member=member, position=position[member.pk], actor=actor, at=at)
    return draw


def _reward_winner(
    draw: SurpriseDraw,
    *,
    member: Member,
    position: int,
    actor: AbstractBaseUser | None,
    at: datetime,
) -> SurpriseWinner:
    from campaigns.messaging import message_send

    member_lock(member)
    # The unique (draw, member) row first: a winner is rewarded at most once per draw.
    winner = SurpriseWinner.objects.create(draw=draw, member=member, position=position)
    reason = str(_("Surprise: %(name)s") % {"name": draw.name})[:255]
    voucher: Voucher | None = None
    entry: LedgerEntry | None = None
    if draw.reward_id:
        voucher = voucher_issue(
            member=member,
            reward=draw.reward,
            origin=Voucher.Origin.CAMPAIGN,
            actor=actor,
            reason=reason,
            at=at,
        )
    if draw.points:
        entry = points_credit(
            member=member,
            points=draw.points,
            kind=EntryKind.BONUS,
            reason=reason,
            source_type=LedgerEntry.SourceType.CAMPAIGN,
            at=at,
            actor=actor,
        )
    winner.voucher = voucher
    winner.entry = entry
    winner.save(update_fields=["voucher", "entry"])
    message_send(
        member=member,
        type_code="surprise",
        context={
            "draw": draw.name,
            "reward": draw.reward.name if draw.reward_id else "",
            "voucher_code": voucher.code if voucher else "",
            "points": draw.points,
        },
        dedupe_key=f"surprise:{draw.pk}:{member.pk}",
    )
    return winner


@dataclass(frozen=True)
class DrawCheck:
    """The result of re-running a draw from its record."""

    candidates_intact: bool  # the stored candidate list still has its recorded SHA-256 and size
    recomputed: list[int]  # winners computed again from the seed and the stored candidates
    recorded: list[int]  # winners as recorded, in draw order
    segment_unchanged: bool | None  # today's segment gives the same candidates (None: deleted)

    @property
    def ok(self) -> bool:
        return self.candidates_intact and self.recomputed == self.recorded


def surprise_draw_verify(*, draw: SurpriseDraw, as_of: datetime | None = None) -> DrawCheck:
    """Re-run ``draw`` from its seed and stored candidates and compare with its winners."""
    candidate_ids = candidates_decode(draw.candidates)
    intact = (
        candidates_sha256(candidate_ids) == draw.candidates_sha256
        and len(candidate_ids) == draw.members_matched
    )
    recomputed = draw_winners(candidate_ids, count=draw.count, seed=int(draw.seed))
    recorded = list(draw.winners.order_by("position").values_list("member_id", flat=True))
    unchanged = None
    if draw.segment_id:
        current = list(
            segment_members(draw.segment, as_of=as_of).order_by("pk").values_list("pk", flat=True)
        )
        unchanged = candidates_sha256(current) == draw.candidates_sha256
    return DrawCheck(
        candidates_intact=intact,
        recomputed=recomputed,
        recorded=recorded,
        segment_unchanged=unchanged,
    )
