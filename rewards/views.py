"""The partner page: partner staff validate and use their partner's vouchers.

A partner's staff sign in, check a code (typed or scanned), see what the voucher is worth
and mark it used; they see the uses of their own partner's vouchers and this month's
totals. They see nothing else: a voucher of another partner or of the programme itself is
answered exactly like an unknown code, and a member is shown only as first name and last
initial. The views only call ``voucher_validate``, ``voucher_use`` and selectors.
"""

from __future__ import annotations

from decimal import Decimal
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from loyalty import errors
from loyalty.formatting import money
from loyalty.models import Location
from loyalty.selectors import program_get
from rewards.forms import VoucherCodeForm, VoucherUseForm
from rewards.models import Partner, Voucher
from rewards.selectors import (
    partner_month_totals,
    partner_vouchers_used,
    partners_for_staff,
    voucher_validate,
)
from rewards.services import voucher_use

SESSION_PARTNER = "partner_page_partner_id"
USES_PER_PAGE = 20


# --------------------------------------------------------------------------------------------
# Shared with the counter page
# --------------------------------------------------------------------------------------------


def voucher_use_as_confirmed(
    *,
    code: str,
    remaining: Decimal | None,
    amount: str | None,
    location: Location | None = None,
    partner: Partner | None = None,
    actor=None,
) -> Voucher:
    """Use the voucher as the confirmation showed it (the service refuses if it changed).

    Store credit can be drawn several times, so a resubmitted confirmation (Back, Reload, a
    double tap) must not draw the amount again: the form carries the value left when it was
    shown, and ``voucher_use`` compares it under its locks.
    """
    return voucher_use(
        code=code,
        location=location,
        partner=partner,
        amount=amount or None,
        actor=actor,
        expected_remaining=remaining,
    )


def use_form_for(voucher: Voucher) -> VoucherUseForm:
    """Return the confirmation form for a checked voucher (all the store credit by default)."""
    return VoucherUseForm(
        prefix="use",
        initial={
            "code": voucher.code,
            "amount": voucher.remaining_value,
            "remaining": voucher.remaining_value,
        },
    )


def member_short_name(member) -> str:
    """Return what a partner may see of a member: the first name and the last initial."""
    first = (member.first_name or "").strip()
    last = (member.last_name or "").strip()
    name = f"{first} {last[:1]}." if last else first
    return name.strip() or _("Member")


# --------------------------------------------------------------------------------------------
# Access and partner
# --------------------------------------------------------------------------------------------


def _current_partner(request: HttpRequest, partners, only: list[Partner]) -> Partner | None:
    chosen = request.session.get(SESSION_PARTNER)
    if chosen is not None:
        partner = partners.filter(pk=chosen).first()
        if partner is not None:
            return partner
        # The user was taken off that partner's staff since choosing it.
        del request.session[SESSION_PARTNER]
    if len(only) == 1:
        request.session[SESSION_PARTNER] = only[0].pk
        return only[0]
    return None


def _check_access(request: HttpRequest):
    if not request.user.has_perm("rewards.use_partner_page"):
        raise PermissionDenied
    return partners_for_staff(user=request.user)


def _no_partner(request: HttpRequest) -> HttpResponse:
    return render(request, "partner/no_partner.html", status=403)


def partner_view(view):
    """Require a logged-in user with ``rewards.use_partner_page`` on a partner's staff.

    Anonymous users go to the login page and come back; others get 403. The partner (chosen
    when the user works for several) is put on ``request.partner``.
    """

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        partners = _check_access(request)
        few = list(partners[:2])
        if not few:
            return _no_partner(request)
        partner = _current_partner(request, partners, few)
        if partner is None:
            return redirect(f"{reverse('partner:choose')}?{urlencode({'next': request.path})}")
        request.partner = partner
        request.partner_many = len(few) > 1
        return view(request, *args, **kwargs)

    return wrapped


