"""Action bonuses and birthday rewards: the services.

* ``action_record`` pays a member for an action (a review, a share, a newsletter opt-in)
  once per period or per reference. Staff, the portal and the API call it; sign-up, a
  completed profile and the newsletter opt-in call it through the core's hooks.
* ``birthday_gift_give`` gives the birthday reward once a year; ``birthday_gifts_due`` finds
  the members whose birthday (or birthday month) it is and gives each theirs.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import ActionRecord, ActionType, BirthdayGift, BirthdayReward
from loyalty import errors, hooks
from loyalty.models import EntryKind, LedgerEntry, Source
from loyalty.services import member_lock, points_credit
from members.models import ConsentRecord, Member

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from rewards.models import Voucher

logger = logging.getLogger(__name__)

REFERENCE_MAX_LENGTH = ActionRecord._meta.get_field("reference").max_length

# Where an action is recorded from, and the flag of the action type that allows it. Automatic
# actions (sign-up, completed profile, newsletter) come from the system and need no flag.
SOURCE_FLAGS = {
    Source.ADMIN: "recordable_by_staff",
    Source.COUNTER: "recordable_by_staff",
    Source.IMPORT: "recordable_by_staff",
    Source.PORTAL: "recordable_in_portal",
    Source.KIOSK: "recordable_in_portal",
    Source.API: "recordable_by_api",
    Source.SYSTEM: None,
}

# What a complete profile has: the name, birth date, email and phone.
PROFILE_FIELDS = ("first_name", "last_name", "birth_date", "email", "phone")

# A day-timed birthday gift missed because the daily job did not run is given by a run in
# the next few days of the same month.
BIRTHDAY_CATCH_UP_DAYS = 3


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ActionNotFound(errors.NotFound):
    code = "action_not_found"
    message = gettext_lazy("No action has this code.")


class ActionInactive(errors.Conflict):
    code = "action_inactive"
    message = gettext_lazy("This action is not active.")


class ActionSourceNotAllowed(errors.NotPermitted):
    code = "action_source_not_allowed"
    message = gettext_lazy("This action cannot be recorded here.")


class ActionReferenceRequired(errors.InvalidInput):
    code = "reference_required"
    message = gettext_lazy("This action needs a reference, e.g. the link to the review.")


class ActionReferenceTooLong(errors.InvalidInput):
    code = "reference_too_long"
    message = gettext_lazy("The reference is too long (at most %(max)s characters).")


class ActionLimitReached(errors.Conflict):
    code = "action_limit_reached"
    message = gettext_lazy("This action has already been recorded for this member.")


_LIMIT_MESSAGES = {
    ActionType.Limit.ONCE: gettext_lazy(
        "%(action)s has already been recorded for this member; it is paid once."
    ),
    ActionType.Limit.DAILY: gettext_lazy(
        "%(action)s has already been recorded for this member today; it is paid once a day."
    ),
    ActionType.Limit.MONTHLY: gettext_lazy(
        "%(action)s has already been recorded for this member this month; it is paid once a month."
    ),
}


# --------------------------------------------------------------------------------------------
# Action bonuses
# --------------------------------------------------------------------------------------------


def reference_clean(value: Any) -> str:
    """Return the reference as stored: trimmed; a web link without its fragment, trailing
    slash and letter case of the scheme and host, so the same link is recognised again."""
    text = "" if value is None else str(value).strip()
    if len(text) > REFERENCE_MAX_LENGTH:
        raise ActionReferenceTooLong(field="reference", max=REFERENCE_MAX_LENGTH)
    if text.lower().startswith(("http://", "https://")):
        try:
            parts = urlsplit(text)
        except ValueError:
            return text
        path = parts.path.rstrip("/")
        text = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))
    return text


def period_key(*, limit: str, at: datetime) -> str:
    """Return the period an action counts in: "once", the local day, the month, or ""."""
    day = timezone.localdate(at)
    if limit == ActionType.Limit.ONCE:
        return "once"
    if limit == ActionType.Limit.DAILY:
        return day.isoformat()
    if limit == ActionType.Limit.MONTHLY:
        return day.strftime("%Y-%m")
    return ""


def action_get(code: str) -> ActionType:
    """Return the action type with this code or raise ``ActionNotFound``."""
    action = ActionType.objects.filter(code=str(code or "").strip()).first()
    if action is None:
        raise ActionNotFound(field="action")
    return action


def _check_allowed(action: ActionType, source: str) -> None:
    if source not in SOURCE_FLAGS:
        raise errors.InvalidInput(_("Unknown source."), field="source")
    if not action.is_active:
        raise ActionInactive(field="action")
    flag = SOURCE_FLAGS[source]
    if flag is not None and not getattr(action, flag):
        raise ActionSourceNotAllowed(field="action")


def _limit_error(action: ActionType) -> ActionLimitReached:
    message = _LIMIT_MESSAGES.get(action.limit)
    if message is None:
        return ActionLimitReached(field="action")
    return ActionLimitReached(message, field="action", action=action.name)


def action_record(
    *,
    member: Member,
    action: ActionType | str,
    reference: str = "",
    source: str,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> ActionRecord:
    """Pay the member the action's points, once per period of its limit and per reference.

    The record returned has ``created``: False when this reference was already recorded
    for this member (the first record is returned and nothing more is paid). Another
    payment in the same period raises ``ActionLimitReached``; bad input raises before
    anything is written.
    """
    if not isinstance(action, ActionType):
        action = action_get(action)
    _check_allowed(action, source)
    reference = reference_clean(reference)
    if (action.requires_reference or action.limit == ActionType.Limit.PER_REFERENCE) and (
        not reference
    ):
        raise ActionReferenceRequired(field="reference")
    at = at or timezone.now()
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    key = period_key(limit=action.limit, at=at)
    with transaction.atomic():
        locked = member_lock(member)
        if not locked.is_active:
            raise errors.MemberInactive()
        existing = _existing(action=action, member=locked, reference=reference, key=key)
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                record = ActionRecord.objects.create(
                    action=action,
                    member=locked,
                    reference=reference,
                    period_key=key,
                    points=action.points,
                    source=source,
                    actor=actor,
                    created_at=at,
                )
        except IntegrityError:
            # Only a writer that did not lock the member can get here; answer as if it had.
            existing = _existing(action=action, member=locked, reference=reference, key=key)
            if existing is None:
                raise
            return existing
        entry = points_credit(
            member=locked,
            points=action.points,
            kind=EntryKind.BONUS,
            reason=action.name,
            source_type=LedgerEntry.SourceType.CAMPAIGN,
            at=at,
            actor=actor,
        )
        ActionRecord.objects.filter(pk=record.pk).update(entry=entry)
        record.entry = entry
        member.balance = locked.balance
    record.created = True
    return record


def _existing(
    *, action: ActionType, member: Member, reference: str, key: str
) -> ActionRecord | None:
    """Return the earlier record of this reference (a repeat), or raise when the period's
    payment was already made."""
    if reference:
        first = ActionRecord.objects.filter(action=action, member=member, reference=reference)
        first = first.select_related("entry").first()
        if first is not None:
            first.created = False
            return first
    if key and ActionRecord.objects.filter(action=action, member=member, period_key=key).exists():
        raise _limit_error(action)
    return None


def profile_is_complete(member: Member) -> bool:
    """Return True when the member's name, birth date, email and phone are all filled in."""
    return all(getattr(member, name) for name in PROFILE_FIELDS)


