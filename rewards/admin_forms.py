"""Forms of the rewards admin: the reward form with its kind checks, and the service views.

The reward form refuses what a kind cannot work without (a percentage for a percentage
discount, a cause for a donation, ...) on the field concerned, before the database
constraints would. The voucher forms only collect input; the services decide.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty import errors
from loyalty.models import Location
from loyalty.services import clean_amount
from members.models import Member
from rewards.models import Reward, Voucher

# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------


def season_months_clean(raw: str) -> str:
    """Return the season as stored ('6,7,8'), or raise if a month is not 1-12."""
    parts = [p for p in (raw or "").replace(" ", "").split(",") if p]
    months = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= 12:
            raise forms.ValidationError(
                _("Enter months as numbers from 1 to 12 separated by commas, e.g. 6,7,8."),
                code="invalid_month",
            )
        months.append(int(part))
    return ",".join(str(m) for m in sorted(set(months)))


class HttpsURLField(forms.URLField):
    """A URL field that reads a link typed without a scheme as https (Django 6's default)."""

    def __init__(self, *, assume_scheme: str = "https", **kwargs) -> None:
        super().__init__(assume_scheme=assume_scheme, **kwargs)


class RewardAdminForm(forms.ModelForm):
    """A catalogue reward, with the fields its kind needs checked on their own field."""

    class Meta:
        model = Reward
        # The admin builds the form from its fieldsets (with a name and description field per
        # language); this list is for the form used on its own.
        fields = (
            "name",
            "description",
            "kind",
            "image",
            "points_cost",
            "value",
            "discount_percent",
            "cause",
            "benefit_code",
            "digital_url",
            "available_from",
            "available_until",
            "season_months",
            "stock",
            "limit_per_member",
            "limit_period",
            "voucher_valid_days",
            "locations",
            "partner",
            "is_active",
            "display_order",
        )
        field_classes = {"digital_url": HttpsURLField}

    def clean_season_months(self) -> str:
        return season_months_clean(self.cleaned_data.get("season_months", ""))

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        needs = {
            Reward.Kind.PERCENT_DISCOUNT: (
                "discount_percent",
                _("A percentage discount needs the percentage (more than 0, at most 100)."),
            ),
            Reward.Kind.DONATION: ("cause", _("A donation needs the cause it goes to.")),
            Reward.Kind.PERK: (
                "benefit_code",
                _("A perk needs the benefit code that staff and the web shop read."),
            ),
            Reward.Kind.PARTNER: ("partner", _("A partner reward needs the partner.")),
        }
        if kind in needs:
            field, message = needs[kind]
            if (
                field in self.fields
                and cleaned.get(field) in (None, "")
                and field not in self.errors
            ):
                self.add_error(field, message)
        if kind in (Reward.Kind.STORE_CREDIT, Reward.Kind.AMOUNT_DISCOUNT):
            value = cleaned.get("value")
            if value is not None and value <= 0 and "value" not in self.errors:
                self.add_error("value", _("Enter the amount the voucher is worth."))
        start, end = cleaned.get("available_from"), cleaned.get("available_until")
        if start and end and end <= start:
            self.add_error("available_until", _("The end must be after the start."))
        if cleaned.get("limit_per_member") == 0:
            self.add_error(
                "limit_per_member",
                _("A limit of 0 would block everyone; leave it empty for no limit."),
            )
        return cleaned


class MysteryPoolFormSet(forms.BaseInlineFormSet):
    """The prizes of a mystery gift: other rewards, never the gift itself or another mystery."""

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            prize = form.cleaned_data.get("reward")
            if prize is None:
                continue
            if self.instance.pk and prize.pk == self.instance.pk:
                form.add_error("reward", _("A mystery gift cannot be its own prize."))
            elif prize.kind == Reward.Kind.MYSTERY:
                form.add_error("reward", _("A prize cannot be another mystery gift."))


class DigitalCodeFormSet(forms.BaseInlineFormSet):
    """The code pool of a digital reward: a code already given to a member stays as it is."""

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            instance = form.instance
            if instance.pk is None or instance.voucher_id is None:
                continue
            if (hasattr(form, "cleaned_data") and form.cleaned_data.get("DELETE")) or (
                "code" in form.changed_data
            ):
                form.add_error(
                    None,
                    _("Code %(code)s was given to a member; it cannot be changed or removed.")
                    % {"code": instance.code},
                )


# --------------------------------------------------------------------------------------------
# Vouchers
# --------------------------------------------------------------------------------------------


class VoucherUseForm(forms.Form):
    code = forms.CharField(
        label=_("Voucher code"),
        max_length=40,
        help_text=_("Type or scan the code; case and the dash do not matter."),
    )
    location = forms.ModelChoiceField(label=_("Location"), queryset=Location.objects.none())
    amount = forms.CharField(
        label=_("Amount"),
        max_length=20,
        required=False,
        help_text=_(
            "Store credit only: the amount to draw down. Leave empty to use all that is left."
        ),
    )

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

    def clean_amount(self):
        raw = self.cleaned_data["amount"]
        if raw in (None, ""):
            return None
        try:
            return clean_amount(raw)
        except errors.LoyaltyError as error:
            raise forms.ValidationError(error.detail, code=error.code) from None


class VoucherCancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Required. Kept on the voucher and in the member's ledger, with your name."),
    )


class VoucherIssueForm(forms.Form):
    """Give a member a voucher as staff goodwill: no points are spent."""

    member = forms.ModelChoiceField(
        label=_("Member"),
        queryset=Member.objects.all(),
        help_text=_("Look the member up with the magnifier, or enter the member's id."),
    )
    reward = forms.ModelChoiceField(
        label=_("Reward"),
        queryset=Reward.objects.filter(is_active=True).order_by("display_order", "pk"),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Required, e.g. 'Apology for a late order'. Kept on the voucher."),
    )

    def __init__(self, *args, admin_site, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rel = Voucher._meta.get_field("member").remote_field
        self.fields["member"].widget = ForeignKeyRawIdWidget(rel, admin_site)


# --------------------------------------------------------------------------------------------
# Settlement
# --------------------------------------------------------------------------------------------


def last_month(today: date | None = None) -> tuple[date, date]:
    """Return the first and last day of the month before ``today``."""
    today = today or timezone.localdate()
    last_day = today.replace(day=1) - timedelta(days=1)
    return last_day.replace(day=1), last_day


class SettlementPeriodForm(forms.Form):
    """A period of whole days in the installation's time zone, both days included."""

    date_from = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_until = forms.DateField(
        label=_("Until"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Included. The default is last month."),
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_until")
        if start and end and end < start:
            self.add_error("date_until", _("The end must not be before the start."))
        if start and end and (end - start).days > 366 * 5:
            self.add_error("date_until", _("Choose a period of at most five years."))
        return cleaned

    def period(self) -> tuple[datetime, datetime]:
        """Return the period as aware datetimes [start, end) for the selectors."""
        tz = timezone.get_default_timezone()
        start = datetime.combine(self.cleaned_data["date_from"], time.min)
        end = datetime.combine(self.cleaned_data["date_until"] + timedelta(days=1), time.min)
        return timezone.make_aware(start, tz), timezone.make_aware(end, tz)
