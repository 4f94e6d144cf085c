"""What the campaigns app adds to a member's data export, and what it forgets on erasure.

Registered from ``campaigns.messaging.connect`` is not enough for every area, so this module
has its own ``connect()`` (listed in ``campaigns.apps.HOOKED_MODULES``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import Q

from loyalty import hooks


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value else None


def member_campaign_export(*, member) -> dict[str, Any]:
    """The member's referrals, actions, birthday gifts, badges, challenges, games and messages."""
    from campaigns.models.actions import ActionRecord, BirthdayGift
    from campaigns.models.challenges import ChallengeProgress, MemberBadge
    from campaigns.models.games import LeaderboardProfile, SweepstakeEntry, SweepstakeWinner
    from campaigns.models.messaging import MessageLog
    from campaigns.models.referrals import Referral, ReferralCode

    code = ReferralCode.objects.filter(member=member).values_list("code", flat=True).first()
    profile = LeaderboardProfile.objects.filter(member=member).first()
    return {
        "referral_code": code,
        "referrals": [
            {
                "role": "referrer" if r.referrer_id == member.pk else "friend",
                "status": r.status,
                "joined_at": _iso(r.created_at),
                "rewarded_at": _iso(r.rewarded_at),
            }
            for r in Referral.objects.filter(Q(referrer=member) | Q(referred=member)).order_by("pk")
        ],
        "actions": [
            {
                "action": a.action.name,
                "reference": a.reference,
                "points": a.points,
                "at": _iso(a.created_at),
            }
            for a in ActionRecord.objects.filter(member=member)
            .select_related("action")
            .order_by("pk")
        ],
        "birthday_gifts": [
            {"year": g.year, "points": g.points, "at": _iso(g.created_at)}
            for g in BirthdayGift.objects.filter(member=member).order_by("year")
        ],
        "badges": [
            {"badge": b.badge.name, "earned_at": _iso(b.earned_at), "source": b.source}
            for b in MemberBadge.objects.filter(member=member)
            .select_related("badge")
            .order_by("pk")
        ],
        "challenges": [
            {
                "challenge": p.challenge.name,
                "progress": str(p.progress),
                "completed_at": _iso(p.completed_at),
            }
            for p in ChallengeProgress.objects.filter(member=member)
            .select_related("challenge")
            .order_by("pk")
        ],
        "leaderboard": (
            {"display_name": profile.display_name, "opted_in_at": _iso(profile.opted_in_at)}
            if profile
            else None
        ),
        "sweepstakes": [
            {"sweepstake": e.sweepstake.name, "entries": e.entries}
            for e in SweepstakeEntry.objects.filter(member=member)
            .select_related("sweepstake")
            .order_by("pk")
        ],
        "prizes_won": [
            {"sweepstake": w.sweepstake.name, "position": w.position}
            for w in SweepstakeWinner.objects.filter(member=member)
            .select_related("sweepstake")
            .order_by("pk")
        ],
        "messages": [
            {
                "type": m.message_type.code,
                "channel": m.channel,
                "status": m.status,
                "subject": m.subject,
                "at": _iso(m.created_at),
            }
            for m in MessageLog.objects.filter(member=member)
            .select_related("message_type")
            .order_by("pk")
            .iterator()
        ],
    }


def member_campaign_forget(*, member, **_kwargs: Any) -> None:
    """Erasure: the message log keeps that a message went out, not what it said or to whom."""
    from campaigns.models.messaging import MessageLog

    MessageLog.objects.filter(member=member).update(
        recipient="", subject="", body_text="", body_html=""
    )


def connect() -> None:
    hooks.register("member_export", member_campaign_export)
    hooks.register("member_erased", member_campaign_forget)