def actions_record_automatic(
    *,
    member: Member,
    kinds: list[str],
    at: datetime | None = None,
    actor: AbstractBaseUser | None = None,
) -> list[ActionRecord]:
    """Record every active action of these automatic kinds; one already paid is skipped.

    Called inside the core's transactions (enrolment, profile change, consent), so it never
    refuses their write: a limit reached, or no such action, is simply nothing to pay.
    """
    records = []
    for action in ActionType.objects.filter(kind__in=kinds, is_active=True).order_by("pk"):
        try:
            record = action_record(
                member=member,
                action=action,
                reference="",
                source=Source.SYSTEM,
                actor=actor,
                at=at,
            )
        except errors.LoyaltyError:
            continue
        if record.created:
            records.append(record)
    return records


def _on_member_enrolled(*, member: Member, at=None, actor=None, **_kwargs) -> None:
    kinds = [ActionType.Kind.SIGNUP]
    if profile_is_complete(member):
        kinds.append(ActionType.Kind.PROFILE_COMPLETE)
    actions_record_automatic(member=member, kinds=kinds, at=at, actor=actor)


def _on_member_updated(*, member: Member, changed, actor=None, **_kwargs) -> None:
    if set(changed) & set(PROFILE_FIELDS) and profile_is_complete(member):
        actions_record_automatic(
            member=member, kinds=[ActionType.Kind.PROFILE_COMPLETE], actor=actor
        )


