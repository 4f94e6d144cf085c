"""Rewards at the counter: redeem for a member, use a voucher, pay with points.

The member panel shows the member's usable vouchers and the catalogue as that member sees
it (with the reasons a reward cannot be redeemed yet). Every write has a confirmation step
and is safe to submit twice: a redemption carries a one-time token as its idempotency key,
a payment with points a one-time token or the receipt number, and a voucher use is refused
the second time (store credit: when the value left no longer matches the confirmation).
Permissions: redeeming needs ``rewards.add_voucher``, using ``rewards.use_voucher``, paying
``rewards.add_pointspayment``.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty import errors
from loyalty.formatting import money
from loyalty.forms import PayForm, RedeemForm, form_token_new
from loyalty.models import Program
from loyalty.selectors import program_get
from loyalty.views import _member_missing, _member_or_none, _panel, _safe_next, counter_view
from members.models import Member
from rewards.codes import qr_svg
from rewards.forms import VoucherCodeForm, VoucherUseForm
from rewards.models import PointsPayment, Reward, Voucher
from rewards.selectors import member_vouchers_usable, rewards_available_for, voucher_validate
from rewards.services import points_pay, points_pay_quote, reward_redeem
from rewards.views import use_form_for, used_message, voucher_use_as_confirmed

VOUCHERS_SHOWN = 20


def permission_required(perm: str):
    """Refuse (403) a counter user without ``perm``; apply below ``counter_view``."""

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def panel_context(
    request: HttpRequest,
    member: Member,
    program: Program,
    *,
    pay_form: PayForm | None = None,
    pay_quote=None,
) -> dict:
    """Return what the member panel shows of rewards, as far as the user may see it."""
    user = request.user
    context: dict = {}
    if user.has_perm("rewards.view_voucher"):
        context["vouchers"] = list(member_vouchers_usable(member=member)[:VOUCHERS_SHOWN])
    if user.has_perm("rewards.add_voucher"):
        context["reward_options"] = rewards_available_for(member=member)
    if user.has_perm("rewards.use_voucher"):
        context["voucher_form"] = VoucherCodeForm(prefix="voucher")
    if user.has_perm("rewards.add_pointspayment"):
        context["pay_enabled"] = program.point_value > 0
        context["pay_form"] = pay_form or PayForm(prefix="pay", initial={"token": form_token_new()})
        context["pay_quote"] = pay_quote
    return context


# --------------------------------------------------------------------------------------------
# Redeem a reward for the member
# --------------------------------------------------------------------------------------------


def _option(member: Member, reward_pk: int):
    return next((o for o in rewards_available_for(member=member) if o.reward.pk == reward_pk), None)


@counter_view
@permission_required("rewards.add_voucher")
@require_http_methods(["GET", "POST"])
def redeem(request: HttpRequest, pk: int, reward_pk: int) -> HttpResponse:
    """Ask to confirm a redemption, then redeem once, however often the form is sent."""
    member = _member_or_none(pk)
    if member is None:
        return _member_missing(request)
    reward = Reward.objects.filter(pk=reward_pk).first()
    if reward is None:
        messages.error(request, errors.RewardNotFound().detail)
        return redirect("counter:member", pk=member.pk)
    status = 200
    if request.method == "POST":
        form = RedeemForm(request.POST)
        if form.is_valid():
            key = form.idempotency_key()
            again = Voucher.objects.filter(member=member, idempotency_key=key).exists()
            try:
                voucher = reward_redeem(
                    member=member, reward=reward, idempotency_key=key, actor=request.user
                )
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
                        _("%(reward)s redeemed for %(points)s %(points_name)s.")
                        % {
                            "reward": reward.name,
                            "points": voucher.points_spent,
                            "points_name": program_get().points_name,
                        },
                    )
                return redirect("counter:voucher", pk=member.pk, voucher_pk=voucher.pk)
        status = 400
    else:
        form = RedeemForm(initial={"token": form_token_new()})
    option = _option(member, reward.pk)
    cost = reward.points_cost or 0
    return render(
        request,
        "counter/redeem.html",
        {
            "location": request.counter_location,
            "member": member,
            "reward": reward,
            "reasons": option.reasons if option else [_("Not available")],
            "balance_after": member.balance - cost,
            "form": form,
        },
        status=status,
    )


@counter_view
@permission_required("rewards.view_voucher")
@require_GET
def voucher_show(request: HttpRequest, pk: int, voucher_pk: int) -> HttpResponse:
    """Show a member's voucher: the code large, its QR code and the expiry."""
    voucher = (
        Voucher.objects.select_related("reward", "member").filter(pk=voucher_pk, member=pk).first()
    )
    if voucher is None:
        messages.error(request, _("This voucher does not exist."))
        return redirect("counter:home")
    return render(
        request,
        "counter/voucher.html",
        {
            "location": request.counter_location,
            "member": voucher.member,
            "voucher": voucher,
            "qr": qr_svg(voucher.code, scale=6),
            # A digital reward is handed over at the till: its code from the pool, or the
            # download link, while the voucher can still be used.
            "usable": voucher.is_usable(),
            "digital": getattr(voucher, "digital_code", None)
            if voucher.reward.kind == Reward.Kind.DIGITAL and voucher.is_usable()
            else None,
        },
    )


