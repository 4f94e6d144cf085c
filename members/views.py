"""The member portal: what a customer sees of their own membership, on their phone.

Pages: the dashboard, the membership card (installable, works offline once loaded), the
rewards catalogue with redemption, the member's vouchers and the points history. Every page
needs a signed-in user linked to a member; every object in a URL is looked up among that
member's own rows, so another member's voucher or purchase is a 404, never a peek. The
views are thin: reads come from selectors, the one write (redeeming) from ``reward_redeem``
with a one-time token as its idempotency key. Each page runs a small, constant number of
queries, whatever the length of the member's history.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.contrib.staticfiles import finders
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.i18n import LANGUAGE_QUERY_PARAMETER
from django.views.i18n import set_language as django_set_language

from loyalty import errors
from loyalty.forms import OneTimeTokenForm, form_token_new
from loyalty.models import Program
from loyalty.punch_cards import member_punch_cards
from loyalty.selectors import (
    member_expiring_soon,
    member_expiry_schedule,
    member_next_release,
    program_get,
)
from loyalty.tiers import tier_progress
from members.models import Member
from members.selectors import (
    member_benefits_shown,
    member_for_user,
    member_history,
    member_purchase,
)
from members.services import member_update
from rewards.codes import qr_svg, voucher_code_normalize
from rewards.models import Reward, Voucher
from rewards.selectors import (
    catalogue,
    member_vouchers,
    member_vouchers_usable,
    rewards_available_for,
)
from rewards.services import reward_redeem

ACTIVITY_LENGTH = 5
HISTORY_PAGE = 25
VOUCHERS_SHOWN = 50
CLAIM_PATH = "/account/claim/"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _qr(data: str, *, scale: int) -> str:
    """Return the QR code as inline SVG that scales with the width CSS gives it."""
    return qr_svg(data, scale=scale)


# --------------------------------------------------------------------------------------------
# Access
# --------------------------------------------------------------------------------------------


def _claim_url() -> str:
    try:
        return reverse("account:claim")
    except NoReverseMatch:
        return CLAIM_PATH


def member_view(view):
    """Require a signed-in user linked to a member; put the member on ``request.member``.

    Anonymous visitors go to the sign-in page (``?next=`` brings them back). A user without
    a membership yet is sent to claim one (a member enrolled at the till links it there);
    staff without a membership go to the counter page.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("account_login"))
        member = member_for_user(user=request.user)
        if member is None and request.user.is_staff:
            # Staff open the site root on the till's tablet: their page is the counter.
            return redirect("counter:home")
        if member is None:
            claim = _claim_url()
            if claim != CLAIM_PATH:
                return redirect(claim)
            return render(request, "members/portal/no_member.html", {"claim_url": claim})
        request.member = member
        return view(request, *args, **kwargs)

    return wrapped


def _page(request: HttpRequest, template: str, context: dict, *, status: int = 200):
    """Render a portal page with the programme and the active navigation item."""
    program = context.get("program") or program_get()
    colour = program.primary_colour if _COLOUR.fullmatch(program.primary_colour or "") else None
    return render(
        request,
        template,
        {"program": program, "brand_colour": colour, "member": request.member, **context},
        status=status,
    )


def _entry_label(entry) -> str:
    """Return an entry's reason as a member should read it.

    A purchase recorded at the counter without a receipt number is keyed by the form's
    random token, which means nothing to people; name it by its number instead.
    """
    purchase = entry.purchase
    if purchase is not None and (purchase.external_id or "").startswith("counter:"):
        return entry.reason.replace(purchase.external_id, f"#{purchase.pk}")
    return entry.reason or entry.get_kind_display()


# --------------------------------------------------------------------------------------------
# Language
# --------------------------------------------------------------------------------------------


def language_set(request: HttpRequest) -> HttpResponse:
    """Switch the language like Django's ``set_language``; a signed-in member keeps it.

    The footer switcher posts here. The member's language is what emails and SMS go out in
    and what signing in restores, so it follows the switch. The kiosk is left out: it is a
    shared tablet, and a customer changing its language there changes no one's membership.
    """
    response = django_set_language(request)
    if request.method != "POST" or not request.user.is_authenticated:
        return response
    if (request.POST.get("next") or "").startswith(reverse("kiosk:home")):
        return response
    try:
        language = translation.get_supported_language_variant(
            request.POST.get(LANGUAGE_QUERY_PARAMETER) or ""
        )
    except LookupError:
        return response
    member = member_for_user(user=request.user)
    if member is not None and member.language != language:
        # Should the stored choice be refused, the switch of the page itself still stands.
        with suppress(errors.LoyaltyError):
            member_update(member=member, language=language)
    return response


