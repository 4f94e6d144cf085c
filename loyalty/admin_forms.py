"""Forms of the admin's custom views: adjust points, record a purchase or visit, refund.

Each form checks its input with the same cleaning functions the services use, so a bad
value is shown on its field before anything is attempted; the service checks again.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty import errors
from loyalty.models import EarnRule, Location
from loyalty.selectors import program_get
from loyalty.services import clean_amount, clean_points


class AdjustPointsForm(forms.Form):
    points = forms.CharField(
        label=_("Points"),
        max_length=20,
        help_text=_("Whole points: positive to add, negative (e.g. -50) to take away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Required. Stays in the member's ledger, with your name."),
    )

    def clean_points(self) -> int:
        try:
            return clean_points(
                self.cleaned_data["points"],
                allow_negative=True,
                maximum=program_get().max_adjustment_points,
            )
        except errors.LoyaltyError as error:
            raise forms.ValidationError(error.detail, code=error.code) from None


class RecordPurchaseForm(forms.Form):
    total = forms.CharField(
        label=_("Total"), max_length=20, help_text=_("The amount paid, e.g. 12.50.")
    )
    external_id = forms.CharField(
        label=_("Receipt number"),
        max_length=64,
        required=False,
        help_text=_("Optional. The same receipt recorded twice awards points once."),
    )
    location = forms.ModelChoiceField(label=_("Location"), queryset=Location.objects.none())

    def __init__(self, *args, locations, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations
        only = list(locations[:2])
        if len(only) == 1:
            self.fields["location"].initial = only[0].pk
        elif not only:
            self.fields["location"].help_text = _(
                "You do not work at any active location. Ask a manager to add you to one."
            )

    def clean_total(self):
        try:
            return clean_amount(
                self.cleaned_data["total"], maximum=program_get().max_purchase_amount
            )
        except errors.LoyaltyError as error:
            raise forms.ValidationError(error.detail, code=error.code) from None


class RecordVisitForm(forms.Form):
    location = forms.ModelChoiceField(label=_("Location"), queryset=Location.objects.none())

    def __init__(self, *args, locations, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations
        only = list(locations[:2])
        if len(only) == 1:
            self.fields["location"].initial = only[0].pk


class RefundForm(forms.Form):
    amount = forms.CharField(
        label=_("Amount"),
        max_length=20,
        required=False,
        help_text=_("Leave empty to refund everything that is left to refund."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=255)

    def clean_amount(self):
        raw = self.cleaned_data["amount"]
        if raw in (None, ""):
            return None
        try:
            return clean_amount(raw)
        except errors.LoyaltyError as error:
            raise forms.ValidationError(error.detail, code=error.code) from None


class ConfirmForm(forms.Form):
    """An empty form for views that only need a confirmed POST."""


class EarnRuleAdminForm(forms.ModelForm):
    """An earning rule, with the checks that its kind needs the right fields filled in."""

    class Meta:
        model = EarnRule
        fields = (
            "name",
            "kind",
            "is_active",
            "category",
            "sku",
            "min_total",
            "multiplier",
            "points",
            "valid_from",
            "valid_until",
        )

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == EarnRule.Kind.THRESHOLD:
            min_total = cleaned.get("min_total")
            if min_total is None or min_total <= 0:
                self.add_error(
                    "min_total", _("A threshold bonus needs the purchase total that earns it.")
                )
            if not cleaned.get("points"):
                self.add_error("points", _("Enter the bonus points."))
        elif kind and not (cleaned.get("category") or cleaned.get("sku")):
            self.add_error("category", _("Enter the category or the SKU this rule matches."))
        if kind == EarnRule.Kind.FIXED_PER_ITEM and not cleaned.get("points"):
            self.add_error("points", _("Enter the points per matching item."))
        if kind == EarnRule.Kind.MULTIPLIER and (cleaned.get("multiplier") or 0) <= 1:
            self.add_error("multiplier", _("A multiplier must be more than 1."))
        start, end = cleaned.get("valid_from"), cleaned.get("valid_until")
        if start and end and end <= start:
            self.add_error("valid_until", _("The end must be after the start."))
        return cleaned
