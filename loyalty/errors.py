"""Domain errors raised by services and selectors.

Each error has a stable ``code`` (for API clients and tests) and a translatable message
(for people). Interfaces map them: the API to a 4xx JSON body ``{"code", "detail"}``, the
admin, counter and portal to a message on the page. ``status`` is the HTTP status the API
uses for that kind of error.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    """Base of all domain errors. Subclasses set ``code``, ``status`` and ``message``."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    message: ClassVar[Any] = _("The request could not be completed.")

    def __init__(self, message: Any = None, *, field: str | None = None, **params: Any) -> None:
        self.params = params
        self.field = field
        self._message = message if message is not None else self.message
        super().__init__(str(self))

    @property
    def detail(self) -> str:
        """Return the message in the active language, placeholders filled in."""
        text = str(self._message)
        return text % self.params if self.params else text

    def __str__(self) -> str:
        return self.detail


class InvalidInput(LoyaltyError):
    code = "invalid"
    message = _("The input is not valid.")


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    message = _("Enter a positive amount.")


class InvalidPoints(InvalidInput):
    code = "invalid_points"
    message = _("Enter a whole, non-zero number of points.")


class ReasonRequired(InvalidInput):
    code = "reason_required"
    message = _("A reason is required.")


class InvalidPhone(InvalidInput):
    code = "invalid_phone"
    message = _("This is not a valid phone number.")


class InvalidEmail(InvalidInput):
    code = "invalid_email"
    message = _("This is not a valid email address.")


class ContactRequired(InvalidInput):
    code = "contact_required"
    message = _("A phone number or an email address is required.")


class NotFound(LoyaltyError):
    code = "not_found"
    status = 404
    message = _("Not found.")


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = _("No member matches this phone number, card number, email or QR code.")


class Conflict(LoyaltyError):
    code = "conflict"
    status = 409
    message = _("This conflicts with the current state.")


class MemberAlreadyExists(Conflict):
    code = "member_exists"
    message = _("A member with this %(what)s already exists.")


class MemberInactive(Conflict):
    code = "member_inactive"
    message = _("This membership is closed.")


class PurchaseConflict(Conflict):
    code = "purchase_conflict"
    message = _(
        "Receipt %(external_id)s was already recorded at this location with a different "
        "member or total."
    )


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    status = 422
    message = _("Not enough points: %(available)s available, %(requested)s needed.")


class RefundTooLarge(InvalidInput):
    code = "refund_too_large"
    message = _("The refund is larger than what is left to refund (%(refundable)s).")


class LocationInactive(Conflict):
    code = "location_inactive"
    message = _("This location is not active.")


class NotPermitted(LoyaltyError):
    code = "permission_denied"
    status = 403
    message = _("You do not have permission to do this.")


class AlreadyRefunded(Conflict):
    code = "already_refunded"
    message = _("This purchase has already been refunded in full.")


# Rewards, vouchers and paying with points ---------------------------------------------------


class RewardNotFound(NotFound):
    code = "reward_not_found"
    message = _("This reward does not exist.")


class RewardNotAvailable(Conflict):
    code = "reward_not_available"
    status = 422
    message = _("This reward cannot be redeemed now: %(reasons)s")


class OutOfStock(RewardNotAvailable):
    code = "out_of_stock"
    message = _("This reward is out of stock.")


class RedemptionLimitReached(RewardNotAvailable):
    code = "limit_reached"
    message = _("The member has reached the limit for this reward.")


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    message = _("No voucher has this code. Check the code and try again.")


class VoucherAlreadyUsed(Conflict):
    code = "voucher_used"
    message = _("This voucher has already been used.")


class VoucherExpired(Conflict):
    code = "voucher_expired"
    message = _("This voucher has expired.")


class VoucherCancelled(Conflict):
    code = "voucher_cancelled"
    message = _("This voucher has been cancelled.")


class VoucherNotValidHere(Conflict):
    code = "voucher_not_valid_here"
    status = 403
    message = _("This voucher cannot be used here.")


class AmountAboveRemaining(InvalidInput):
    code = "amount_above_remaining"
    message = _("Only %(remaining)s is left on this voucher.")


class PayWithPointsDisabled(Conflict):
    code = "pay_with_points_disabled"
    message = _("Paying with points is not enabled in this programme.")