# --------------------------------------------------------------------------------------------
# Dashboard
# --------------------------------------------------------------------------------------------


@member_view
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Show the balance, pending and expiring points, tier, VIP, cards and latest activity."""
    member: Member = request.member
    now = timezone.now()
    program = program_get()
    progress = tier_progress(member=member, as_of=now)
    percent = 100
    if progress.next_tier is not None and progress.next_tier.threshold > 0:
        percent = int(min(progress.value / progress.next_tier.threshold, 1) * 100)
    punch_cards = member_punch_cards(member=member)
    prefetch_related_objects(punch_cards, "card_type__reward")
    cards = [
        {
            "card": card,
            "slots": [i < card.stamps for i in range(card.card_type.stamps_needed)],
            "left": max(card.card_type.stamps_needed - card.stamps, 0),
        }
        for card in punch_cards
    ]
    activity = member_history(member=member, limit=ACTIVITY_LENGTH)[:ACTIVITY_LENGTH]
    for entry in activity:
        entry.label = _entry_label(entry)
    return _page(
        request,
        "members/portal/dashboard.html",
        {
            "program": program,
            "nav": "dashboard",
            "expiring": member_expiring_soon(member=member, as_of=now),
            "expiry_schedule": member_expiry_schedule(member=member, as_of=now),
            "expiring_days": settings.LOYALTY_EXPIRING_SOON_DAYS,
            "next_release": member_next_release(member=member) if member.pending else None,
            "progress": progress,
            "progress_percent": percent,
            "is_vip": member.is_vip(at=now),
            "benefits": member_benefits_shown(member=member, as_of=now),
            "cards": cards,
            "activity": activity,
            "vouchers_usable": member_vouchers_usable(member=member, as_of=now).count(),
        },
    )


# --------------------------------------------------------------------------------------------
# Membership card, installable and offline
# --------------------------------------------------------------------------------------------


@member_view
@require_GET
def card(request: HttpRequest) -> HttpResponse:
    """Show the QR code and card number, large enough to scan at the till."""
    member: Member = request.member
    return _page(
        request,
        "members/portal/card.html",
        {"nav": "card", "qr": _qr(member.qr_token, scale=8)},
    )


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """Return the web app manifest: the programme's name and colour, opening on the card."""
    program: Program = program_get()
    colour = program.primary_colour if _COLOUR.fullmatch(program.primary_colour or "") else None
    data = {
        "name": program.name,
        "short_name": program.name[:12],
        "start_url": reverse("portal:card"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": colour or "#0b5cad",
        "icons": [
            {"src": static("img/portal-icon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {
                "src": static("img/portal-icon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "maskable",
            },
        ],
    }
    return HttpResponse(json.dumps(data), content_type="application/manifest+json")


@never_cache
@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """Serve the portal's service worker from the site root, so it may cache ``/card/``."""
    path = finders.find("js/portal-sw.js")
    if not path:
        raise Http404
    with open(path, encoding="utf-8") as fh:
        body = fh.read()
    response = HttpResponse(body, content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


# --------------------------------------------------------------------------------------------
# Rewards catalogue and redemption
# --------------------------------------------------------------------------------------------


class PortalRedeemForm(OneTimeTokenForm):
    """The confirmation of a redemption: only the one-time token (the idempotency key)."""

    def idempotency_key(self) -> str:
        return f"portal:{self.cleaned_data['token']}"


@member_view
@require_GET
def rewards(request: HttpRequest) -> HttpResponse:
    """List the catalogue as this member sees it, filtered by kind and affordability."""
    member: Member = request.member
    options = rewards_available_for(member=member)
    kinds = dict(Reward.Kind.choices)
    present = sorted({o.reward.kind for o in options}, key=lambda k: str(kinds.get(k, k)))
    kind = request.GET.get("kind", "")
    if kind not in present:
        kind = ""
    affordable = request.GET.get("affordable") == "1"
    shown = [
        o
        for o in options
        if (not kind or o.reward.kind == kind) and (not affordable or o.available)
    ]
    return _page(
        request,
        "members/portal/rewards.html",
        {
            "nav": "rewards",
            "options": shown,
            "total": len(options),
            "kinds": [(k, kinds.get(k, k)) for k in present],
            "kind": kind,
            "affordable": affordable,
        },
    )


@member_view
@require_http_methods(["GET", "POST"])
def redeem(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask to confirm a redemption, then redeem once, however often the form is sent."""
    member: Member = request.member
    reward = catalogue().filter(pk=pk).first()
    if reward is None:
        raise Http404
    status = 200
    if request.method == "POST":
        form = PortalRedeemForm(request.POST)
        if form.is_valid():
            key = form.idempotency_key()
            again = Voucher.objects.filter(member=member, idempotency_key=key).exists()
            try:
                # No actor: the member acts for themselves. Actors are staff users, kept for
                # the audit; the member's own login may be deleted when they leave.
                voucher = reward_redeem(member=member, reward=reward, idempotency_key=key)
            except errors.LoyaltyError as err:
                form.add_loyalty_error(err)
            else:
                if again:
                    messages.info(
                        request, _("This reward was already redeemed; nothing more was spent.")
                    )
                else:
                    messages.success(
                        request,
                        _("You redeemed %(reward)s. Show this voucher at the till.")
                        % {"reward": reward.name},
                    )
                return redirect("portal:voucher", code=voucher.code)
        status = 400
    else:
        form = PortalRedeemForm(initial={"token": form_token_new()})
    option = next(
        (o for o in rewards_available_for(member=member) if o.reward.pk == reward.pk), None
    )
    cost = reward.points_cost or 0
    return _page(
        request,
        "members/portal/redeem.html",
        {
            "nav": "rewards",
            "reward": reward,
            "reasons": option.reasons if option else [_("Not available")],
            "balance_after": member.balance - cost,
            "form": form,
        },
        status=status,
    )


# --------------------------------------------------------------------------------------------
# Vouchers
# --------------------------------------------------------------------------------------------

TABS = ("active", "used", "expired")


@member_view
@require_GET
def vouchers(request: HttpRequest) -> HttpResponse:
    """List the member's vouchers: active (with QR codes), used, or expired and cancelled."""
    member: Member = request.member
    tab = request.GET.get("tab", "active")
    if tab not in TABS:
        tab = "active"
    now = timezone.now()
    if tab == "active":
        qs = member_vouchers_usable(member=member, as_of=now)
    elif tab == "used":
        qs = member_vouchers(member=member, status=Voucher.Status.USED)
    else:
        qs = (
            member_vouchers(member=member)
            .exclude(status=Voucher.Status.USED)
            .exclude(status=Voucher.Status.ISSUED, expires_at__isnull=True)
            .exclude(status=Voucher.Status.ISSUED, expires_at__gt=now)
        )
    items = list(qs[:VOUCHERS_SHOWN])
    if tab == "active":
        for voucher in items:
            voucher.qr = _qr(voucher.code, scale=4)
    return _page(
        request,
        "members/portal/vouchers.html",
        {
            "nav": "vouchers",
            "tab": tab,
            "tabs": [
                ("active", _("Active")),
                ("used", _("Used")),
                ("expired", _("Expired")),
            ],
            "vouchers": items,
            "now": now,
        },
    )


@member_view
@require_GET
def voucher(request: HttpRequest, code: str) -> HttpResponse:
    """Show one of the member's vouchers: the code large, its QR code, expiry and value left."""
    member: Member = request.member
    voucher = (
        Voucher.objects.select_related("reward", "reward__partner", "used_location")
        .filter(member=member, code=voucher_code_normalize(code))
        .first()
    )
    if voucher is None:
        raise Http404
    now = timezone.now()
    usable = voucher.is_usable(at=now)
    digital = None
    if usable and voucher.reward.kind == Reward.Kind.DIGITAL:
        digital = getattr(voucher, "digital_code", None)
    return _page(
        request,
        "members/portal/voucher.html",
        {
            "nav": "vouchers",
            "voucher": voucher,
            "usable": usable,
            "expired": voucher.status == Voucher.Status.EXPIRED
            or (
                voucher.status == Voucher.Status.ISSUED
                and voucher.expires_at is not None
                and voucher.expires_at <= now
            ),
            "qr": _qr(voucher.code, scale=8) if usable else "",
            "digital": digital,
        },
    )


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


@member_view
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Show the points history, newest first, one keyset page at a time (``?before=<id>``)."""
    member: Member = request.member
    before = request.GET.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 19 else None
    entries = member_history(member=member, before=before_id, limit=HISTORY_PAGE)
    older = None
    if len(entries) > HISTORY_PAGE:
        entries = entries[:HISTORY_PAGE]
        older = entries[-1].pk
    for entry in entries:
        entry.label = _entry_label(entry)
    return _page(
        request,
        "members/portal/history.html",
        {"nav": "history", "entries": entries, "older": older, "paged": before_id is not None},
    )


@member_view
@require_GET
def purchase(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one of the member's purchases: where, when, what, and the points it earned."""
    member: Member = request.member
    found = member_purchase(member=member, pk=pk)
    if found is None:
        raise Http404
    receipt = found.external_id
    if (receipt or "").startswith("counter:"):
        receipt = ""
    return _page(
        request,
        "members/portal/purchase.html",
        {"nav": "history", "purchase": found, "receipt": receipt},
    )
