"""Referrals: invitation codes, the referral a new member brings, and its rewards.

Flow (docs/campaigns.md, "Referrals"):

1. A member's code is made the first time it is shown (``referral_code_for``).
2. A new member joins with it (portal, counter, kiosk, API): ``member_enroll`` fires
   ``member_enrolled`` and ``_on_member_enrolled`` records a *pending* referral, or refuses
   the code with a clear error (unknown, closed membership, the referrer's own contact), in
   which case nothing is enrolled. A referrer over the monthly cap does not block the friend:
   the referral is recorded as *refused*.
3. The friend's first purchase of at least the minimum spend makes it *qualified*; rewards
   are due when the purchase's return window closes (at once for a window of 0).
4. A refund of that purchase inside the window *revokes* it; after the window it stands.
5. ``referrals_reward_due`` (hourly) pays both sides, then any milestone the referrer
   reached. Every pay-out is claimed by a conditional update of the referral row under the
   members' locks, and milestone awards are unique per referrer and milestone, so two runs
   at once pay once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty import errors, hooks
from loyalty.models import EntryKind, LedgerEntry, Purchase
from loyalty.selectors import _config, config_changed
from loyalty.services import event_record, points_credit
from members.models import Member
from rewards.codes import ALPHABET

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from campaigns.models import Referral, ReferralCode, ReferralSettings

CODE_LENGTH = 8
# Longer than the per-process configuration cache lives (loyalty.selectors.CONFIG_TTL).
RECENT_ENROLMENT = timedelta(minutes=1)
_NOISE = re.compile(r"[\s\-_.]")
_GMAIL = {"gmail.com", "googlemail.com"}


# Errors -------------------------------------------------------------------------------------


class ReferralCodeInvalid(errors.InvalidInput):
    code = "referral_code_invalid"
    message = gettext_lazy("This referral code does not exist. Check it, or join without one.")


class ReferralCodeInactive(errors.Conflict):
    code = "referral_code_inactive"
    message = gettext_lazy(
        "This referral code belongs to a membership that is suspended or closed. "
        "Join without it, or ask your friend for help."
    )


class SelfReferral(errors.Conflict):
    code = "referral_self"
    message = gettext_lazy("You cannot use your own referral code.")


class ReferralNotRevocable(errors.Conflict):
    code = "referral_not_revocable"
    message = gettext_lazy("Only a referral whose rewards are not yet paid can be revoked.")


# Settings and the cheap "anything to do" check -------------------------------------------------


def referral_settings() -> ReferralSettings:
    """Return the referral settings (cached like the programme); defaults (off) before any are saved.

    Reading never writes: saving a configuration row clears every process's configuration
    cache, which a page view should not do.
    """
    from campaigns.models import ReferralSettings

    return _config(
        "campaigns.referral_settings",
        lambda: ReferralSettings.objects.filter(pk=1).first() or ReferralSettings(pk=1),
    )


def referral_milestones() -> list:
    """Return the milestones, lowest count first (cached)."""
    from campaigns.models import ReferralMilestone

    return _config(
        "campaigns.referral_milestones",
        lambda: list(ReferralMilestone.objects.select_related("reward").order_by("count")),
    )


def referrals_pending_exist() -> bool:
    """Whether any referral waits for its qualifying purchase (cached for a few seconds).

    A new pending referral clears the cache when it commits (``config_changed``), so the
    set-based purchase batch never records a referred member's purchase past this check.
    """
    from campaigns.models import Referral

    return _config(
        "campaigns.referrals_pending",
        lambda: Referral.objects.filter(status=Referral.Status.PENDING).exists(),
    )


# Codes ---------------------------------------------------------------------------------------


def referral_code_normalize(raw: Any) -> str:
    """Return a typed or linked code as stored: upper case, without spaces or dashes."""
    return _NOISE.sub("", str(raw or "").strip()).upper()[:32]


def _code_generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def referral_code_for(member: Member) -> ReferralCode:
    """Return the member's invitation code, making it on first use (safe under races)."""
    from campaigns.models import ReferralCode

    existing = ReferralCode.objects.filter(member_id=member.pk).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(member_id=member.pk, code=_code_generate())
        except IntegrityError:
            # Another request made this member's code meanwhile, or (rarely) the random
            # code was taken: use theirs, or draw again.
            existing = ReferralCode.objects.filter(member_id=member.pk).first()
            if existing is not None:
                return existing
    raise errors.Conflict(_("Could not make a referral code, please try again."))


