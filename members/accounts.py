"""Member portal accounts: the allauth adapter, sign-up, claiming a counter membership.

A portal login (a Django user, managed by django-allauth) is linked to at most one
``Member`` through ``Member.user``. Three ways lead there:

- sign-up with an email no member has: the member is enrolled at once (via the portal),
  with the consents given on the form;
- sign-up with the email of a member enrolled at the counter: nothing is created; the
  member is linked when the email address is verified, so nobody takes over a membership
  by typing someone else's address;
- claim: a signed-in user without a member types a card number or phone; a one-time code
  goes to the contact the member has on file (never to what was typed) and, once the code
  is entered, the member (points and history included) is linked to the login.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty import errors
from loyalty.models import Source
from loyalty.selectors import program_get
from loyalty.services import event_record
from members.identifiers import email_normalize
from members.models import ClaimCode, ConsentRecord, Member
from members.selectors import member_identify
from members.services import member_consent_set, member_enroll, member_preferences_update
from members.services import member_update as _member_update
from members.sms import sms_send

if TYPE_CHECKING:
    from datetime import date

    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

logger = logging.getLogger(__name__)

CLAIM_CODE_TTL = timedelta(minutes=15)
CLAIM_MAX_ATTEMPTS = 5
# Codes a login may request per hour: enough for typos, too few to flood a member's phone.
CLAIM_STARTS_PER_HOUR = 5
_PENDING_SIGNUP_KEY = "members.pending_signup"


# Errors -------------------------------------------------------------------------------------


class AlreadyHasMembership(errors.Conflict):
    code = "already_has_membership"
    message = gettext_lazy("Your login is already linked to a membership.")


class ClaimNotPossible(errors.Conflict):
    code = "claim_not_possible"
    message = gettext_lazy(
        "This membership cannot be linked to your login. Ask the staff at the counter for help."
    )


class ClaimCodeMissing(errors.InvalidInput):
    code = "claim_code_missing"
    message = gettext_lazy("There is no code waiting for you. Request a new code.")


class ClaimCodeExpired(errors.InvalidInput):
    code = "claim_code_expired"
    message = gettext_lazy("This code has expired. Request a new code.")


class ClaimCodeWrong(errors.InvalidInput):
    code = "claim_code_wrong"
    message = gettext_lazy("This code is not right. Attempts left: %(remaining)s.")


class ClaimTooManyAttempts(errors.InvalidInput):
    code = "claim_too_many_attempts"
    message = gettext_lazy("Too many wrong codes. Request a new code.")


class ClaimRateLimited(errors.Conflict):
    code = "claim_rate_limited"
    status = 429
    message = gettext_lazy("Too many codes requested. Try again in an hour.")


# Sign-up ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalConsents:
    """The consent boxes of the sign-up form."""

    terms: bool
    marketing_email: bool = False
    marketing_sms: bool = False


def _consents_record(
    *, member: Member, consents: PortalConsents, at: datetime, terms: bool = True
) -> None:
    # The actor stays empty: the source "portal" already says the member gave it, and an
    # audit row pointing at the login would keep erasure from deleting that login.
    channels = [
        (ConsentRecord.Channel.EMAIL, consents.marketing_email),
        (ConsentRecord.Channel.SMS, consents.marketing_sms),
    ]
    if terms:
        channels.insert(0, (ConsentRecord.Channel.TERMS, True))
    for channel, granted in channels:
        member_consent_set(
            member=member, channel=channel, granted=granted, source=Source.PORTAL, at=at
        )


def member_portal_signup(
    *,
    user: AbstractBaseUser,
    email: str,
    language: str | None,
    consents: PortalConsents,
    at: datetime | None = None,
    referral_code: str | None = None,
) -> Member | None:
    """Enrol the member of a new portal login, recording the consents of the form.

    Return the new member, or ``None`` when a member already has this email: that member
    is linked by ``member_portal_link_verified`` once the address is verified, never before
    (and ``referral_code`` is ignored: only new members are referred).
    """
    if not consents.terms:
        raise errors.InvalidInput(_("Accept the terms of the programme to join."), field="terms")
    at = at or timezone.now()
    normalized = email_normalize(email)
    with transaction.atomic():
        if Member.objects.filter(user=user).exists():
            raise AlreadyHasMembership()
        if Member.objects.filter(email=normalized).exists():
            return None
        member = member_enroll(
            email=normalized,
            language=language,
            via=Source.PORTAL,
            at=at,
            referral_code=referral_code,
        )
        Member.objects.filter(pk=member.pk).update(user=user)
        member.user = user
        _consents_record(member=member, consents=consents, at=at)
    return member


def member_portal_link_verified(
    *,
    user: AbstractBaseUser,
    email: str,
    consents: PortalConsents | None = None,
    language: str | None = None,
    at: datetime | None = None,
) -> Member | None:
    """Link the member with this verified email to ``user``, if it has no login yet.

    The terms were accepted on the sign-up form; the marketing choices of the form are
    recorded when known (``consents``), else the member's earlier choices stay. Return the
    member now linked, or ``None`` when there is none to link.
    """
    at = at or timezone.now()
    normalized = email_normalize(email)
    with transaction.atomic():
        own = Member.objects.filter(user=user).first()
        if own is not None:
            return own
        member = (
            Member.objects.select_for_update()
            .filter(email=normalized, user__isnull=True, erased_at__isnull=True)
            .first()
        )
        if member is None:
            return None
        Member.objects.filter(pk=member.pk).update(user=user)
        member.user = user
        event_record(
            type="member.linked",
            member=member,
            payload={"via": "verified_email"},
            at=at,
        )
        if consents is not None:
            _consents_record(member=member, consents=consents, at=at)
        else:
            member_consent_set(
                member=member,
                channel=ConsentRecord.Channel.TERMS,
                granted=True,
                source=Source.PORTAL,
                at=at,
            )
        if language:
            _member_update(member=member, language=language)
    return member


# Claiming a counter membership --------------------------------------------------------------


def _code_hash(*, member_pk: int, user_pk: int, code: str) -> str:
    # Keyed with the secret key, so a copy of the table does not give the codes away.
    return salted_hmac(
        "members.claim_code", f"{member_pk}:{user_pk}:{code}", algorithm="sha256"
    ).hexdigest()


def _rate_limited(key: str, *, limit: int, seconds: int) -> bool:
    """Count one more use of ``key``; return whether it went over ``limit`` in the window."""
    cache.add(key, 0, timeout=seconds)
    try:
        used = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=seconds)
        used = 1
    return used > limit


def _deliver_to_member(*, member: Member, template: str, context: dict[str, Any]) -> str:
    """Send a message to the member's own contact: email when on file, else SMS."""
    program = program_get()
    context = {"program": program, "member": member, **context}
    with translation.override(member.language):
        body = render_to_string(f"members/account/{template}.txt", context).strip()
        if member.email:
            subject = _("%(program)s: your membership") % {"program": program.name}
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [member.email])
            return "email"
        sms_send(to=member.phone, body=body)
        return "sms"