# --------------------------------------------------------------------------------------------
# Use a voucher (with or without a member open)
# --------------------------------------------------------------------------------------------


def _use_page(request: HttpRequest, *, status: int = 200, **context) -> HttpResponse:
    context.setdefault("code_form", VoucherCodeForm(prefix="voucher"))
    if "voucher" in context:
        context["member_name"] = context["voucher"].member.display_name
    else:
        context["code_form"].focus("code")
    return render(
        request,
        "counter/voucher_use.html",
        {"location": request.counter_location, "next": _safe_next(request, ""), **context},
        status=status,
    )


@counter_view
@permission_required("rewards.use_voucher")
@require_http_methods(["GET", "POST"])
def voucher_use_view(request: HttpRequest) -> HttpResponse:
    """Check a typed or scanned code and show what it is; use it after confirmation."""
    if request.method == "GET":
        return _use_page(request)
    if request.POST.get("action") == "use":
        return _voucher_use_commit(request)
    form = VoucherCodeForm(request.POST, prefix="voucher")
    if not form.is_valid():
        return _use_page(request, code_form=form, status=400)
    try:
        voucher = voucher_validate(
            code=form.cleaned_data["code"], location=request.counter_location
        )
    except errors.LoyaltyError as err:
        form.add_loyalty_error(err)
        form.focus("code")
        return _use_page(request, code_form=form, status=400)
    return _use_page(request, code_form=form, voucher=voucher, use_form=use_form_for(voucher))


def _voucher_use_commit(request: HttpRequest) -> HttpResponse:
    form = VoucherUseForm(request.POST, prefix="use")
    code = request.POST.get("use-code", "")[:64]
    if not form.is_valid():
        code_form = VoucherCodeForm.refused(code, _("Check the voucher code again."))
        return _use_page(request, code_form=code_form, status=400)
    location = request.counter_location
    try:
        voucher = voucher_use_as_confirmed(
            code=form.cleaned_data["code"],
            remaining=form.cleaned_data["remaining"],
            amount=form.cleaned_data["amount"],
            location=location,
            actor=request.user,
        )
    except errors.InvalidInput as err:
        # An amount the service refused: show the voucher again with the error at the amount.
        try:
            voucher = voucher_validate(code=form.cleaned_data["code"], location=location)
        except errors.LoyaltyError as again:
            return _use_page(
                request, code_form=VoucherCodeForm.refused(code, again.detail), status=400
            )
        form.add_loyalty_error(err)
        form.focus("amount")
        return _use_page(
            request,
            code_form=VoucherCodeForm(initial={"code": code}, prefix="voucher"),
            voucher=voucher,
            use_form=form,
            status=400,
        )
    except errors.LoyaltyError as err:
        return _use_page(request, code_form=VoucherCodeForm.refused(code, err.detail), status=400)
    messages.success(request, used_message(voucher, program_get().currency))
    return redirect(_safe_next(request, reverse("counter:voucher_use")))


# --------------------------------------------------------------------------------------------
# Pay with points
# --------------------------------------------------------------------------------------------


@counter_view
@permission_required("rewards.add_pointspayment")
@require_POST
def pay(request: HttpRequest, pk: int) -> HttpResponse:
    """Quote a payment with points (no writes); on confirmation, pay once."""
    member = _member_or_none(pk)
    if member is None:
        return _member_missing(request)
    form = PayForm(request.POST, prefix="pay")
    if not form.is_valid():
        return _panel(request, member, pay_form=form, status=400)
    data = form.cleaned_data
    if request.POST.get("action") != "pay":
        try:
            quote = points_pay_quote(member=member, amount=data["amount"], points=data["points"])
        except errors.LoyaltyError as err:
            form.add_loyalty_error(err)
            return _panel(request, member, pay_form=form, status=400)
        return _panel(request, member, pay_form=form, pay_quote=quote)
    location = request.counter_location
    external_id = form.external_id()
    again = PointsPayment.objects.filter(location=location, external_id=external_id).exists()
    try:
        payment = points_pay(
            member=member,
            location=location,
            amount=data["amount"],
            points=data["points"],
            external_id=external_id,
            actor=request.user,
        )
    except errors.LoyaltyError as err:
        form.add_loyalty_error(err)
        return _panel(request, member, pay_form=form, status=400)
    program = program_get()
    if again:
        messages.info(request, _("This payment was already recorded; nothing more was taken."))
    else:
        messages.success(
            request,
            _("%(points)s %(points_name)s paid %(amount)s of the purchase.")
            % {
                "points": payment.points,
                "points_name": program.points_name,
                "amount": money(payment.amount, program.currency),
            },
        )
    return redirect("counter:member", pk=member.pk)
