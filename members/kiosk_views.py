"""The tablet kiosk by the door: a customer types a phone number and checks in.

Staff open ``/kiosk/<location code>/?token=<kiosk token>`` once on the tablet. That stores
the location in a signed, long-lived cookie bound to the token, so rotating the token
(``manage.py kiosk_token <code>``) or clearing it retires every tablet opened with the old
one. Without a valid cookie the kiosk shows "This kiosk is not set up" and nothing else.

The screens show only the member's first name and counts (stamps, points), never a full
name, phone number, email or history. The outcome of a check-in travels to the thank-you
screen in the session and is shown once, so the next customer never sees it.
"""

from __future__ import annotations

import re
import secrets
from functools import wraps

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from loyalty import errors
from loyalty.models import Location, Source
from loyalty.punch_cards import member_punch_cards
from loyalty.selectors import program_get
from members.kiosk_forms import KioskEnrolForm, KioskPhoneForm, phone_after_key
from members.models import ConsentRecord, Member
from members.services import kiosk_check_in, member_consent_set, member_enroll

COOKIE = "kiosk"
COOKIE_SALT = "members.kiosk.location"
COOKIE_MAX_AGE = 400 * 24 * 60 * 60  # the longest lifetime browsers keep a cookie
RESULT_KEY = "kiosk_result"
# Seconds before a screen goes back to the empty keypad by itself.
THANKS_SECONDS = 8
COOLDOWN_SECONDS = 6
FORM_IDLE_SECONDS = 90
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def _token_fingerprint(token: str) -> str:
    return salted_hmac("members.kiosk.token", token).hexdigest()[:32]


def kiosk_location(request: HttpRequest) -> Location | None:
    """Return the location this tablet was opened for, or None if its kiosk is not set up."""
    raw = request.get_signed_cookie(COOKIE, default=None, salt=COOKIE_SALT, max_age=COOKIE_MAX_AGE)
    if not raw or ":" not in raw:
        return None
    pk, fingerprint = raw.split(":", 1)
    if not pk.isdigit():
        return None
    location = Location.objects.filter(pk=int(pk), is_active=True).first()
    if location is None or not location.kiosk_token:
        return None
    if not secrets.compare_digest(_token_fingerprint(location.kiosk_token), fingerprint):
        return None
    return location


def _not_set_up(request: HttpRequest) -> HttpResponse:
    return render(request, "members/kiosk/not_set_up.html", _context(location=None), status=403)


