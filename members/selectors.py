"""Reads about members shared by the admin, the counter page, the portal and the API."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.functions import Upper

from loyalty import errors
from loyalty.selectors import program_get
from members.identifiers import (
    card_number_is_valid,
    card_number_normalize,
    phone_looks_like,
    phone_normalize,
)
from members.models import Member


def member_identify(*, identifier: str) -> Member:
    """Return the member with this phone, card number, email or QR token.

    Phones are matched in any common notation (normalised to E.164 with the programme's
    default country). Raises ``MemberNotFound`` when nothing matches.
    """
    text = (identifier or "").strip()
    if not text or len(text) > 254:
        raise errors.MemberNotFound()
    qs = Member.objects.all()
    if "@" in text:
        member = qs.filter(email=text.lower()).first()
    else:
        member = None
        if card_number_is_valid(text):
            member = qs.filter(card_number=card_number_normalize(text)).first()
        if member is None and phone_looks_like(text):
            try:
                phone = phone_normalize(text, region=program_get().default_country)
            except errors.InvalidPhone:
                phone = None
            if phone:
                member = qs.filter(phone=phone).first()
        if member is None:
            member = qs.filter(qr_token=text).first()
    if member is None:
        raise errors.MemberNotFound()
    return member


def members_search(*, query: str, limit: int = 20) -> QuerySet[Member]:
    """Return members matching a counter search: an identifier, or a last-name prefix.

    Every branch uses an index: identifiers are exact matches, names a prefix of the
    upper-cased last name.
    """
    text = (query or "").strip()
    if not text:
        return Member.objects.none()
    try:
        member = member_identify(identifier=text)
    except errors.MemberNotFound:
        member = None
    if member is not None:
        return Member.objects.filter(pk=member.pk)
    return (
        Member.objects.annotate(last_upper=Upper("last_name"))
        .filter(last_upper__startswith=text.upper())
        .order_by("last_upper", "first_name", "pk")[:limit]
    )


def members_matching(*, query: str, queryset: QuerySet[Member] | None = None) -> QuerySet[Member]:
    """Return ``queryset`` narrowed to an identifier match, else to a last-name prefix.

    The unsliced sibling of ``members_search`` for lists that paginate and filter further
    (the admin changelist and its autocomplete). Both branches use an index.
    """
    qs = Member.objects.all() if queryset is None else queryset
    text = (query or "").strip()
    if not text:
        return qs.none()
    try:
        member = member_identify(identifier=text)
    except errors.MemberNotFound:
        return qs.annotate(last_upper=Upper("last_name")).filter(
            last_upper__startswith=text.upper()
        )
    return qs.filter(pk=member.pk)


# --------------------------------------------------------------------------------------------
# Member portal reads: always within the member's own rows
# --------------------------------------------------------------------------------------------


def member_for_user(*, user) -> Member | None:
    """Return the member linked to a signed-in user (with the tier), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Member.objects.select_related("tier")
        .filter(user=user, is_active=True, erased_at__isnull=True)
        .first()
    )


def member_benefits_shown(*, member: Member, as_of=None) -> list:
    """Return the benefits the member enjoys now, by name: tier benefits, then VIP ones.

    One query whatever the number of tiers and benefits.
    """
    from django.db.models import Q
    from django.utils import timezone

    from loyalty.models import Benefit

    as_of = as_of or timezone.now()
    conditions = []
    if member.tier_id:
        conditions.append(Q(tiers__pk=member.tier_id))
    if member.is_vip(at=as_of):
        conditions.append(Q(for_vip=True))
    if not conditions:
        return []
    condition = conditions[0] if len(conditions) == 1 else conditions[0] | conditions[1]
    return list(Benefit.objects.filter(condition).distinct().order_by("for_vip", "name"))


def member_history(*, member: Member, before: int | None = None, limit: int = 25) -> list:
    """Return up to ``limit`` + 1 of the member's ledger entries older than entry ``before``.

    Keyset pagination on the entry id (newest first): one indexed query per page, however
    long the history. The extra row tells the caller whether an older page exists.
    """
    from loyalty.models import LedgerEntry

    qs = LedgerEntry.objects.filter(member=member)
    if before is not None:
        qs = qs.filter(id__lt=before)
    return list(
        qs.select_related("purchase", "purchase__location", "visit", "visit__location").order_by(
            "-id"
        )[: limit + 1]
    )


def member_purchase(*, member: Member, pk: int):
    """Return the member's own purchase ``pk`` with its location and lines, or None."""
    from loyalty.models import Purchase

    return (
        Purchase.objects.select_related("location")
        .prefetch_related("lines")
        .filter(member=member, pk=pk)
        .first()
    )
