"""The staff counter page: a fast page for a tablet at the till, outside the admin.

Staff find a member (phone, card number, email, scanned QR code or last name), see the
balance and what expires soon, record a purchase or a visit, and enrol new members. The
views are thin: they shape the input with the forms in ``loyalty.forms``, call one service,
and turn every ``LoyaltyError`` into a message next to the field it concerns. Searches are
posted rather than put in the URL, so phone numbers and QR tokens stay out of access logs
and browser history.
"""

from __future__ import annotations

from decimal import Decimal
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty import errors
from loyalty.formatting import money
from loyalty.forms import (
    EnrolForm,
    LocationForm,
    PurchaseForm,
    SearchForm,
    form_token_new,
)
from loyalty.models import Location, Purchase, Source
from loyalty.selectors import (
    locations_for_staff,
    member_expiring_soon,
    member_next_release,
    member_timeline,
    program_get,
)
from loyalty.services import clean_amount, purchase_quote, purchase_record, visit_record
from members.identifiers import phone_looks_like
from members.models import Member
from members.selectors import members_search
from members.services import member_enroll

SESSION_LOCATION = "counter_location_id"
SESSION_PREFILL = "counter_enrol_prefill"
TIMELINE_LENGTH = 8


# --------------------------------------------------------------------------------------------
# Access and location
# --------------------------------------------------------------------------------------------


def _current_location(request: HttpRequest) -> Location | None:
    """Return the location chosen in this session; choose it when the user has only one."""
    locations = locations_for_staff(user=request.user)
    chosen = request.session.get(SESSION_LOCATION)
    if chosen is not None:
        location = locations.filter(pk=chosen).first()
        if location is not None:
            return location
        # The user was taken off that location (or it was closed) since it was chosen.
        del request.session[SESSION_LOCATION]
    only = list(locations[:2])
    if len(only) == 1:
        request.session[SESSION_LOCATION] = only[0].pk
        return only[0]
    return None


def counter_view(view):
    """Require a logged-in user with ``members.use_counter`` and a chosen location.

    Anonymous users go to the admin login (``?next=`` brings them back); staff without the
    permission get 403. The location is put on ``request.counter_location``.
    """

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm("members.use_counter"):
            raise PermissionDenied
        location = _current_location(request)
        if location is None:
            return redirect(f"{reverse('counter:location')}?{urlencode({'next': request.path})}")
        request.counter_location = location
        return view(request, *args, **kwargs)

    return wrapped


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
@require_http_methods(["GET", "POST"])
def location_choose(request: HttpRequest) -> HttpResponse:
    """Let staff pick the location they work at today; remembered for the session."""
    if not request.user.has_perm("members.use_counter"):
        raise PermissionDenied
    locations = locations_for_staff(user=request.user)
    form = LocationForm(
        request.POST or None,
        locations=locations,
        initial={"location": request.session.get(SESSION_LOCATION)},
    )
    if request.method == "POST" and form.is_valid():
        location = form.cleaned_data["location"]
        request.session[SESSION_LOCATION] = location.pk
        messages.success(
            request, _("You are working at %(location)s.") % {"location": location.name}
        )
        return redirect(_safe_next(request, reverse("counter:home")))
    return render(
        request,
        "counter/location.html",
        {
            "form": form,
            "has_locations": locations.exists(),
            "next": _safe_next(request, ""),
        },
    )


# --------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------


def _enrol_prefill(text: str) -> dict[str, str]:
    if "@" in text:
        return {"email": text}
    if phone_looks_like(text):
        return {"phone": text}
    return {}


@counter_view
@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    """Show the search field; on a search, open the one match or list the matches."""
    form = SearchForm(request.POST or None)
    form.focus("q")
    context = {"search_form": form, "location": request.counter_location}
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["q"]
        found = list(members_search(query=text))
        if len(found) == 1:
            return redirect("counter:member", pk=found[0].pk)
        context["results"] = found
        if not found:
            prefill = _enrol_prefill(text)
            request.session[SESSION_PREFILL] = prefill
            context["prefill"] = prefill
            context["not_found"] = True
    return render(request, "counter/home.html", context)


