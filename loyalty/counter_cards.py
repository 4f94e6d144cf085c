"""Tiers, VIP status and punch cards at the counter.

The member panel shows the member's tier (in its colour) with the progress messages, the
VIP badge with its end date, the benefits as readable chips, and every punch card the
member can collect here drawn as stamps, each with a one-tap **Stamp** button. A stamp by
hand goes through ``punch_card_stamp`` with a reason (prefilled, the cashier may change
it). The form's one-time token is claimed in the cache before stamping, so a double tap
or a resent form stamps once; with several web nodes the cache must be shared (Redis or
the database cache, ``CACHE_URL``) for that guard to hold across nodes.

After a purchase, a visit or a stamp, the panel shows the stamps given and the voucher of
any card that was completed. Stamping needs ``loyalty.add_stamp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import messages
from django.core.cache import cache
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loyalty import errors
from loyalty.counter_rewards import permission_required
from loyalty.forms import StampForm, form_token_new
from loyalty.models import Benefit, Location, PunchCard, PunchCardType, Purchase, Stamp
from loyalty.punch_cards import member_punch_cards, punch_card_stamp
from loyalty.tiers import member_benefits, tier_progress
from loyalty.views import _member_missing, _member_or_none, _panel, counter_view
from members.models import Member

#: How long a used stamp form token is remembered (a page left open longer gets a new one).
TOKEN_TTL = 24 * 60 * 60
_PENDING = "pending"


# --------------------------------------------------------------------------------------------
# What the member panel shows
# --------------------------------------------------------------------------------------------


@dataclass
class CardView:
    """A card type as the panel draws it: the collecting card's stamps and the Stamp form."""

    card_type: PunchCardType
    stamps: int = 0
    expires_at: datetime | None = None
    stampable: bool = True
    form: StampForm | None = None

    @property
    def needed(self) -> int:
        return self.card_type.stamps_needed

    @property
    def slots(self) -> list[bool]:
        """Return one entry per stamp on a full card: filled or empty."""
        return [i < self.stamps for i in range(self.needed)]


@dataclass
class StampOutcome:
    """What one purchase, visit or tap did to a card type: stamps given, vouchers issued."""

    card_type: PunchCardType
    given: int = 0
    stamps: int = 0
    vouchers: list = field(default_factory=list)


@dataclass(frozen=True)
class BenefitChip:
    code: str
    label: str


def stamp_prefix(card_type_pk: int) -> str:
    return f"stamp-{card_type_pk}"


def _new_stamp_form(card_type: PunchCardType) -> StampForm:
    return StampForm(
        prefix=stamp_prefix(card_type.pk),
        initial={"token": form_token_new(), "reason": StampForm.default_reason()},
    )


def _types_offered_at(location: Location):
    """Return the active card types whose stamps are given at ``location``."""
    return (
        PunchCardType.objects.filter(is_active=True)
        .filter(Q(locations__isnull=True) | Q(locations=location))
        .distinct()
    )


def member_cards(
    *,
    member: Member,
    location: Location,
    with_forms: bool,
    stamp_form: StampForm | None = None,
    at: datetime | None = None,
) -> list[CardView]:
    """Return the cards to draw: the types offered here and the member's collecting cards.

    Two queries, whatever the number of cards. A collecting card past its validity is drawn
    empty: the next stamp starts a new card.
    """
    at = at or timezone.now()
    offered = {t.pk: t for t in _types_offered_at(location).select_related("reward")}
    views: dict[int, CardView] = {pk: CardView(card_type=t) for pk, t in offered.items()}
    for card in member_punch_cards(member=member):
        view = views.setdefault(
            card.card_type_id, CardView(card_type=card.card_type, stampable=False)
        )
        if card.expires_at is None or card.expires_at > at:
            view.stamps, view.expires_at = card.stamps, card.expires_at
    ordered = sorted(
        views.values(), key=lambda v: (str(v.card_type.name).casefold(), v.card_type.pk)
    )
    if with_forms:
        for view in ordered:
            if not view.stampable:
                continue
            if stamp_form is not None and stamp_form.prefix == stamp_prefix(view.card_type.pk):
                view.form = stamp_form
            else:
                view.form = _new_stamp_form(view.card_type)
    return ordered


def _benefit_chips(codes: list[str]) -> list[BenefitChip]:
    """Return the codes with readable labels: the benefit's name, else the code spelled out."""
    if not codes:
        return []
    names = {b.code: b.name for b in Benefit.objects.filter(code__in=codes)}
    return [
        BenefitChip(code=code, label=names.get(code) or code.replace("_", " ").capitalize())
        for code in codes
    ]


def _outcomes(stamps, cards: list[CardView]) -> list[StampOutcome]:
    """Group stamp rows by card type; a card completed by one of them lists its voucher."""
    now_on_card = {v.card_type.pk: v.stamps for v in cards}
    outcomes: dict[int, StampOutcome] = {}
    for stamp in stamps:
        card = stamp.card
        outcome = outcomes.setdefault(
            card.card_type_id,
            StampOutcome(
                card_type=card.card_type,
                stamps=now_on_card.get(
                    card.card_type_id,
                    card.stamps if card.status == PunchCard.Status.ACTIVE else 0,
                ),
            ),
        )
        outcome.given += stamp.count
        # A card is completed in the same step as its last stamp, at the same time.
        if (
            card.status == PunchCard.Status.COMPLETED
            and card.voucher is not None
            and card.completed_at == stamp.created_at
            and card.voucher not in outcome.vouchers
        ):
            outcome.vouchers.append(card.voucher)
    return list(outcomes.values())