def _on_member_consent_changed(
    *, member: Member, channel: str, granted: bool, at=None, actor=None, **_kwargs
) -> None:
    if channel == ConsentRecord.Channel.EMAIL and granted:
        actions_record_automatic(
            member=member, kinds=[ActionType.Kind.NEWSLETTER], at=at, actor=actor
        )


def connect() -> None:
    """Register the automatic actions with the core's hooks."""
    hooks.register("member_enrolled", _on_member_enrolled)
    hooks.register("member_updated", _on_member_updated)
    hooks.register("member_consent_changed", _on_member_consent_changed)


# --------------------------------------------------------------------------------------------
# What a member can earn (the portal's "Earn more points" page)
# --------------------------------------------------------------------------------------------


@dataclass
class ActionOffer:
    """An action as one member sees it: whether it can be claimed now, and how often it was."""

    action: ActionType
    done: bool
    times: int
    last_at: datetime | None


def actions_for_member(
    *, member: Member, as_of: datetime | None = None, portal_only: bool = True
) -> list[ActionOffer]:
    """Return the active actions (those members may claim, by default) with the member's
    state: ``done`` when the limit is reached for the current period. Three queries."""
    at = as_of or timezone.now()
    actions = ActionType.objects.filter(is_active=True)
    if portal_only:
        actions = actions.filter(recordable_in_portal=True)
    actions = list(actions)
    if not actions:
        return []
    records = ActionRecord.objects.filter(member=member, action__in=actions)
    stats = {
        row["action_id"]: row
        for row in records.values("action_id").annotate(times=Count("pk"), last=Max("created_at"))
    }
    keys = {period_key(limit=limit, at=at) for limit in ActionType.Limit.values} - {""}
    done = set(records.filter(period_key__in=keys).values_list("action_id", "period_key"))
    offers = []
    for action in actions:
        row = stats.get(action.pk, {})
        key = period_key(limit=action.limit, at=at)
        offers.append(
            ActionOffer(
                action=action,
                done=bool(key) and (action.pk, key) in done,
                times=row.get("times", 0),
                last_at=row.get("last"),
            )
        )
    return offers


# --------------------------------------------------------------------------------------------
# Birthday rewards
# --------------------------------------------------------------------------------------------