def _email_canonical(email: str | None) -> str | None:
    """Return the mailbox an address delivers to, as far as it can be told.

    ``anna+x@example.com`` is ``anna@example.com``; Gmail also ignores dots and has a
    second domain.
    """
    if not email or "@" not in email:
        return None
    local, _at, domain = email.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def referral_code_check(*, code: Any, new_member: Member | None = None) -> ReferralCode:
    """Return the usable code, or raise the error a sign-up form should show.

    Forms call this to show the error on the field before enrolling; ``member_enroll``
    checks again through the enrolment hook.
    """
    from campaigns.models import ReferralCode

    normalized = referral_code_normalize(code)
    found = (
        ReferralCode.objects.select_related("member").filter(code=normalized).first()
        if normalized
        else None
    )
    if found is None:
        raise ReferralCodeInvalid(field="referral_code")
    referrer = found.member
    if new_member is not None:
        if referrer.pk == new_member.pk:
            raise SelfReferral(field="referral_code")
        if _looks_like(referrer, new_member):
            raise SelfReferral(field="referral_code")
    if not referrer.is_active or referrer.erased_at is not None:
        raise ReferralCodeInactive(field="referral_code")
    return found


def referral_code_validate(*, code: Any) -> str | None:
    """Return the normalised code a sign-up form may pass on, or raise its error.

    Empty, or referrals switched off: ``None`` (the code is ignored, the person joins).
    """
    if not str(code or "").strip() or not referral_settings().is_active:
        return None
    return referral_code_check(code=code).code


def _looks_like(referrer: Member, new_member: Member) -> bool:
    """Whether the new member's contact is the referrer's own under another spelling."""
    if referrer.phone and referrer.phone == new_member.phone:
        return True
    mine = _email_canonical(referrer.email)
    return mine is not None and mine == _email_canonical(new_member.email)


# Recording a referral at enrolment -----------------------------------------------------------


def _month_start(at: datetime) -> datetime:
    local = timezone.localtime(at)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def referral_record(
    *, referred: Member, code: Any, via: str, at: datetime | None = None
) -> Referral:
    """Record that ``referred`` joined with ``code``; raise (nothing written) if refused.

    Over the referrer's monthly cap the referral is kept as *refused* with the reason: the
    friend joins either way, only the rewards are off.
    """
    from campaigns.models import Referral, ReferralCode

    at = at or timezone.now()
    config = referral_settings()
    with transaction.atomic():
        found = referral_code_check(code=code, new_member=referred)
        # The code row is the referrer's queue for the cap: two friends joining at once
        # with one code are counted one after the other.
        ReferralCode.objects.select_for_update().filter(pk=found.pk).first()
        status, reason = Referral.Status.PENDING, ""
        if config.monthly_cap is not None:
            start = _month_start(at)
            end = _month_start(start + timedelta(days=32))
            made = (
                Referral.objects.filter(
                    referrer_id=found.member_id, created_at__gte=start, created_at__lt=end
                )
                .exclude(status=Referral.Status.REFUSED)
                .count()
            )
            if made >= config.monthly_cap:
                status = Referral.Status.REFUSED
                reason = _(
                    "The inviting member reached the limit of %(cap)s referrals a month."
                ) % {"cap": config.monthly_cap}
        qualify_by = (
            at + timedelta(days=config.qualify_within_days)
            if config.qualify_within_days is not None
            else None
        )
        try:
            with transaction.atomic():
                referral = Referral.objects.create(
                    referrer_id=found.member_id,
                    referred=referred,
                    code=found.code,
                    via=via,
                    status=status,
                    created_at=at,
                    qualify_by=qualify_by,
                    reason=reason,
                )
        except IntegrityError:
            raise errors.Conflict(_("This member was already referred.")) from None
        event_record(
            type="referral.recorded",
            member=referred,
            payload={"referral": referral.pk, "referrer": found.member_id, "status": status},
            at=at,
        )
        if status == Referral.Status.PENDING:
            transaction.on_commit(config_changed)
    return referral


# Qualifying purchase and refunds ------------------------------------------------------------


