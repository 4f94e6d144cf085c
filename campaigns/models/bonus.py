"""Bonus campaigns: extra points on purchases for a while ("double points weekend")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import ConfigModel

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class BonusCampaign(ConfigModel):
    """Extra points on purchases inside a time window, for the purchases that match.

    The earning engine applies it (``loyalty.engine``, docs/campaigns.md): a multiplier of the
    base points or a fixed bonus per purchase, on chosen weekdays and hours, with conditions
    (minimum spend, category or SKU, locations, tiers, VIP, segment), a stacking mode and a
    per-member cap. Saving one refreshes the engine's cached configuration.
    """

    class Kind(models.TextChoices):
        MULTIPLIER = "multiplier", _("Multiply the base points")
        FIXED = "fixed", _("Fixed bonus points per purchase")

    class Stacking(models.TextChoices):
        STACK = "stack", _("Stack: adds to every other campaign")
        BEST = "best", _("Best only: the best of the best-only campaigns applies")
        EXCLUSIVE = "exclusive", _("Exclusive: no other campaign applies with it")

    name = models.CharField(
        _("name"),
        max_length=100,
        help_text=_("Shown on receipts and at the till, e.g. 'Double points weekend'."),
    )
    description = models.TextField(
        _("description"), blank=True, help_text=_("Shown to members and on POS screens.")
    )
    is_active = models.BooleanField(
        _("enabled"), default=True, help_text=_("Untick to stop the campaign at once.")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.MULTIPLIER)
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("2"),
        help_text=_("2 gives double base points, 3 triple. Used by multiplier campaigns."),
    )
    points = models.PositiveIntegerField(
        _("bonus points"), default=0, help_text=_("Given once per purchase by fixed campaigns.")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), help_text=_("The campaign ends at this moment."))
    weekdays = models.JSONField(
        _("weekdays"),
        default=list,
        blank=True,
        help_text=_("Leave empty for every day."),
    )
    hour_from = models.TimeField(
        _("from (time of day)"),
        null=True,
        blank=True,
        help_text=_("Local time. With 'until' earlier than 'from' the hours cross midnight."),
    )
    hour_until = models.TimeField(_("until (time of day)"), null=True, blank=True)
    min_spend = models.DecimalField(
        _("minimum spend"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("The purchase total must reach this."),
    )
    category = models.CharField(
        _("category"),
        max_length=64,
        blank=True,
        help_text=_("Only lines of this category earn the multiplier (and one must be bought)."),
    )
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    locations = models.ManyToManyField(
        "loyalty.Location",
        blank=True,
        related_name="bonus_campaigns",
        verbose_name=_("locations"),
        help_text=_("Leave empty for every location."),
    )
    tiers = models.ManyToManyField(
        "loyalty.Tier",
        blank=True,
        related_name="bonus_campaigns",
        verbose_name=_("tiers"),
        help_text=_("Leave empty for every tier (and members without one)."),
    )
    vip_only = models.BooleanField(_("VIP members only"), default=False)
    segment = models.ForeignKey(
        "campaigns.Segment",
        on_delete=models.PROTECT,  # a running campaign must not lose its audience silently
        null=True,
        blank=True,
        related_name="bonus_campaigns",
        verbose_name=_("segment"),
    )
    stacking = models.CharField(
        _("stacking"), max_length=10, choices=Stacking.choices, default=Stacking.STACK
    )
    cap = models.PositiveIntegerField(
        _("cap per member"),
        null=True,
        blank=True,
        help_text=_("Most bonus points one member can get from this campaign in all."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("bonus campaign")
        verbose_name_plural = _("bonus campaigns")
        ordering = ["-starts_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="bonus_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(kind="multiplier") | Q(multiplier__gt=1),
                name="bonus_multiplier_above_one",
            ),
            models.CheckConstraint(
                condition=~Q(kind="fixed") | Q(points__gt=0), name="bonus_fixed_points_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from campaigns.bonus import campaign_field_errors

        errors = campaign_field_errors(self)
        if errors:
            raise ValidationError(errors)

    def status(self, *, at: datetime | None = None) -> str:
        """Return "disabled", "scheduled", "running" or "ended" at ``at`` (now)."""
        at = at or timezone.now()
        if not self.is_active:
            return "disabled"
        if at < self.starts_at:
            return "scheduled"
        if at >= self.ends_at:
            return "ended"
        return "running"


class CampaignAward(models.Model):
    """The points a bonus campaign added to one purchase (for caps and reports)."""

    campaign = models.ForeignKey(
        BonusCampaign,
        on_delete=models.PROTECT,  # the record of points given outlives the campaign
        related_name="awards",
        verbose_name=_("campaign"),
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="campaign_awards",
        verbose_name=_("member"),
    )
    purchase = models.ForeignKey(
        "loyalty.Purchase",
        on_delete=models.PROTECT,
        related_name="campaign_awards",
        verbose_name=_("purchase"),
    )
    points = models.PositiveIntegerField(_("points"))
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("campaign award")
        verbose_name_plural = _("campaign awards")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "purchase"], name="campaign_award_once")
        ]
        indexes = [models.Index(fields=["member", "campaign"], name="campaign_award_member")]

    def __str__(self) -> str:
        return f"{self.campaign} +{self.points}"