@login_required
@require_http_methods(["GET", "POST"])
def partner_choose(request: HttpRequest) -> HttpResponse:
    """Let a user who works for several partners pick one; remembered for the session."""
    partners = _check_access(request)
    if not partners.exists():
        return _no_partner(request)
    error = None
    if request.method == "POST":
        picked = request.POST.get("partner", "")
        partner = partners.filter(pk=int(picked)).first() if picked.isdigit() else None
        if partner is not None:
            request.session[SESSION_PARTNER] = partner.pk
            target = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                target = reverse("partner:home")
            return redirect(target)
        error = _("Choose one of your partners.")
    return render(
        request,
        "partner/choose.html",
        {
            "partners": partners,
            "current": request.session.get(SESSION_PARTNER),
            "error": error,
            "next": request.GET.get("next") or request.POST.get("next") or "",
        },
        status=400 if error else 200,
    )


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


def _page(request: HttpRequest, *, status: int = 200, **context) -> HttpResponse:
    partner = request.partner
    uses = Paginator(partner_vouchers_used(partner=partner), USES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for use in uses:
        use.member_name = member_short_name(use.voucher.member)
    context.setdefault("code_form", VoucherCodeForm(prefix="voucher"))
    if "voucher" not in context:
        context["code_form"].focus("code")
    return render(
        request,
        "partner/home.html",
        {
            "partner": partner,
            "partner_many": request.partner_many,
            "uses": uses,
            "month": partner_month_totals(partner=partner),
            **context,
        },
        status=status,
    )


def _checked(request: HttpRequest, voucher: Voucher, use_form: VoucherUseForm | None = None):
    return {
        "voucher": voucher,
        "member_name": member_short_name(voucher.member),
        "use_form": use_form or use_form_for(voucher),
    }


@partner_view
@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    """Check a voucher code, use it after confirmation, list the partner's uses."""
    if request.method == "GET":
        return _page(request)
    if request.POST.get("action") == "use":
        return _use(request)
    form = VoucherCodeForm(request.POST, prefix="voucher")
    if not form.is_valid():
        return _page(request, code_form=form, status=400)
    try:
        voucher = voucher_validate(code=form.cleaned_data["code"], partner=request.partner)
    except errors.LoyaltyError as err:
        form.add_loyalty_error(err)
        form.focus("code")
        return _page(request, code_form=form, status=400)
    return _page(request, code_form=form, **_checked(request, voucher))


def _use(request: HttpRequest) -> HttpResponse:
    form = VoucherUseForm(request.POST, prefix="use")
    code = request.POST.get("use-code", "")[:64]
    if not form.is_valid():
        code_form = VoucherCodeForm.refused(code, _("Check the voucher code again."))
        return _page(request, code_form=code_form, status=400)
    try:
        voucher = voucher_use_as_confirmed(
            code=form.cleaned_data["code"],
            remaining=form.cleaned_data["remaining"],
            amount=form.cleaned_data["amount"],
            partner=request.partner,
            actor=request.user,
        )
    except errors.InvalidInput as err:
        # An amount the service refused: show the voucher again with the error at the amount.
        try:
            voucher = voucher_validate(code=form.cleaned_data["code"], partner=request.partner)
        except errors.LoyaltyError as again:
            return _page(request, code_form=VoucherCodeForm.refused(code, again.detail), status=400)
        form.add_loyalty_error(err)
        form.focus("amount")
        return _page(
            request,
            code_form=VoucherCodeForm(initial={"code": code}, prefix="voucher"),
            status=400,
            **_checked(request, voucher, form),
        )
    except errors.LoyaltyError as err:
        return _page(request, code_form=VoucherCodeForm.refused(code, err.detail), status=400)
    messages.success(request, used_message(voucher, program_get().currency))
    return redirect("partner:home")


def used_message(voucher: Voucher, currency: str) -> str:
    """Return the confirmation shown after a use (store credit: what was drawn, what is left)."""
    if voucher.remaining_value is not None:
        last = voucher.uses.order_by("-pk").first()
        return _("%(amount)s used from voucher %(code)s (%(reward)s); %(remaining)s left.") % {
            "amount": money(last.amount if last else 0, currency),
            "code": voucher.formatted_code,
            "reward": voucher.reward.name,
            "remaining": money(voucher.remaining_value, currency),
        }
    return _("Voucher %(code)s used: %(reward)s.") % {
        "code": voucher.formatted_code,
        "reward": voucher.reward.name,
    }