# --------------------------------------------------------------------------------------------
# Member panel, purchases and visits
# --------------------------------------------------------------------------------------------


def _member_or_none(pk: int) -> Member | None:
    return Member.objects.filter(pk=pk).first()


def _member_missing(request: HttpRequest) -> HttpResponse:
    messages.error(request, errors.MemberNotFound().detail)
    return redirect("counter:home")


def _panel(
    request: HttpRequest,
    member: Member,
    *,
    purchase_form: PurchaseForm | None = None,
    quote=None,
    quote_total: Decimal | None = None,
    result: Purchase | None = None,
    pay_form=None,
    pay_quote=None,
    stamp_form=None,
    visit_id: int | None = None,
    stamp_id: int | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the member panel with a constant number of queries, whatever the history."""
    # Imported here: the rewards and cards views build on this module's access checks and panel.
    from loyalty.counter_cards import panel_context as cards_context
    from loyalty.counter_rewards import panel_context

    program = program_get()
    if purchase_form is None:
        purchase_form = PurchaseForm(initial={"token": form_token_new()})
    search_form = SearchForm()
    # After a purchase, a visit or a stamp the next customer is usually waiting: put the
    # cursor in the search.
    if result is not None or visit_id is not None or stamp_id is not None:
        search_form.focus("q")
    elif stamp_form is not None and stamp_form.errors:
        stamp_form.focus("reason")
    elif pay_form is not None and pay_form.errors:
        pay_form.focus()
    elif pay_quote is None:
        purchase_form.focus("amount")
    context = {
        "program": program,
        "location": request.counter_location,
        "member": member,
        "search_form": search_form,
        "purchase_form": purchase_form,
        "expiring": member_expiring_soon(member=member),
        "next_release": member_next_release(member=member) if member.pending else None,
        "timeline": _timeline(member),
        "quote": quote,
        "result": result,
        **panel_context(request, member, program, pay_form=pay_form, pay_quote=pay_quote),
        **cards_context(
            request,
            member,
            stamp_form=stamp_form,
            result=result,
            visit_id=visit_id,
            stamp_id=stamp_id,
        ),
    }
    if quote is not None and quote_total is not None:
        context["quote_total"] = money(quote_total, program.currency)
    if result is not None:
        context["result_total"] = money(result.total, result.currency)
        context["result_pending"] = any(
            entry.purchase_id == result.pk and entry.pending_points for entry in context["timeline"]
        )
    return render(request, "counter/member.html", context, status=status)


def _timeline(member: Member) -> list:
    """Return the latest entries, each with ``label``: its reason as staff should read it.

    A purchase recorded without a receipt number is keyed by the counter form's random
    token, which means nothing to people; the label names the purchase by its number.
    """
    entries = list(member_timeline(member=member, limit=TIMELINE_LENGTH))
    for entry in entries:
        entry.label = entry.reason
        purchase = entry.purchase
        if purchase is not None and (purchase.external_id or "").startswith("counter:"):
            entry.label = entry.reason.replace(purchase.external_id, f"#{purchase.pk}")
    return entries


@counter_view
@require_GET
def member_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a member's panel.

    ``?purchase=<id>`` shows what that purchase awarded, ``?visit=<id>`` the stamps a visit
    gave, ``?stamp=<id>`` what a stamp by hand did (with the voucher of a completed card).
    """
    member = _member_or_none(pk)
    if member is None:
        return _member_missing(request)
    result = None
    purchase_id = _id_param(request, "purchase")
    if purchase_id is not None:
        result = Purchase.objects.filter(pk=purchase_id, member=member).first()
    return _panel(
        request,
        member,
        result=result,
        visit_id=_id_param(request, "visit"),
        stamp_id=_id_param(request, "stamp"),
    )


def _id_param(request: HttpRequest, name: str) -> int | None:
    """Return the query parameter ``name`` as a row id, or None if it cannot be one."""
    value = request.GET.get(name, "")
    # SQLite refuses integers beyond 64 bits with an error rather than finding nothing.
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


@counter_view
@require_POST
def purchase_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a purchase (or preview it, writing nothing) and show the award lines."""
    member = _member_or_none(pk)
    if member is None:
        return _member_missing(request)
    form = PurchaseForm(request.POST)
    if not form.is_valid():
        return _panel(request, member, purchase_form=form, status=400)
    if request.POST.get("action") == "preview":
        try:
            quote = purchase_quote(
                member=member,
                location=request.counter_location,
                total=form.cleaned_data["amount"],
            )
        except errors.LoyaltyError as err:
            form.add_loyalty_error(err)
            return _panel(request, member, purchase_form=form, status=400)
        # The quote accepted the amount, so cleaning it again cannot fail.
        total = clean_amount(form.cleaned_data["amount"])
        return _panel(request, member, purchase_form=form, quote=quote, quote_total=total)
    try:
        recorded = purchase_record(
            member=member,
            location=request.counter_location,
            total=form.cleaned_data["amount"],
            external_id=form.external_id(),
            actor=request.user,
            source=Source.COUNTER,
        )
    except errors.PurchaseConflict as err:
        if form.cleaned_data["receipt"]:
            form.add_error("receipt", err.detail)
            return _panel(request, member, purchase_form=form, status=400)
        # The one-time token was already used for a different amount (e.g. the form was
        # resubmitted after editing it): start over with a fresh form.
        messages.error(
            request,
            _("This form was already used for another purchase. Enter the purchase again."),
        )
        return redirect("counter:member", pk=member.pk)
    except errors.LoyaltyError as err:
        form.add_loyalty_error(err)
        return _panel(request, member, purchase_form=form, status=400)
    purchase = recorded.purchase
    if recorded.created:
        messages.success(
            request,
            _("Purchase of %(total)s recorded: %(points)s %(points_name)s.")
            % {
                "total": money(purchase.total, purchase.currency),
                "points": recorded.points,
                "points_name": program_get().points_name,
            },
        )
    else:
        messages.info(
            request,
            _("This purchase was already recorded; nothing more was added."),
        )
    return redirect(f"{reverse('counter:member', args=[member.pk])}?purchase={purchase.pk}")


@counter_view
@require_POST
def visit_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a visit without a purchase."""
    member = _member_or_none(pk)
    if member is None:
        return _member_missing(request)
    try:
        visit = visit_record(
            member=member,
            location=request.counter_location,
            source=Source.COUNTER,
            actor=request.user,
        )
    except errors.LoyaltyError as err:
        messages.error(request, err.detail)
    else:
        if visit.points_awarded:
            messages.success(
                request,
                _("Visit recorded: %(points)s %(points_name)s.")
                % {"points": visit.points_awarded, "points_name": program_get().points_name},
            )
        else:
            messages.success(request, _("Visit recorded."))
        if any(r.given for r in visit.stamp_results):
            # Show the stamps the visit gave (and the voucher of a card it completed).
            return redirect(f"{reverse('counter:member', args=[member.pk])}?visit={visit.pk}")
    return redirect("counter:member", pk=member.pk)


# --------------------------------------------------------------------------------------------
# Enrolment
# --------------------------------------------------------------------------------------------


@counter_view
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """Enrol a new member and open their panel."""
    if request.method == "POST":
        form = EnrolForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                member = member_enroll(
                    phone=data["phone"] or None,
                    email=data["email"] or None,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    language=data["language"],
                    location=request.counter_location,
                    via=Source.COUNTER,
                    actor=request.user,
                    referral_code=data["referral_code"] or None,
                )
            except errors.LoyaltyError as err:
                form.add_loyalty_error(err)
            else:
                request.session.pop(SESSION_PREFILL, None)
                messages.success(
                    request,
                    _("%(name)s is now a member. Card number %(card)s.")
                    % {"name": member.display_name, "card": member.formatted_card_number},
                )
                return redirect("counter:member", pk=member.pk)
        status = 400
    else:
        initial = {"language": request.LANGUAGE_CODE}
        if request.GET.get("prefill"):
            initial.update(request.session.get(SESSION_PREFILL) or {})
        form = EnrolForm(initial=initial)
        status = 200
    form.focus("first_name" if form.initial.get("phone") or form.initial.get("email") else "phone")
    return render(
        request,
        "counter/enrol.html",
        {"form": form, "location": request.counter_location, "search_form": SearchForm()},
        status=status,
    )