def _qualify(referral: Referral, *, purchase: Purchase, at: datetime) -> None:
    from campaigns.models import Referral

    config = referral_settings()
    referral.status = Referral.Status.QUALIFIED
    referral.purchase = purchase
    referral.qualified_at = at
    referral.reward_due_at = at + timedelta(days=config.revoke_window_days)
    referral.referrer_points = config.referrer_points
    referral.referrer_reward_id = config.referrer_reward_id
    referral.friend_points = config.friend_points
    referral.friend_reward_id = config.friend_reward_id
    referral.save(
        update_fields=[
            "status",
            "purchase",
            "qualified_at",
            "reward_due_at",
            "referrer_points",
            "referrer_reward",
            "friend_points",
            "friend_reward",
        ]
    )
    event_record(
        type="referral.qualified",
        member=referral.referred,
        payload={"referral": referral.pk, "purchase": purchase.pk},
        at=at,
    )
    if referral.reward_due_at <= timezone.now():
        # A window of 0 rewards at once: after this purchase commits, in a transaction of
        # its own that locks both members in order (this one holds only the buyer's lock).
        pk = referral.pk
        transaction.on_commit(lambda: _reward_now(pk))
    transaction.on_commit(config_changed)


def _reward_now(referral_id: int) -> None:
    from campaigns.tasks import referral_reward_pay

    referral_reward_pay.delay(referral_id)


def _on_purchase_recorded(
    *, member: Member, purchase: Purchase, total: Decimal, at: datetime, **_kw
):
    # Another process may not know yet of a referral made seconds ago (its configuration
    # cache lives a few seconds): a member who just joined is always looked up.
    just_joined = member.enrolled_at >= timezone.now() - RECENT_ENROLMENT
    if not just_joined and not referrals_pending_exist():
        return
    from campaigns.models import Referral

    referral = (
        Referral.objects.select_for_update()
        .filter(referred_id=member.pk, status=Referral.Status.PENDING)
        .first()
    )
    if referral is None:
        return
    referral.referred = member
    if referral.qualify_by is not None and at > referral.qualify_by:
        Referral.objects.filter(pk=referral.pk).update(
            status=Referral.Status.EXPIRED,
            reason=_("No qualifying purchase in time."),
        )
        transaction.on_commit(config_changed)
        return
    if total < referral_settings().min_spend:
        return
    _qualify(referral, purchase=purchase, at=at)


def _on_purchase_refunded(*, member: Member, purchase: Purchase, refund: Any, at: datetime, **_kw):
    from campaigns.models import Referral

    referral = (
        Referral.objects.select_for_update()
        .filter(purchase_id=purchase.pk, status=Referral.Status.QUALIFIED)
        .first()
    )
    if referral is None or at >= referral.reward_due_at:
        # No referral waits on this purchase, or its window has closed: the rewards stand.
        return
    total, refunded = Purchase.objects.filter(pk=purchase.pk).values_list(
        "total", "refunded_amount"
    )[0]
    kept = total - refunded
    if kept > 0 and kept >= referral_settings().min_spend:
        return
    Referral.objects.filter(pk=referral.pk).update(
        status=Referral.Status.REVOKED,
        revoked_at=at,
        reason=_("The qualifying purchase was refunded within the return window."),
    )
    event_record(
        type="referral.revoked",
        member=member,
        payload={"referral": referral.pk, "purchase": purchase.pk, "refund": refund.pk},
        at=at,
    )


def _on_member_enrolled(*, member: Member, referral_code: str | None, via: str, at, **_kw):
    if not referral_code or not referral_settings().is_active:
        return
    referral_record(referred=member, code=referral_code, via=via, at=at)


def _purchase_hooks_active(*, members: Sequence[Any] = (), **_kw) -> bool:
    # A member who joined a moment ago may have a pending referral that another process's
    # cache does not know of yet: their purchases go one by one too.
    if referrals_pending_exist():
        return True
    recent = timezone.now() - RECENT_ENROLMENT
    return any(m.enrolled_at >= recent for m in members)


def connect() -> None:
    """Register the referral handlers with the programme core's hooks."""
    hooks.register("member_enrolled", _on_member_enrolled)
    hooks.register("purchase_recorded", _on_purchase_recorded)
    hooks.register("purchase_refunded", _on_purchase_refunded)
    hooks.register("purchase_hooks_active", _purchase_hooks_active)
    hooks.provide("referral_code_check", referral_code_validate)


# Pay-outs ------------------------------------------------------------------------------------


def _friend_label(member: Member) -> str:
    """First name and initial (what the other side of a referral may see of a member)."""
    first = (member.first_name or "").strip()
    initial = (member.last_name or "").strip()[:1]
    if not first:
        return _("a friend")
    return f"{first} {initial}." if initial else first