def stamp_outcomes(
    *,
    member: Member,
    cards: list[CardView],
    purchase: Purchase | None = None,
    visit_id: int | None = None,
    stamp_id: int | None = None,
) -> list[StampOutcome]:
    """Return what a purchase, a visit or one stamp by hand did to the member's cards."""
    qs = Stamp.objects.filter(card__member=member, count__gt=0)
    if purchase is not None:
        qs = qs.filter(purchase=purchase)
    elif visit_id is not None:
        qs = qs.filter(visit_id=visit_id)
    elif stamp_id is not None:
        qs = qs.filter(pk=stamp_id)
    else:
        return []
    rows = qs.select_related("card__card_type", "card__voucher__reward").order_by("pk")
    return _outcomes(rows, cards)


def panel_context(
    request: HttpRequest,
    member: Member,
    *,
    stamp_form: StampForm | None = None,
    result: Purchase | None = None,
    visit_id: int | None = None,
    stamp_id: int | None = None,
) -> dict:
    """Return what the member panel shows of tiers, VIP status, benefits and punch cards."""
    user = request.user
    now = timezone.now()
    context: dict = {
        "is_vip": member.is_vip(at=now),
        "benefits": _benefit_chips(member_benefits(member=member, as_of=now)),
    }
    if user.has_perm("loyalty.view_tier"):
        progress = tier_progress(member=member, as_of=now)
        if progress.tier is not None or progress.next_tier is not None:
            context["tier_progress"] = progress
    cards = member_cards(
        member=member,
        location=request.counter_location,
        with_forms=user.has_perm("loyalty.add_stamp"),
        stamp_form=stamp_form,
        at=now,
    )
    if user.has_perm("loyalty.view_punchcard") or user.has_perm("loyalty.add_stamp"):
        context["cards"] = cards
    if result is not None:
        context["result_stamps"] = stamp_outcomes(member=member, cards=cards, purchase=result)
    if visit_id is not None:
        context["visit_stamps"] = stamp_outcomes(member=member, cards=cards, visit_id=visit_id)
    if stamp_id is not None:
        context["stamped"] = stamp_outcomes(member=member, cards=cards, stamp_id=stamp_id)
    return context


# --------------------------------------------------------------------------------------------
# Stamp a card by hand
# --------------------------------------------------------------------------------------------


def _token_key(request: HttpRequest, token: str) -> str:
    return f"counter:stamp:{request.user.pk}:{token}"


def _stamp_row(result, actor) -> Stamp | None:
    """Return the stamp row that a one-stamp ``punch_card_stamp`` call wrote."""
    card = (
        PunchCard.objects.filter(voucher=result.vouchers[0]).first()
        if result.vouchers
        else result.card
    )
    return (
        Stamp.objects.filter(card=card, source=Stamp.Source.MANUAL, actor=actor)
        .order_by("-pk")
        .first()
    )


def _after_stamp_url(member: Member, stamp_pk) -> str:
    url = reverse("counter:member", args=[member.pk])
    return f"{url}?stamp={stamp_pk}" if isinstance(stamp_pk, int) else url


@counter_view
@permission_required("loyalty.add_stamp")
@require_POST
def stamp(request: HttpRequest, pk: int, card_type_pk: int) -> HttpResponse:
    """Add one stamp to the member's card; a second send of the same form stamps nothing."""
    member = _member_or_none(pk)
    if member is None:
        return _member_missing(request)
    card_type = _types_offered_at(request.counter_location).filter(pk=card_type_pk).first()
    if card_type is None:
        messages.error(request, _("This card is not stamped at this location."))
        return redirect("counter:member", pk=member.pk)
    form = StampForm(request.POST, prefix=stamp_prefix(card_type.pk))
    if not form.is_valid():
        return _panel(request, member, stamp_form=form, status=400)
    key = _token_key(request, form.cleaned_data["token"])
    if not cache.add(key, _PENDING, TOKEN_TTL):
        messages.info(request, _("This stamp was already given; nothing more was added."))
        return redirect(_after_stamp_url(member, cache.get(key)))
    try:
        result = punch_card_stamp(
            member=member,
            card_type=card_type,
            count=1,
            source=Stamp.Source.MANUAL,
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
    except errors.LoyaltyError as err:
        # Nothing was written: the same form may be sent again once the problem is fixed.
        cache.delete(key)
        form.add_loyalty_error(err)
        return _panel(request, member, stamp_form=form, status=400)
    except BaseException:
        cache.delete(key)
        raise
    row = _stamp_row(result, request.user)
    cache.set(key, row.pk if row else None, TOKEN_TTL)
    if result.vouchers:
        messages.success(
            request,
            _("%(card)s is full: voucher %(code)s issued.")
            % {"card": card_type.name, "code": result.vouchers[0].formatted_code},
        )
    else:
        messages.success(
            request,
            _("Stamp added to %(card)s: %(stamps)s of %(needed)s.")
            % {
                "card": card_type.name,
                "stamps": result.card.stamps,
                "needed": card_type.stamps_needed,
            },
        )
    return redirect(_after_stamp_url(member, row.pk if row else None))