def kiosk_required(view):
    """Serve the view only on a tablet opened with its location's current kiosk token."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        location = kiosk_location(request)
        if location is None:
            return _not_set_up(request)
        request.kiosk_location = location
        return view(request, *args, **kwargs)

    return never_cache(wrapped)


def _context(*, location: Location | None, **extra) -> dict:
    program = program_get()
    colour = program.primary_colour if _COLOUR.fullmatch(program.primary_colour or "") else None
    return {"program": program, "brand_colour": colour, "location": location, **extra}


@never_cache
@require_GET
def kiosk_open(request: HttpRequest, code: str) -> HttpResponse:
    """Set this tablet up as the kiosk of a location, given the location's kiosk token."""
    token = request.GET.get("token", "")
    location = Location.objects.filter(code=code, is_active=True).first()
    expected = location.kiosk_token if location is not None else ""
    # Compare even when there is nothing to compare with, so a miss takes as long as a hit.
    matches = secrets.compare_digest(
        (expected or secrets.token_urlsafe(32)).encode(), token.encode()
    )
    if location is None or not expected or not token or not matches:
        response = _not_set_up(request)
        response.delete_cookie(COOKIE)
        return response
    response = redirect("kiosk:home")
    response.set_signed_cookie(
        COOKIE,
        f"{location.pk}:{_token_fingerprint(expected)}",
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    # The tablet may have shown a previous customer's result before it was reopened.
    request.session.pop(RESULT_KEY, None)
    return response


@kiosk_required
@require_http_methods(["GET", "POST"])
def kiosk_home(request: HttpRequest) -> HttpResponse:
    """Show the keypad; on "Check in", check the member in (or offer to enrol them)."""
    location = request.kiosk_location
    if request.method == "GET":
        return _keypad(request, KioskPhoneForm())
    key = request.POST.get("key")
    if key:
        # The keypad without JavaScript: each key sends the form and comes back one digit on.
        phone = phone_after_key(request.POST.get("phone", ""), key)
        return _keypad(request, KioskPhoneForm(initial={"phone": phone}), idle=bool(phone))
    form = KioskPhoneForm(request.POST)
    if not form.is_valid():
        return _keypad(request, form, status=400, idle=True)
    phone = form.cleaned_data["phone"]
    try:
        result = kiosk_check_in(location=location, phone=phone)
    except errors.MemberNotFound:
        enrol = KioskEnrolForm(initial={"phone": phone})
        return _enrol_page(request, enrol)
    except errors.LoyaltyError as error:
        form.add_error("phone", error.detail)
        return _keypad(request, form, status=error.status, idle=True)
    _remember(request, result=result, joined=False)
    return redirect("kiosk:done")


def _keypad(
    request: HttpRequest, form: KioskPhoneForm, *, status: int = 200, idle: bool = False
) -> HttpResponse:
    keys = [str(n) for n in range(1, 10)]
    return render(
        request,
        "members/kiosk/keypad.html",
        _context(
            location=request.kiosk_location,
            form=form,
            keys=keys,
            refresh_seconds=FORM_IDLE_SECONDS if idle else None,
        ),
        status=status,
    )


def _enrol_page(request: HttpRequest, form: KioskEnrolForm, *, status: int = 200) -> HttpResponse:
    return render(
        request,
        "members/kiosk/enrol.html",
        _context(location=request.kiosk_location, form=form, refresh_seconds=FORM_IDLE_SECONDS),
        status=status,
    )


@kiosk_required
@require_http_methods(["GET", "POST"])
def kiosk_enrol(request: HttpRequest) -> HttpResponse:
    """Enrol a new member from the kiosk with their consents, then check them in."""
    if request.method == "GET":
        return redirect("kiosk:home")
    location = request.kiosk_location
    form = KioskEnrolForm(request.POST)
    if not form.is_valid():
        return _enrol_page(request, form, status=400)
    data = form.cleaned_data
    try:
        # One transaction: a member is never left enrolled without the consents or the visit.
        with transaction.atomic():
            member = member_enroll(
                phone=data["phone"],
                first_name=data["first_name"],
                language=_language(),
                location=location,
                via=Source.KIOSK,
                referral_code=data["referral_code"] or None,
            )
            member_consent_set(
                member=member,
                channel=ConsentRecord.Channel.TERMS,
                granted=True,
                source=Source.KIOSK,
            )
            member_consent_set(
                member=member,
                channel=ConsentRecord.Channel.SMS,
                granted=bool(data["marketing_sms"]),
                source=Source.KIOSK,
            )
            result = kiosk_check_in(location=location, phone=member.phone)
    except errors.LoyaltyError as error:
        field = error.field if error.field in form.fields else None
        form.add_error(field, error.detail)
        return _enrol_page(request, form, status=error.status)
    _remember(request, result=result, joined=True)
    return redirect("kiosk:done")


def _language() -> str | None:
    codes = {code for code, _name in settings.LANGUAGES}
    language = get_language()
    return language if language in codes else None


def _remember(request: HttpRequest, *, result, joined: bool) -> None:
    """Keep what the thank-you screen shows: ids and counts only, nothing personal."""
    stamped: dict[str, int] = {}
    completed: list[str] = []
    if result.visit is not None:
        for outcome in getattr(result.visit, "stamp_results", ()):
            if outcome.card is None:
                continue
            type_id = str(outcome.card.card_type_id)
            stamped[type_id] = stamped.get(type_id, 0) + outcome.given
            completed.extend(
                str(voucher.reward.name) for voucher in outcome.vouchers if voucher.reward_id
            )
    request.session[RESULT_KEY] = {
        "member": result.member.pk,
        "location": request.kiosk_location.pk,
        "cooling_down": result.cooling_down,
        "joined": joined,
        "points": result.visit.points_awarded if result.visit is not None else 0,
        "stamped": stamped,
        "completed": completed,
    }


def _columns(slots: int) -> int:
    """Return how many stamps go in a row: rows of at most six, as even as possible."""
    rows = max(1, -(-slots // 6))
    return max(1, -(-slots // rows))


@kiosk_required
@require_GET
def kiosk_done(request: HttpRequest) -> HttpResponse:
    """Show the outcome of the last check-in once, then go back to the keypad by itself."""
    outcome = request.session.pop(RESULT_KEY, None)
    if not outcome or outcome.get("location") != request.kiosk_location.pk:
        return redirect("kiosk:home")
    if outcome["cooling_down"]:
        return render(
            request,
            "members/kiosk/cooldown.html",
            _context(location=request.kiosk_location, refresh_seconds=COOLDOWN_SECONDS),
        )
    member = Member.objects.only("pk", "first_name", "balance").filter(pk=outcome["member"]).first()
    if member is None:
        return redirect("kiosk:home")
    stamped = outcome.get("stamped", {})
    cards = []
    for card in member_punch_cards(member=member):
        needed = card.card_type.stamps_needed
        given = min(stamped.get(str(card.card_type_id), 0), card.stamps)
        cards.append(
            {
                "card": card,
                "slots": [
                    "new" if card.stamps - given <= slot < card.stamps else slot < card.stamps
                    for slot in range(needed)
                ],
                "given": given,
                "columns": _columns(needed),
            }
        )
    return render(
        request,
        "members/kiosk/thanks.html",
        _context(
            location=request.kiosk_location,
            first_name=member.first_name,
            balance=member.balance,
            points=outcome.get("points", 0),
            joined=outcome.get("joined", False),
            cards=cards,
            completed=outcome.get("completed", []),
            refresh_seconds=THANKS_SECONDS,
            home_url=reverse("kiosk:home"),
        ),
    )
