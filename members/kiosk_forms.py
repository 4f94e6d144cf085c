"""Forms of the tablet kiosk: the phone keypad and the quick enrolment."""

from django import forms
from django.utils.translation import gettext_lazy as _

# What the keypad's buttons send as ``key`` when the page runs without JavaScript.
DIGITS = tuple("0123456789")
KEY_DELETE = "delete"
KEY_CLEAR = "clear"
PHONE_MAX_LENGTH = 24


class KioskPhoneForm(forms.Form):
    """The phone number typed on the keypad (or the device keyboard)."""

    phone = forms.CharField(
        label=_("Your phone number"),
        max_length=PHONE_MAX_LENGTH,
        required=True,
        error_messages={"required": _("Type your phone number first.")},
        widget=forms.TextInput(
            attrs={
                "type": "tel",
                "inputmode": "tel",
                "autocomplete": "off",
                "autocorrect": "off",
                "spellcheck": "false",
                "class": "kiosk-phone",
            }
        ),
    )


def phone_after_key(phone: str, key: str) -> str:
    """Return the phone field after pressing ``key`` on the keypad."""
    phone = (phone or "")[:PHONE_MAX_LENGTH]
    if key in DIGITS:
        return (phone + key)[:PHONE_MAX_LENGTH]
    if key == KEY_DELETE:
        return phone[:-1]
    if key == KEY_CLEAR:
        return ""
    return phone


class KioskEnrolForm(forms.Form):
    """Quick enrolment at the kiosk: the phone, an optional first name and the consents."""

    phone = forms.CharField(
        label=_("Phone number"),
        max_length=PHONE_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off", "class": "kiosk-input"}
        ),
    )
    first_name = forms.CharField(
        label=_("First name (optional)"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "kiosk-input"}),
    )
    referral_code = forms.CharField(
        label=_("Referral code from a friend (optional)"),
        max_length=20,
        required=False,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "class": "kiosk-input"}
        ),
    )
    terms = forms.BooleanField(
        label=_("I accept the programme's terms"),
        required=True,
        error_messages={"required": _("Accept the terms to join.")},
    )
    marketing_sms = forms.BooleanField(
        label=_("Send me offers by SMS (optional)"),
        required=False,
    )
