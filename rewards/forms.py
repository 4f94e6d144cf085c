"""Forms for using vouchers, shared by the staff counter page and the partner page.

As on the counter, the forms only shape the input; the rules live in the services, and the
views put the services' errors next to the fields they concern.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.forms import CounterForm


class VoucherCodeForm(CounterForm):
    """One field for a typed or scanned voucher code (any case, with or without the dash)."""

    default_error_field = "code"

    code = forms.CharField(
        label=_("Voucher code"),
        max_length=64,
        strip=True,
        error_messages={
            "required": _("Type or scan a voucher code."),
            "max_length": _("That is too long to be a voucher code."),
        },
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "enterkeyhint": "go",
                "class": "input-big mono",
            }
        ),
    )

    @classmethod
    def refused(cls, code: str, message: str, *, prefix: str = "voucher") -> VoucherCodeForm:
        """Return the form filled in with ``code`` and ``message`` as the code's error."""
        form = cls({f"{prefix}-code": code}, prefix=prefix)
        form.is_valid()
        form.add_error("code", message)
        form.focus("code")
        return form


class VoucherUseForm(CounterForm):
    """The confirmation of a use: the code checked, the amount for store credit.

    ``remaining`` is the store credit left when the voucher was checked: a resubmitted form
    (Back, Reload, a double tap) no longer matches after the first draw-down and is refused
    instead of drawing the amount a second time.
    """

    default_error_field = "amount"

    code = forms.CharField(widget=forms.HiddenInput, max_length=64)
    amount = forms.CharField(
        label=_("Amount to use"),
        max_length=32,
        required=False,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "enterkeyhint": "done"}
        ),
    )
    remaining = forms.DecimalField(
        widget=forms.HiddenInput, required=False, max_digits=12, decimal_places=2
    )

    def add_loyalty_error(self, err: LoyaltyError) -> None:
        self.add_error("amount" if isinstance(err, InvalidInput) else None, err.detail)