def claim_start(*, user: AbstractBaseUser, identifier: str, at: datetime | None = None) -> None:
    """Send a one-time code to the member with this card number or phone, if there is one.

    The code goes to the contact on file (email, else phone), never to what was typed.
    Nothing tells the caller whether the membership exists: an unknown number, a closed
    membership and a membership linked to another login all return quietly (the owner of
    a linked membership is told by a message of its own).
    """
    at = at or timezone.now()
    if Member.objects.filter(user=user).exists():
        raise AlreadyHasMembership()
    if _rate_limited(f"members.claim_start:{user.pk}", limit=CLAIM_STARTS_PER_HOUR, seconds=3600):
        raise ClaimRateLimited()
    try:
        member = member_identify(identifier=identifier)
    except errors.LoyaltyError:
        return
    if member.erased_at is not None or not member.is_active:
        return
    if member.user_id is not None:
        if member.user_id != user.pk:
            _deliver_to_member(member=member, template="claim_already_linked", context={})
        return
    code = f"{secrets.randbelow(1_000_000):06d}"
    channel = "email" if member.email else "sms"
    with transaction.atomic():
        # A new code replaces any earlier one of this login.
        ClaimCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=at).update(
            expires_at=at
        )
        ClaimCode.objects.create(
            member=member,
            user=user,
            code_hash=_code_hash(member_pk=member.pk, user_pk=user.pk, code=code),
            channel=channel,
            expires_at=at + CLAIM_CODE_TTL,
            created_at=at,
        )
    minutes = int(CLAIM_CODE_TTL.total_seconds() // 60)
    _deliver_to_member(
        member=member, template="claim_code", context={"code": code, "minutes": minutes}
    )


def claim_confirm(*, user: AbstractBaseUser, code: str, at: datetime | None = None) -> Member:
    """Link the member the login's latest code was sent for, if ``code`` is that code.

    A code is good for 15 minutes and 5 attempts; every attempt counts, right or wrong.
    """
    at = at or timezone.now()
    code = "".join((code or "").split())
    if Member.objects.filter(user=user).exists():
        raise AlreadyHasMembership()
    with transaction.atomic():
        claim = (
            ClaimCode.objects.select_for_update()
            .filter(user=user, used_at__isnull=True)
            .order_by("-created_at", "-pk")
            .first()
        )
        if claim is None:
            raise ClaimCodeMissing(field="code")
        if claim.expires_at <= at:
            raise ClaimCodeExpired(field="code")
        if claim.attempts >= CLAIM_MAX_ATTEMPTS:
            raise ClaimTooManyAttempts(field="code")
        ClaimCode.objects.filter(pk=claim.pk).update(attempts=F("attempts") + 1)
        right = hmac.compare_digest(
            claim.code_hash, _code_hash(member_pk=claim.member_id, user_pk=user.pk, code=code)
        )
    # The attempt is committed above before a wrong code is reported.
    if not right:
        remaining = CLAIM_MAX_ATTEMPTS - claim.attempts - 1
        if remaining <= 0:
            raise ClaimTooManyAttempts(field="code")
        raise ClaimCodeWrong(field="code", remaining=remaining)
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=claim.member_id)
        used = ClaimCode.objects.filter(pk=claim.pk, used_at__isnull=True).update(used_at=at)
        if not used:
            raise ClaimCodeMissing(field="code")
        if member.user_id is not None or member.erased_at is not None:
            raise ClaimNotPossible()
        if Member.objects.filter(user=user).exists():
            raise AlreadyHasMembership()
        Member.objects.filter(pk=member.pk).update(user=user)
        member.user = user
        event_record(
            type="member.linked",
            member=member,
            payload={"via": "claim", "channel": claim.channel},
            at=at,
        )
    return member