def _give(member: Member, *, points: int, reward, reason: str, at: datetime, notes: list[str]):
    """Credit ``points`` and issue ``reward`` to ``member``; return the voucher (or None).

    A closed membership gets nothing; a reward out of stock or withdrawn is skipped with a
    note, the points are still given. The voucher is issued in a savepoint so a refusal
    leaves the pay-out's transaction usable.
    """
    from rewards.models import Voucher
    from rewards.services import voucher_issue

    if not member.is_active:
        notes.append(
            _("The membership of member #%(id)s is closed: nothing given to them.")
            % {"id": member.pk}
        )
        return None
    if points:
        points_credit(
            member=member,
            points=points,
            kind=EntryKind.BONUS,
            reason=reason,
            source_type=LedgerEntry.SourceType.CAMPAIGN,
            at=at,
        )
    if reward is None:
        return None
    try:
        with transaction.atomic():
            return voucher_issue(
                member=member, reward=reward, origin=Voucher.Origin.REFERRAL, reason=reason, at=at
            )
    except errors.LoyaltyError as error:
        notes.append(
            _("Voucher %(reward)s not given: %(why)s") % {"reward": reward, "why": error.detail}
        )
        return None


def _lock_pair(*member_ids: int) -> dict[int, Member]:
    return {
        m.pk: m for m in Member.objects.select_for_update().filter(pk__in=member_ids).order_by("pk")
    }


def referral_reward_pay(*, referral_id: int, as_of: datetime | None = None) -> bool:
    """Pay a qualified referral whose window has closed; return whether this call paid it."""
    from campaigns.messaging import message_send
    from campaigns.models import Referral

    as_of = as_of or timezone.now()
    pair = Referral.objects.filter(pk=referral_id).values_list("referrer_id", "referred_id").first()
    if pair is None:
        return False
    with transaction.atomic():
        members = _lock_pair(*pair)
        claimed = Referral.objects.filter(
            pk=referral_id, status=Referral.Status.QUALIFIED, reward_due_at__lte=as_of
        ).update(status=Referral.Status.REWARDED, rewarded_at=as_of)
        if not claimed:
            return False
        referral = Referral.objects.select_related("referrer_reward", "friend_reward").get(
            pk=referral_id
        )
        referrer, friend = members[pair[0]], members[pair[1]]
        notes: list[str] = []
        friend_voucher = _give(
            friend,
            points=referral.friend_points,
            reward=referral.friend_reward,
            reason=_("Welcome gift for joining through a friend"),
            at=as_of,
            notes=notes,
        )
        referrer_voucher = _give(
            referrer,
            points=referral.referrer_points,
            reward=referral.referrer_reward,
            reason=_("Thank you for inviting %(friend)s") % {"friend": _friend_label(friend)},
            at=as_of,
            notes=notes,
        )
        referral.friend_voucher = friend_voucher
        referral.referrer_voucher = referrer_voucher
        referral.reason = " ".join(notes)[:255]
        referral.save(update_fields=["friend_voucher", "referrer_voucher", "reason"])
        event_record(
            type="referral.rewarded",
            member=friend,
            payload={"referral": referral.pk, "referrer": referrer.pk},
            at=as_of,
        )
        milestones = _milestones_award(referrer, at=as_of) if referrer.is_active else []
        if referrer.is_active:
            from campaigns.challenges import challenge_referral_counted

            challenge_referral_counted(member=referrer, at=as_of)
        sides = (
            (referrer, "referrer", referral.referrer_points, referrer_voucher),
            (friend, "friend", referral.friend_points, friend_voucher),
        )
        for member, role, points, voucher in sides:
            if member.is_active:
                message_send(
                    member=member,
                    type_code="referral_rewarded",
                    context={
                        "role": role,
                        "friend": _friend_label(friend),
                        "points": points,
                        "reward": str(voucher.reward.name) if voucher is not None else "",
                        "milestones": [m.count for m in milestones] if role == "referrer" else [],
                    },
                    dedupe_key=f"referral:{referral.pk}:{role}",
                )
    return True


