"""Forms of the member's account pages: sign-up, claim, profile and privacy.

Forms only validate the shape of the input; the rules live in the services
(``members.accounts`` and ``members.services``), whose errors the views put back on the
form with ``form_error_add``.
"""

from __future__ import annotations

from allauth.account.forms import SignupForm
from django import forms
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from loyalty import hooks
from loyalty.errors import LoyaltyError
from loyalty.models import EarnRule, PunchCardType
from members.models import Member

FREQUENCY_CHOICES = [
    ("any", _("Any time")),
    ("weekly", _("At most weekly")),
    ("monthly", _("At most monthly")),
    ("never", _("Never")),
]


def form_error_add(form: forms.Form, error: LoyaltyError) -> None:
    """Show a domain error on the field it concerns, or on the whole form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.detail)


def _language_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Language"),
        choices=[
            (code, translation.get_language_info(code)["name_local"])
            for code, _n in settings.LANGUAGES
        ],
        help_text=_("Pages and messages come in this language."),
    )


class PortalSignupForm(SignupForm):
    """allauth's sign-up (email, password twice) with language and consents."""

    language = forms.ChoiceField(label=_("Language"))
    terms = forms.BooleanField(
        label=_("I accept the terms of the loyalty programme."),
        error_messages={"required": _("Accept the terms of the programme to join.")},
    )
    marketing_email = forms.BooleanField(
        label=_("Send me offers by email."),
        required=False,
    )
    marketing_sms = forms.BooleanField(
        label=_("Send me offers by SMS."),
        required=False,
    )
    referral_code = forms.CharField(
        label=_("Referral code (optional)"),
        max_length=20,
        required=False,
        help_text=_("The code of the friend who invited you, if you have one."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )

    field_order = [
        "email",
        "password1",
        "password2",
        "language",
        "referral_code",
        "terms",
        "marketing_email",
        "marketing_sms",
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        language = self.fields["language"] = _language_field()
        language.initial = translation.get_language()
        self.fields["marketing_email"].help_text = _("You can change this at any time.")
        self.fields["marketing_sms"].help_text = _("You can change this at any time.")

    def clean_referral_code(self) -> str | None:
        # The campaigns app checks the code (unknown, suspended member); enrolment checks again.
        try:
            return hooks.provided(
                "referral_code_check",
                self.cleaned_data["referral_code"] or None,
                code=self.cleaned_data["referral_code"],
            )
        except LoyaltyError as error:
            raise forms.ValidationError(error.detail, code=error.code) from None

    def consent_fields(self):
        return [self[name] for name in ("terms", "marketing_email", "marketing_sms")]

    def account_fields(self):
        return [
            self[name]
            for name in self.fields
            if name not in {"terms", "marketing_email", "marketing_sms"}
        ]


class ClaimStartForm(forms.Form):
    identifier = forms.CharField(
        label=_("Card number or phone number"),
        max_length=40,
        help_text=_(
            "The number on your membership card, or the phone number you gave at the counter."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text"}),
    )


class ClaimConfirmForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=12,
        help_text=_("The 6-digit code from the message."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}
        ),
    )


def category_choices(member: Member) -> list[tuple[str, str]]:
    """Return the categories the programme knows (earning rules, punch cards) and the member's own."""
    known = set(EarnRule.objects.exclude(category="").values_list("category", flat=True))
    known |= set(PunchCardType.objects.exclude(category="").values_list("category", flat=True))
    known |= set(member.favourite_categories or [])
    return [(c, c) for c in sorted(known, key=str.casefold)]


class ProfileForm(forms.Form):
    """Name, birth date and language; favourite categories; messages per channel and how often."""

    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("For a birthday treat, if the programme has one."),
    )
    language = forms.ChoiceField(label=_("Language"))
    favourite_categories = forms.MultipleChoiceField(
        label=_("Favourite categories"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    other_categories = forms.CharField(
        label=_("Other favourite categories"),
        required=False,
        max_length=500,
        help_text=_("Separate them with commas."),
    )
    marketing_email = forms.BooleanField(label=_("Offers by email"), required=False)
    marketing_sms = forms.BooleanField(label=_("Offers by SMS"), required=False)
    message_frequency = forms.ChoiceField(
        label=_("How often may the programme send you offers?"),
        choices=FREQUENCY_CHOICES,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, member: Member, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "first_name": member.first_name,
                "last_name": member.last_name,
                "birth_date": member.birth_date,
                "language": member.language,
                "favourite_categories": list(member.favourite_categories or []),
                "marketing_email": member.marketing_email,
                "marketing_sms": member.marketing_sms,
                "message_frequency": member.message_frequency,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["language"] = _language_field()
        self.fields["favourite_categories"].choices = category_choices(member)
        if not self.fields["favourite_categories"].choices:
            self.fields["other_categories"].label = _("Favourite categories")

    def clean(self):
        data = super().clean()
        chosen = list(data.get("favourite_categories") or [])
        others = [c.strip() for c in (data.get("other_categories") or "").split(",")]
        data["categories"] = sorted({c for c in chosen + others if c})
        return data


class ExportForm(forms.Form):
    """The confirmation POST of "download my data" (nothing to fill in)."""


class DeleteAccountForm(forms.Form):
    """Confirm deletion with the password, or by typing DELETE for a login without one."""

    password = forms.CharField(
        label=_("Your password"),
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirmation = forms.CharField(
        label=_("Type DELETE to confirm"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if user.has_usable_password():
            del self.fields["confirmation"]
            self.fields["password"].required = True
        else:
            del self.fields["password"]
            self.fields["confirmation"].required = True

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("This is not your password."))
        return password

    def clean_confirmation(self) -> str:
        text = self.cleaned_data["confirmation"].strip()
        if text.upper() != "DELETE":
            raise forms.ValidationError(_("Type DELETE to confirm."))
        return text
