"""Services for members: enrolment, profile changes and identifier rotation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import engine, errors, hooks
from loyalty.models import EntryKind, LedgerEntry, Location, Source
from loyalty.selectors import program_get, program_rules
from loyalty.services import event_record, lot_expiry
from members.identifiers import (
    card_number_generate,
    email_normalize,
    phone_normalize,
    qr_token_generate,
)
from members.models import ConsentRecord, Member

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

_PROFILE_FIELDS = (
    "phone",
    "email",
    "first_name",
    "last_name",
    "birth_date",
    "language",
    "home_location",
    "is_active",
)


def _clean_contact(
    *, phone: str | None, email: str | None, exclude_pk: int | None = None
) -> tuple[str | None, str | None]:
    phone = phone.strip() if isinstance(phone, str) else phone
    email = email.strip() if isinstance(email, str) else email
    norm_phone = phone_normalize(phone, region=program_get().default_country) if phone else None
    norm_email = email_normalize(email) if email else None
    if not norm_phone and not norm_email:
        raise errors.ContactRequired(field="phone")
    others = Member.objects.exclude(pk=exclude_pk) if exclude_pk else Member.objects.all()
    if norm_phone and others.filter(phone=norm_phone).exists():
        raise errors.MemberAlreadyExists(field="phone", what=_("phone number"))
    if norm_email and others.filter(email=norm_email).exists():
        raise errors.MemberAlreadyExists(field="email", what=_("email address"))
    return norm_phone, norm_email


def _clean_name(value: Any, label: str) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > 100:
        raise errors.InvalidInput(
            _("%(field)s is too long (at most %(max)s characters).") % {"field": label, "max": 100}
        )
    return text


def _clean_birth_date(value: date | None) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise errors.InvalidInput(_("Enter the birth date as a date."), field="birth_date")
    today = timezone.localdate()
    if value > today or value.year < today.year - 130:
        raise errors.InvalidInput(_("Enter a real birth date."), field="birth_date")
    return value


def _clean_language(value: str | None) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    if not value:
        return settings.LANGUAGE_CODE
    if value not in codes:
        raise errors.InvalidInput(_("This language is not offered."), field="language")
    return value


def contact_validate(
    *, phone: str | None = None, email: str | None = None, member: Member | None = None
) -> tuple[str | None, str | None]:
    """Return the normalised phone and email, raising the error a form should show.

    Forms call this to show field errors before saving; the services check again.
    """
    return _clean_contact(phone=phone, email=email, exclude_pk=member.pk if member else None)


def member_enroll(
    *,
    phone: str | None = None,
    email: str | None = None,
    first_name: str = "",
    last_name: str = "",
    birth_date: date | None = None,
    language: str | None = None,
    location: Location | None = None,
    via: str = Source.ADMIN,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
    referral_code: str | None = None,
) -> Member:
    """Create a member and give the programme's welcome bonus.

    ``referral_code`` is another member's invitation code; the campaigns app checks it
    (unknown or refused codes raise and nothing is created) and records the referral.

    The phone is stored in E.164 and the email lower-case; a phone or email that another
    member already has is refused with ``MemberAlreadyExists``.
    """
    at = at or timezone.now()
    first_name = _clean_name(first_name, _("First name"))
    last_name = _clean_name(last_name, _("Last name"))
    birth_date = _clean_birth_date(birth_date)
    language = _clean_language(language)
    actor = actor if actor is not None and actor.is_authenticated else None
    with transaction.atomic():
        norm_phone, norm_email = _clean_contact(phone=phone, email=email)
        member = None
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    member = Member.objects.create(
                        phone=norm_phone,
                        email=norm_email,
                        first_name=first_name,
                        last_name=last_name,
                        birth_date=birth_date,
                        language=language,
                        home_location=location,
                        card_number=card_number_generate(),
                        qr_token=qr_token_generate(),
                        enrolled_at=at,
                        enrolled_via=via,
                        enrolled_by=actor,
                    )
                break
            except IntegrityError:
                # A concurrent enrolment took the phone or email, or (rarely) a random card
                # number collided: tell which, or try another number.
                _clean_contact(phone=norm_phone, email=norm_email)
        if member is None:
            raise errors.Conflict(_("Could not allocate a card number, please try again."))
        event_record(
            type="member.enrolled",
            member=member,
            actor=actor,
            payload={"via": via, "location": location.code if location else None},
            at=at,
        )
        welcome = engine.enrolment_awards(rules=program_rules())
        if welcome.points:
            _welcome_credit(member=member, points=welcome.points, at=at, actor=actor)
        hooks.fire(
            "member_enrolled",
            member=member,
            referral_code=(referral_code or "").strip() or None,
            via=via,
            at=at,
            actor=actor,
        )
    return member


def _welcome_credit(*, member: Member, points: int, at: datetime, actor) -> None:
    from loyalty.services import points_credit

    points_credit(
        member=member,
        points=points,
        kind=EntryKind.WELCOME,
        reason=_("Welcome bonus"),
        source_type=LedgerEntry.SourceType.SYSTEM,
        at=at,
        expires_at=lot_expiry(program=program_get(), earned_at=at),
        actor=actor,
    )


def member_update(
    *, member: Member, actor: AbstractBaseUser | None = None, **changes: Any
) -> Member:
    """Change a member's profile fields; phone and email are normalised and kept unique."""
    unknown = set(changes) - set(_PROFILE_FIELDS)
    if unknown:
        raise errors.InvalidInput(
            _("These fields cannot be changed: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    clean: dict[str, Any] = {}
    if "first_name" in changes:
        clean["first_name"] = _clean_name(changes["first_name"], _("First name"))
    if "last_name" in changes:
        clean["last_name"] = _clean_name(changes["last_name"], _("Last name"))
    if "birth_date" in changes:
        clean["birth_date"] = _clean_birth_date(changes["birth_date"])
    if "language" in changes:
        clean["language"] = _clean_language(changes["language"])
    if "home_location" in changes:
        clean["home_location"] = changes["home_location"]
    if "is_active" in changes:
        clean["is_active"] = bool(changes["is_active"])
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if "phone" in changes or "email" in changes:
            phone = changes.get("phone", locked.phone)
            email = changes.get("email", locked.email)
            clean["phone"], clean["email"] = _clean_contact(
                phone=phone, email=email, exclude_pk=locked.pk
            )
        before = {name: getattr(locked, name) for name in clean}
        changed = {name: value for name, value in clean.items() if before[name] != value}
        if not changed:
            return member
        for name, value in changed.items():
            setattr(locked, name, value)
        try:
            with transaction.atomic():
                locked.save(update_fields=list(changed))
        except IntegrityError:
            _clean_contact(phone=locked.phone, email=locked.email, exclude_pk=locked.pk)
            raise
        event_record(
            type="member.updated",
            member=locked,
            actor=actor,
            payload={
                "changed": {
                    name: [_jsonable(before[name]), _jsonable(value)]
                    for name, value in changed.items()
                }
            },
        )
        for name, value in changed.items():
            setattr(member, name, value)
        hooks.fire("member_updated", member=locked, changed=list(changed), actor=actor)
    return member


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Location):
        return value.code
    return value


def member_rotate_qr_token(*, member: Member, actor: AbstractBaseUser | None = None) -> Member:
    """Give the member a new QR token; the old one stops working at once."""
    with transaction.atomic():
        member.qr_token = qr_token_generate()
        member.save(update_fields=["qr_token"])
        event_record(type="member.qr_rotated", member=member, actor=actor)
    return member


def member_consent_set(
    *,
    member: Member,
    channel: str,
    granted: bool,
    source: str,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> ConsentRecord:
    """Record a consent given or withdrawn, with its time and where it was given."""
    if channel not in ConsentRecord.Channel.values:
        raise errors.InvalidInput(_("Unknown consent."), field="channel")
    if not isinstance(granted, bool):
        raise errors.InvalidInput(_("Consent is yes or no."), field="granted")
    if source not in Source.values:
        raise errors.InvalidInput(_("Unknown source."), field="source")
    at = at or timezone.now()
    actor = actor if actor is not None and actor.is_authenticated else None
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        record = ConsentRecord.objects.create(
            member=locked,
            channel=channel,
            granted=granted,
            source=source,
            actor=actor,
            created_at=at,
        )
        cached = {
            ConsentRecord.Channel.EMAIL: "marketing_email",
            ConsentRecord.Channel.SMS: "marketing_sms",
        }.get(channel)
        if cached:
            Member.objects.filter(pk=locked.pk).update(**{cached: granted})
            setattr(member, cached, granted)
        elif channel == ConsentRecord.Channel.TERMS:
            value = at if granted else None
            Member.objects.filter(pk=locked.pk).update(terms_accepted_at=value)
            member.terms_accepted_at = value
        event_record(
            type="member.consent_changed",
            member=locked,
            actor=actor,
            payload={"channel": channel, "granted": granted, "source": source},
            at=at,
        )
        hooks.fire(
            "member_consent_changed",
            member=locked,
            channel=channel,
            granted=granted,
            source=source,
            at=at,
            actor=actor,
        )
    return record


FREQUENCIES = ("any", "weekly", "monthly", "never")


def member_preferences_update(
    *,
    member: Member,
    message_frequency: str | None = None,
    favourite_categories: list[str] | None = None,
    actor: AbstractBaseUser | None = None,
) -> Member:
    """Change how often the member hears from the programme and their favourite categories."""
    fields: dict[str, Any] = {}
    if message_frequency is not None:
        if message_frequency not in FREQUENCIES:
            raise errors.InvalidInput(
                _("Choose how often: any, weekly, monthly or never."), field="message_frequency"
            )
        fields["message_frequency"] = message_frequency
    if favourite_categories is not None:
        if not isinstance(favourite_categories, list | tuple) or not all(
            isinstance(c, str) and 0 < len(c.strip()) <= 64 for c in favourite_categories
        ):
            raise errors.InvalidInput(
                _("Give the categories as a list of names."), field="favourite_categories"
            )
        if len(favourite_categories) > 20:
            raise errors.InvalidInput(
                _("At most 20 favourite categories."), field="favourite_categories"
            )
        fields["favourite_categories"] = sorted({c.strip() for c in favourite_categories})
    if not fields:
        return member
    with transaction.atomic():
        Member.objects.filter(pk=member.pk).update(**fields)
        for k, v in fields.items():
            setattr(member, k, v)
        event_record(
            type="member.updated",
            member=member,
            actor=actor if actor is not None and actor.is_authenticated else None,
            payload={"changed": {k: [None, v] for k, v in fields.items()}},
        )
    return member


def member_erase(
    *, member: Member, actor: AbstractBaseUser | None = None, at: datetime | None = None
) -> Member:
    """Forget a member's personal data (GDPR erasure); keep the ledger's numbers anonymous.

    Name, phone, email, birth date, favourite categories and identifiers are removed, the
    portal login is scrubbed and can never sign in again, the membership is closed. Ledger
    entries, lots, purchases and vouchers stay (they are the business's accounts) but point
    to an anonymous member.
    """
    at = at or timezone.now()
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if locked.erased_at is not None:
            return locked
        user = locked.user
        Member.objects.filter(pk=locked.pk).update(
            phone=None,
            email=None,
            first_name="",
            last_name="",
            birth_date=None,
            favourite_categories=[],
            marketing_email=False,
            marketing_sms=False,
            qr_token=qr_token_generate(),
            card_number=card_number_generate(),
            user=None,
            is_active=False,
            erased_at=at,
        )
        if user is not None and not user.is_staff:
            # The login is scrubbed, not deleted: audit rows (events, consents) may name it
            # as their actor and protect it. It can never sign in again.
            user.username = f"erased-{locked.pk}-{secrets.token_hex(4)}"
            user.email = ""
            user.first_name = user.last_name = ""
            user.is_active = False
            user.set_unusable_password()
            user.save()
            from allauth.account.models import EmailAddress

            EmailAddress.objects.filter(user=user).delete()
        hooks.fire("member_erased", member=locked, at=at, actor=actor)
        event_record(type="member.erased", member=locked, actor=actor, payload={}, at=at)
        locked.refresh_from_db()
    return locked


def member_export(*, member: Member) -> dict[str, Any]:
    """Return everything the programme holds about a member, for "download my data"."""
    from loyalty.models import LedgerEntry, Purchase, Visit
    from rewards.models import Voucher

    def iso(value):
        return value.isoformat() if value else None

    return {
        "profile": {
            "card_number": member.card_number,
            "phone": member.phone,
            "email": member.email,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "birth_date": iso(member.birth_date),
            "language": member.language,
            "enrolled_at": iso(member.enrolled_at),
            "favourite_categories": member.favourite_categories,
            "message_frequency": member.message_frequency,
        },
        "balances": {
            "balance": member.balance,
            "pending": member.pending,
            "owed": member.points_debt,
        },
        "consents": [
            {
                "channel": c.channel,
                "granted": c.granted,
                "source": c.source,
                "at": iso(c.created_at),
            }
            for c in member.consents.order_by("created_at")
        ],
        "ledger": [
            {
                "at": iso(e.created_at),
                "kind": e.kind,
                "points": e.points,
                "pending": e.pending_points,
                "reason": e.reason,
            }
            for e in LedgerEntry.objects.filter(member=member).order_by("id").iterator()
        ],
        "purchases": [
            {
                "at": iso(p.occurred_at),
                "location": p.location.name,
                "total": str(p.total),
                "points": p.points_awarded,
            }
            for p in Purchase.objects.filter(member=member)
            .select_related("location")
            .order_by("id")
            .iterator()
        ],
        "visits": [
            {"at": iso(v.occurred_at), "location": v.location.name}
            for v in Visit.objects.filter(member=member)
            .select_related("location")
            .order_by("id")
            .iterator()
        ],
        "vouchers": [
            {
                "code": v.code,
                "reward": v.reward.name,
                "status": v.status,
                "issued_at": iso(v.issued_at),
            }
            for v in Voucher.objects.filter(member=member)
            .select_related("reward")
            .order_by("id")
            .iterator()
        ],
        # Other apps' sections: referrals, badges, challenges, messages...
        **hooks.collect("member_export", member=member),
    }


@dataclass(frozen=True)
class KioskCheckIn:
    """What a kiosk check-in did: the member, the visit (None when cooling down)."""

    member: Member
    visit: Any
    cooling_down: bool


def kiosk_check_in(*, location: Location, phone: str, at: datetime | None = None) -> KioskCheckIn:
    """Check in the member with this phone at a kiosk; refuse repeats within the cooldown.

    Raises ``MemberNotFound`` for an unknown number (the kiosk then offers to enrol).
    """
    from datetime import timedelta

    from loyalty.models import Visit
    from loyalty.services import visit_record

    at = at or timezone.now()
    program = program_get()
    normalized = phone_normalize(phone, region=program.default_country)
    member = Member.objects.filter(phone=normalized, erased_at__isnull=True).first()
    if member is None:
        raise errors.MemberNotFound()
    since = at - timedelta(minutes=program.kiosk_cooldown_minutes)
    recent = Visit.objects.filter(
        member=member, source=Source.KIOSK, occurred_at__gte=since
    ).exists()
    if recent:
        return KioskCheckIn(member=member, visit=None, cooling_down=True)
    visit = visit_record(member=member, location=location, source=Source.KIOSK, at=at)
    member.refresh_from_db()
    return KioskCheckIn(member=member, visit=visit, cooling_down=False)