def birthday_gift_give(
    *,
    member: Member,
    year: int | None = None,
    at: datetime | None = None,
    setting: BirthdayReward | None = None,
) -> BirthdayGift | None:
    """Give the member this year's birthday reward; return None when nothing was given.

    Nothing is given when the setting is off, the member has no birth date, is closed or
    erased, or already had this year's gift (a unique constraint holds that, so two runs at
    once give one gift). The points' reason is written in the member's language, and the
    birthday message is queued for the member.
    """
    from campaigns.messaging import message_send
    from rewards.models import Voucher
    from rewards.services import voucher_issue

    setting = setting or BirthdayReward.current()
    if not setting.is_active or (not setting.points and setting.reward_id is None):
        return None
    at = at or timezone.now()
    year = year or timezone.localdate(at).year
    with transaction.atomic():
        locked = member_lock(member)
        if not locked.is_active or locked.erased_at is not None or locked.birth_date is None:
            return None
        try:
            with transaction.atomic():
                gift = BirthdayGift.objects.create(member=locked, year=year, created_at=at)
        except IntegrityError:
            return None
        with translation.override(locked.language or settings.LANGUAGE_CODE):
            reason = _("Happy birthday!")
        entry = None
        voucher: Voucher | None = None
        if setting.points:
            entry = points_credit(
                member=locked,
                points=setting.points,
                kind=EntryKind.BONUS,
                reason=reason,
                source_type=LedgerEntry.SourceType.CAMPAIGN,
                at=at,
            )
        if setting.reward_id is not None:
            expires_at = (
                at + timedelta(days=setting.voucher_valid_days)
                if setting.voucher_valid_days
                else None
            )
            voucher = voucher_issue(
                member=locked,
                reward=setting.reward,
                origin=Voucher.Origin.CAMPAIGN,
                reason=reason,
                at=at,
                expires_at=expires_at,
            )
        gift.points = setting.points
        gift.entry = entry
        gift.voucher = voucher
        gift.save(update_fields=["points", "entry", "voucher"])
        message_send(
            member=locked,
            type_code="birthday",
            context={
                "year": year,
                "points": setting.points,
                "voucher_code": voucher.code if voucher else "",
                "reward": setting.reward.name if voucher else "",
                "voucher_expires_at": (
                    voucher.expires_at.isoformat() if voucher and voucher.expires_at else None
                ),
            },
            dedupe_key=f"birthday:{year}",
            at=at,
        )
        member.balance = locked.balance
    return gift


def birthday_members_due(*, today: date, timing: str):
    """Return the members due a birthday gift on ``today`` who have none for its year.

    Day timing: the birthday, or up to ``BIRTHDAY_CATCH_UP_DAYS`` after it in the same
    month when the job did not run; 29 February birthdays count on 28 February in other
    years. Month timing: any day of the birthday month (the first run of the month).
    """
    members = Member.objects.filter(
        is_active=True,
        erased_at__isnull=True,
        birth_date__isnull=False,
        birth_date__month=today.month,
    )
    if timing == BirthdayReward.Timing.DAY:
        due = Q(
            birth_date__day__lte=today.day, birth_date__day__gte=today.day - BIRTHDAY_CATCH_UP_DAYS
        )
        if today.month == 2 and today.day >= 28 and not calendar.isleap(today.year):
            due |= Q(birth_date__day=29)
        members = members.filter(due)
    given = BirthdayGift.objects.filter(member=OuterRef("pk"), year=today.year)
    return members.filter(~Exists(given))


def birthday_gifts_due(*, as_of: datetime | None = None) -> int:
    """Give the birthday reward to every member due one today; return how many got it.

    One query finds the members; each gift is its own transaction, so one member's
    problem (a reward out of stock) does not hold back the others.
    """
    setting = BirthdayReward.current()
    if not setting.is_active:
        return 0
    at = as_of or timezone.now()
    today = timezone.localdate(at)
    ids = list(
        birthday_members_due(today=today, timing=setting.timing)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    given = 0
    for member in Member.objects.filter(pk__in=ids).order_by("pk").iterator(chunk_size=500):
        try:
            gift = birthday_gift_give(member=member, year=today.year, at=at, setting=setting)
        except errors.LoyaltyError as error:
            logger.warning("Birthday gift for member %s not given: %s", member.pk, error.code)
            continue
        if gift is not None:
            given += 1
    return given