# Profile and preferences --------------------------------------------------------------------


def member_profile_save(
    *,
    member: Member,
    first_name: str,
    last_name: str,
    birth_date: date | None,
    language: str,
    favourite_categories: list[str],
    marketing_email: bool,
    marketing_sms: bool,
    message_frequency: str,
    at: datetime | None = None,
) -> Member:
    """Save the portal's profile and preferences page: all of it or nothing.

    A consent is recorded (with time and source "portal") only for a channel that changed.
    """
    at = at or timezone.now()
    with transaction.atomic():
        _member_update(
            member=member,
            first_name=first_name,
            last_name=last_name,
            birth_date=birth_date,
            language=language,
        )
        for channel, granted, current in (
            (ConsentRecord.Channel.EMAIL, marketing_email, member.marketing_email),
            (ConsentRecord.Channel.SMS, marketing_sms, member.marketing_sms),
        ):
            if granted != current:
                member_consent_set(
                    member=member, channel=channel, granted=granted, source=Source.PORTAL, at=at
                )
        member_preferences_update(
            member=member,
            message_frequency=message_frequency,
            favourite_categories=favourite_categories,
        )
    return member


# The allauth adapter ------------------------------------------------------------------------


def portal_home_url() -> str:
    """Return the member's start page: the dashboard, or the profile page without it."""
    try:
        return reverse("portal:dashboard")
    except NoReverseMatch:
        return reverse("account:profile")


def language_cookie_set(response: HttpResponse, language: str) -> HttpResponse:
    """Remember ``language`` in the cookie LocaleMiddleware reads."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


class PortalAccountAdapter(DefaultAccountAdapter):
    """Tie allauth's sign-up, verification and login to members and their language."""

    def save_user(self, request: HttpRequest, user, form, commit: bool = True):
        if not commit:
            return super().save_user(request, user, form, commit=False)
        data = form.cleaned_data
        consents = PortalConsents(
            terms=bool(data.get("terms")),
            marketing_email=bool(data.get("marketing_email")),
            marketing_sms=bool(data.get("marketing_sms")),
        )
        language = data.get("language") or translation.get_language()
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=True)
            signup = {"user": user, "email": user.email, "language": language, "consents": consents}
            try:
                member = member_portal_signup(
                    **signup, referral_code=data.get("referral_code") or None
                )
            except errors.LoyaltyError as error:
                # The form checked the code; refused since (its owner suspended a moment
                # ago): the person still joins, without the referral.
                if error.field != "referral_code":
                    raise
                member = member_portal_signup(**signup)
        if member is None:
            # Kept until the address is verified; applied only if verified in this session.
            request.session[_PENDING_SIGNUP_KEY] = {
                "user": user.pk,
                "language": language,
                "consents": asdict(consents),
            }
        # The verification email and the next pages speak the language chosen on the form.
        translation.activate(language)
        request.LANGUAGE_CODE = language
        request.portal_signup_language = language
        return user

    def respond_email_verification_sent(self, request: HttpRequest, user):
        response = super().respond_email_verification_sent(request, user)
        language = getattr(request, "portal_signup_language", None)
        if language and hasattr(response, "set_cookie"):
            language_cookie_set(response, language)
        return response

    def confirm_email(self, request: HttpRequest, email_address) -> bool:
        confirmed = super().confirm_email(request, email_address)
        if not confirmed:
            return confirmed
        pending = request.session.get(_PENDING_SIGNUP_KEY) or {}
        if pending.get("user") != email_address.user_id:
            pending = {}
        try:
            member_portal_link_verified(
                user=email_address.user,
                email=email_address.email,
                consents=PortalConsents(**pending["consents"]) if pending else None,
                language=pending.get("language"),
            )
        except errors.LoyaltyError:
            # The address is verified either way; the login can still claim a membership.
            logger.exception("Linking the member of a verified email failed")
        request.session.pop(_PENDING_SIGNUP_KEY, None)
        return confirmed

    def post_login(self, request: HttpRequest, user, **kwargs) -> HttpResponse:
        language = Member.objects.filter(user=user).values_list("language", flat=True).first()
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = super().post_login(request, user, **kwargs)
        if language:
            language_cookie_set(response, language)
        return response

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return portal_home_url()

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return portal_home_url()

    def get_logout_redirect_url(self, request: HttpRequest) -> str:
        return reverse("account_login")

    def format_email_subject(self, subject: str) -> str:
        return f"[{program_get().name}] {subject}"