def _milestones_award(referrer: Member, *, at: datetime) -> list:
    """Give the referrer every milestone reached and not given yet (the caller holds the lock)."""
    from campaigns.models import Referral, ReferralMilestoneAward

    milestones = referral_milestones()
    if not milestones:
        return []
    done = Referral.objects.filter(referrer_id=referrer.pk, status=Referral.Status.REWARDED).count()
    given = set(
        ReferralMilestoneAward.objects.filter(referrer_id=referrer.pk).values_list(
            "milestone_id", flat=True
        )
    )
    awarded = []
    for milestone in milestones:
        if milestone.count > done or milestone.pk in given:
            continue
        try:
            with transaction.atomic():
                award = ReferralMilestoneAward.objects.create(
                    referrer=referrer, milestone=milestone, points=milestone.points, awarded_at=at
                )
        except IntegrityError:
            continue
        notes: list[str] = []
        award.voucher = _give(
            referrer,
            points=milestone.points,
            reward=milestone.reward,
            reason=_("Referral milestone: %(count)s friends joined") % {"count": milestone.count},
            at=at,
            notes=notes,
        )
        if award.voucher is not None:
            award.save(update_fields=["voucher"])
        awarded.append(milestone)
    return awarded


def referrals_reward_due(*, as_of: datetime | None = None, limit: int = 1000) -> int:
    """Expire referrals past their purchase deadline and pay those due; return how many paid."""
    from campaigns.models import Referral

    as_of = as_of or timezone.now()
    expired = Referral.objects.filter(
        status=Referral.Status.PENDING, qualify_by__isnull=False, qualify_by__lt=as_of
    ).update(status=Referral.Status.EXPIRED, reason=_("No qualifying purchase in time."))
    if expired:
        config_changed()
    due = list(
        Referral.objects.filter(status=Referral.Status.QUALIFIED, reward_due_at__lte=as_of)
        .order_by("reward_due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(referral_reward_pay(referral_id=pk, as_of=as_of) for pk in due)


def referral_revoke(
    *,
    referral: Referral,
    reason: str,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> Referral:
    """Revoke a referral whose rewards are not paid yet (staff, with a reason)."""
    from campaigns.models import Referral

    reason = (reason or "").strip()
    if not reason:
        raise errors.ReasonRequired(field="reason")
    if len(reason) > 255:
        raise errors.InvalidInput(
            _("The reason is too long (at most 255 characters)."), field="reason"
        )
    at = at or timezone.now()
    with transaction.atomic():
        _lock_pair(referral.referrer_id, referral.referred_id)
        changed = Referral.objects.filter(
            pk=referral.pk,
            status__in=[Referral.Status.PENDING, Referral.Status.QUALIFIED],
        ).update(status=Referral.Status.REVOKED, revoked_at=at, reason=reason)
        if not changed:
            raise ReferralNotRevocable()
        event_record(
            type="referral.revoked",
            member=referral.referred,
            actor=actor,
            payload={"referral": referral.pk, "reason": reason},
            at=at,
        )
        transaction.on_commit(config_changed)
    referral.refresh_from_db()
    return referral


# Reads for the portal and the API ----------------------------------------------------------


@dataclass(frozen=True)
class ReferralSummary:
    code: ReferralCode
    joined: int
    waiting: int
    rewarded: int
    next_milestone: Any


def referral_summary(*, member: Member) -> ReferralSummary:
    """Return the member's code and counts of their referrals (two queries)."""
    from campaigns.models import Referral

    code = referral_code_for(member)
    counts = Referral.objects.filter(referrer_id=member.pk).aggregate(
        joined=Count("pk", filter=~Q(status=Referral.Status.REFUSED)),
        waiting=Count(
            "pk", filter=Q(status__in=[Referral.Status.PENDING, Referral.Status.QUALIFIED])
        ),
        rewarded=Count("pk", filter=Q(status=Referral.Status.REWARDED)),
    )
    rewarded = counts["rewarded"] or 0
    upcoming = next((m for m in referral_milestones() if m.count > rewarded), None)
    return ReferralSummary(
        code=code,
        joined=counts["joined"] or 0,
        waiting=counts["waiting"] or 0,
        rewarded=rewarded,
        next_milestone=upcoming,
    )


def member_referrals(*, member: Member, limit: int = 100):
    """Return the member's latest referrals with the friend (one query)."""
    from campaigns.models import Referral

    return (
        Referral.objects.filter(referrer_id=member.pk)
        .select_related("referred")
        .order_by("-created_at", "-pk")[:limit]
    )


def friend_label(member: Member) -> str:
    """Return how a referred friend is shown to the referrer: first name and initial."""
    return _friend_label(member)
