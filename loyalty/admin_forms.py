"""Forms of the admin's custom views: adjust points, record a purchase or visit, refund,
set a tier, grant VIP status, stamp a card.

Also the model forms of tiers and punch card types, which check what the database's
constraints would otherwise refuse with an error page.

Each form checks its input with the same cleaning functions the services use, so a bad
value is shown on its field before anything is attempted; the service checks again.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from modeltranslation.utils import build_localized_fieldname, get_language

from loyalty import errors
from loyalty.models import EarnRule, Location, PunchCardType, Tier
from loyalty.punch_cards import MAX_MANUAL_STAMPS
from loyalty.selectors import program_get
from loyalty.services import clean_amount, clean_points
from loyalty.tiers import tiers_validate


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


class TierAdminForm(forms.ModelForm):
    """A tier, checked against the other tiers: thresholds must rise with rank."""

    class Meta:
        model = Tier
        # The admin builds the form from its fieldsets (with a name field per language).
        fields = ("rank", "name", "colour", "threshold", "multiplier", "benefits")
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}

    def clean(self):
        cleaned = super().clean()
        rank, threshold = cleaned.get("rank"), cleaned.get("threshold")
        if rank is None or threshold is None:
            return cleaned
        others = list(Tier.objects.exclude(pk=self.instance.pk))
        if any(other.rank == rank for other in others):
            return cleaned  # the unique check on the rank reports this one
        candidate = Tier(pk=self.instance.pk, rank=rank, threshold=threshold)
        candidate.name = self._name(cleaned) or self.instance.name
        try:
            tiers_validate([*others, candidate])
        except errors.LoyaltyError as error:
            self.add_error("threshold", error.detail)
        return cleaned

    @staticmethod
    def _name(cleaned) -> str:
        for lang in (get_language(), "en"):
            name = cleaned.get(build_localized_fieldname("name", lang))
            if name:
                return name
        return cleaned.get("name") or ""


class PunchCardTypeAdminForm(forms.ModelForm):
    """A punch card type, with what its kind of stamp needs checked on its own field."""

    class Meta:
        model = PunchCardType
        # The admin builds the form from its fieldsets (with a name field per language).
        fields = (
            "name",
            "is_active",
            "stamps_needed",
            "earn_on",
            "category",
            "sku",
            "per_item",
            "spend_step",
            "max_stamps_per_day",
            "validity_days",
            "reward",
            "locations",
        )

    def clean(self):
        cleaned = super().clean()
        stamps = cleaned.get("stamps_needed")
        if "stamps_needed" in cleaned and (stamps is None or stamps < 1):
            self.add_error("stamps_needed", _("A card needs at least one stamp."))
        earn_on = cleaned.get("earn_on")
        if earn_on == PunchCardType.EarnOn.ITEM and not (
            cleaned.get("category") or cleaned.get("sku")
        ):
            self.add_error(
                "category", _("Enter the category or the SKU of the products that earn a stamp.")
            )
        if earn_on == PunchCardType.EarnOn.SPEND:
            step = cleaned.get("spend_step")
            if "spend_step" in cleaned and (step is None or step <= 0):
                self.add_error(
                    "spend_step", _("Enter the amount to spend for each stamp, e.g. 10.00.")
                )
        return cleaned


class SetTierForm(forms.Form):
    tier = forms.ModelChoiceField(
        label=_("Tier"),
        queryset=Tier.objects.order_by("rank"),
        required=False,
        empty_label=_("None (remove the staff-set tier)"),
        help_text=_(
            "The member keeps at least this tier until the date; qualifying for a higher "
            "tier still upgrades them."
        ),
    )
    until = forms.DateField(
        label=_("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The last day the tier holds. Not needed when removing it."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Required. Stays in the member's tier history, with your name."),
    )


def vip_source_choices():
    from members.models import VipMembership

    return [
        (VipMembership.Source.INVITATION, VipMembership.Source.INVITATION.label),
        (VipMembership.Source.PAID, VipMembership.Source.PAID.label),
    ]


class GrantVipForm(forms.Form):
    source = forms.ChoiceField(label=_("How"), choices=vip_source_choices, widget=forms.RadioSelect)
    months = forms.IntegerField(
        label=_("Months"),
        required=False,
        min_value=1,
        help_text=_("Leave empty for the programme's VIP period."),
    )
    fee = forms.CharField(
        label=_("Fee paid"),
        max_length=20,
        required=False,
        help_text=_("Required for a paid membership, e.g. 49.00."),
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=255,
        required=False,
        help_text=_("Required for an invitation: why the member is invited."),
    )


DEFAULT_STAMP_REASON = _("Stamped by staff")


class StampCardForm(forms.Form):
    card_type = forms.ModelChoiceField(
        label=_("Card"), queryset=PunchCardType.objects.filter(is_active=True).order_by("name")
    )
    count = forms.IntegerField(
        label=_("Stamps"), initial=1, min_value=1, max_value=MAX_MANUAL_STAMPS
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        initial=DEFAULT_STAMP_REASON,
        help_text=_("Required. Stays in the card's stamp log, with your name."),
    )
