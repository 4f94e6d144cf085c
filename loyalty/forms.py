"""Forms of the staff counter page.

The forms only shape the input (lengths, required fields, the one-time token); the rules
(amount limits, phone and email checks, duplicates) live in the services, and the views put
the services' errors next to the fields they concern.
"""

from __future__ import annotations

import re
import secrets

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from loyalty.errors import LoyaltyError

# A token made by ``form_token_new``: URL-safe base64 of 16 random bytes.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22}")


def form_token_new() -> str:
    """Return a fresh one-time token for a purchase form (its idempotency key)."""
    return secrets.token_urlsafe(16)


class TelInput(forms.TextInput):
    input_type = "tel"


class SearchInput(forms.TextInput):
    input_type = "search"


class CounterForm(forms.Form):
    """A form that can show a service's ``LoyaltyError`` next to the field it concerns.

    A field with errors points at them with ``aria-describedby``, so a screen reader reads
    the error with the field.
    """

    #: Field that gets errors which name no field (e.g. an amount error).
    default_error_field: str | None = None

    def add_loyalty_error(self, err: LoyaltyError) -> None:
        """Attach ``err`` to its field, to the form's default field, or to the whole form."""
        field = err.field if err.field in self.fields else self.default_error_field
        self.add_error(field, err.detail)

    def add_error(self, field, error) -> None:
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-describedby"] = f"{self[name].auto_id}-errors"

    def focus(self, name: str | None = None) -> None:
        """Put the cursor in ``name``, or in the first field with an error."""
        name = next((n for n in self.fields if n in self.errors), name)
        if name is not None:
            self.fields[name].widget.attrs["autofocus"] = True


class SearchForm(CounterForm):
    q = forms.CharField(
        label=_("Phone, card number, email, QR code or last name"),
        max_length=254,
        strip=True,
        error_messages={
            "required": _("Type or scan something to search for."),
            "max_length": _("That is too long to be a phone, card, email or name."),
        },
        widget=SearchInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "off",
                "spellcheck": "false",
                "enterkeyhint": "search",
                "class": "input-big",
            }
        ),
    )


class LocationForm(forms.Form):
    location = forms.ModelChoiceField(
        label=_("Location"),
        queryset=None,
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose one of your locations.")},
    )

    def __init__(self, *args, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations


class PurchaseForm(CounterForm):
    """Amount, optional receipt number, and the hidden one-time token."""

    default_error_field = "amount"

    # A text field, not a DecimalField: the service reads "12,50" as well as "12.50" and
    # gives the precise reason when an amount is refused.
    amount = forms.CharField(
        label=_("Amount"),
        max_length=32,
        error_messages={"required": _("Enter an amount.")},
        widget=forms.TextInput(
            attrs={
                "inputmode": "decimal",
                "autocomplete": "off",
                "enterkeyhint": "done",
                "class": "input-big",
            }
        ),
    )
    receipt = forms.CharField(
        label=_("Receipt number (optional)"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_token(self) -> str:
        token = self.cleaned_data["token"]
        if not _TOKEN_RE.fullmatch(token):
            raise forms.ValidationError(_("This form has expired. Enter the purchase again."))
        return token

    def external_id(self) -> str:
        """Return the idempotency key: the receipt number, or the form's one-time token."""
        return self.cleaned_data["receipt"] or f"counter:{self.cleaned_data['token']}"


class EnrolForm(CounterForm):
    """What the till needs to enrol a member: a phone or an email, a name, a language."""

    default_error_field = "phone"

    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        widget=TelInput(attrs={"autocomplete": "off", "class": "input-big"}),
    )
    email = forms.CharField(
        label=_("Email"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "off",
                "spellcheck": "false",
            }
        ),
    )
    first_name = forms.CharField(
        label=_("First name"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    referral_code = forms.CharField(
        label=_("Referral code (optional)"),
        max_length=20,
        required=False,
        help_text=_("The code of the member who invited them, if any."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )

    def clean(self):
        data = super().clean()
        if not data.get("phone") and not data.get("email") and not self.has_error("phone"):
            self.add_error("phone", _("Enter a phone number or an email address."))
        return data


# --------------------------------------------------------------------------------------------
# Rewards at the counter (views in ``loyalty.counter_rewards``)
# --------------------------------------------------------------------------------------------


class OneTimeTokenForm(CounterForm):
    """A form with the hidden one-time token that makes a double submit count once."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_token(self) -> str:
        token = self.cleaned_data["token"]
        if not _TOKEN_RE.fullmatch(token):
            raise forms.ValidationError(_("This form has expired. Start again."))
        return token


class RedeemForm(OneTimeTokenForm):
    """The confirmation of a redemption: only the one-time token (the idempotency key)."""

    def idempotency_key(self) -> str:
        return f"counter:{self.cleaned_data['token']}"


class PayForm(OneTimeTokenForm):
    """Pay with points: the purchase amount, optionally the points to use, a receipt number."""

    default_error_field = "amount"

    amount = forms.CharField(
        label=_("Purchase amount"),
        max_length=32,
        error_messages={"required": _("Enter the amount of the purchase.")},
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "enterkeyhint": "done"}
        ),
    )
    points = forms.CharField(
        label=_("Points to use (optional; empty: as many as possible)"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    receipt = forms.CharField(
        label=_("Receipt number (optional)"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def add_loyalty_error(self, err: LoyaltyError) -> None:
        # Point errors belong to the points field when the cashier typed a number of points.
        if err.code in {"invalid_points", "insufficient_points"} and self.cleaned_data.get(
            "points"
        ):
            self.add_error("points", err.detail)
        elif err.code == "purchase_conflict":
            self.add_error("receipt", err.detail)
        else:
            super().add_loyalty_error(err)

    def external_id(self) -> str:
        """Return the idempotency key: the receipt number, or the form's one-time token."""
        return self.cleaned_data["receipt"] or f"pay:{self.cleaned_data['token']}"


# --------------------------------------------------------------------------------------------
# Punch cards at the counter (views in ``loyalty.counter_cards``)
# --------------------------------------------------------------------------------------------


class StampForm(OneTimeTokenForm):
    """One tap on a card's Stamp button: the one-time token and the reason (prefilled).

    Errors that name no field (a daily limit, a closed membership) belong to the whole form.
    """

    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    @staticmethod
    def default_reason() -> str:
        return str(_("Stamped at the counter"))
