"""The programme core: programme settings, locations, purchases, visits and the points ledger.

The ledger is built like a bank's: append-only entries, lots that remember where points came
from and when they expire, and allocations that record which lots each debit drew down. The
only writers are the services in ``loyalty.services``; see docs/ledger.md for the rules.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _config_changed() -> None:
    # Keeps the per-process configuration cache (loyalty.selectors) coherent; no rule here.
    from loyalty.selectors import config_changed

    config_changed()


class ConfigModel(models.Model):
    """A model whose rows are programme configuration, cached by loyalty.selectors."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        _config_changed()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        _config_changed()
        return result


class Rounding(models.TextChoices):
    DOWN = "down", _("Round down (never give a part point)")
    HALF_UP = "half_up", _("Round half up (0.5 and more gives a point)")
    UP = "up", _("Round up (any part gives a point)")


class Validity(models.TextChoices):
    NEVER = "never", _("Points never expire")
    ROLLING = "rolling", _("N months after they were earned")
    END_OF_MONTH = "end_of_month", _("End of the month, N months after they were earned")
    END_OF_YEAR = "end_of_year", _("End of the year, N months after they were earned")


class TierMetric(models.TextChoices):
    POINTS = "points", _("Points earned")
    SPEND = "spend", _("Money spent")
    VISITS = "visits", _("Visits")


class TierWindow(models.TextChoices):
    ROLLING = "rolling", _("Rolling N months")
    CALENDAR_YEAR = "year", _("Calendar year")
    LIFETIME = "lifetime", _("Lifetime")


class TierDowngrade(models.TextChoices):
    ONE_STEP = "one_step", _("One tier at a time")
    QUALIFIED = "qualified", _("Straight to the tier the member qualifies for")


class VipMetric(models.TextChoices):
    OFF = "off", _("Off (invitation or paid only)")
    LIFETIME_SPEND = "lifetime_spend", _("Lifetime spend")
    WINDOW_SPEND = "window_spend", _("Spend in a window")
    WINDOW_POINTS = "window_points", _("Points earned in a window")


class Program(models.Model):
    """The loyalty programme of this installation: there is exactly one (primary key 1).

    Its settings drive the earning engine (rate, rounding, bonuses) and the ledger
    (pending days, validity). Read it with ``loyalty.selectors.program_get()``.
    """

    name = models.CharField(_("name"), max_length=100, default="Loyalty")
    currency = models.CharField(
        _("currency"), max_length=3, default="EUR", help_text=_("ISO 4217 code, e.g. EUR.")
    )
    points_name = models.CharField(
        _("name of the points"),
        max_length=30,
        default="points",
        help_text=_("What members see the points called, e.g. 'stars' or 'beans'."),
    )
    default_country = models.CharField(
        _("default country"),
        max_length=2,
        default="FI",
        help_text=_("Two-letter country code used to read phone numbers typed without +code."),
    )
    earn_rate = models.DecimalField(
        _("base earn rate"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Points per one unit of currency spent (1 = one point per euro)."),
    )
    rounding = models.CharField(
        _("rounding"),
        max_length=10,
        choices=Rounding.choices,
        default=Rounding.DOWN,
        help_text=_("Applied to each award line of a purchase separately."),
    )
    validity = models.CharField(
        _("points validity"), max_length=15, choices=Validity.choices, default=Validity.NEVER
    )
    validity_months = models.PositiveSmallIntegerField(
        _("validity in months"),
        default=12,
        help_text=_("N for the validity rules above. Ignored when points never expire."),
    )
    pending_days = models.PositiveSmallIntegerField(
        _("pending days"),
        default=0,
        help_text=_(
            "Points from purchases become spendable this many days later, after the return "
            "window. 0 makes them spendable at once."
        ),
    )
    welcome_bonus = models.PositiveIntegerField(
        _("welcome bonus"), default=0, help_text=_("Points given once when a member enrols.")
    )
    first_purchase_bonus = models.PositiveIntegerField(
        _("first purchase bonus"),
        default=0,
        help_text=_("Extra points on a member's first purchase."),
    )
    points_per_visit = models.PositiveIntegerField(
        _("points per visit"),
        default=0,
        help_text=_("Points for a check-in without a purchase (kiosk or staff)."),
    )
    min_redemption_points = models.PositiveIntegerField(
        _("minimum points for a redemption"), default=0
    )
    point_value = models.DecimalField(
        _("value of a point"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Money one point is worth when paying with points at the till (0.01 = one cent). "
            "0 turns paying with points off."
        ),
    )
    max_purchase_amount = models.DecimalField(
        _("largest purchase accepted"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("10000.00"),
        help_text=_("Larger totals are refused as typing errors."),
    )
    max_adjustment_points = models.PositiveIntegerField(
        _("largest manual adjustment"),
        default=100000,
        help_text=_("Staff adjustments above this many points are refused."),
    )
    logo = models.ImageField(_("logo"), upload_to="programme/", blank=True)
    primary_colour = models.CharField(
        _("main colour"),
        max_length=7,
        default="#0b5cad",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #c0a040."))],
        help_text=_("Used on the member portal and the kiosk. Keep it dark enough for white text."),
    )
    kiosk_cooldown_minutes = models.PositiveSmallIntegerField(
        _("kiosk cooldown (minutes)"),
        default=60,
        help_text=_("A phone number checked in at a kiosk cannot check in again for this long."),
    )
    tier_metric = models.CharField(
        _("tiers qualify on"),
        max_length=10,
        choices=TierMetric.choices,
        default=TierMetric.SPEND,
        help_text=_("Never the spendable balance: redeeming points never demotes a member."),
    )
    tier_window = models.CharField(
        _("tier qualifying window"),
        max_length=10,
        choices=TierWindow.choices,
        default=TierWindow.ROLLING,
    )
    tier_window_months = models.PositiveSmallIntegerField(
        _("rolling window in months"), default=12, validators=[MinValueValidator(1)]
    )
    tier_grace_days = models.PositiveSmallIntegerField(
        _("grace period before a downgrade (days)"), default=30
    )
    tier_downgrade = models.CharField(
        _("downgrade"), max_length=12, choices=TierDowngrade.choices, default=TierDowngrade.ONE_STEP
    )
    vip_auto_metric = models.CharField(
        _("automatic VIP on"),
        max_length=16,
        choices=VipMetric.choices,
        default=VipMetric.OFF,
        help_text=_("Grant VIP status automatically when a member reaches the threshold."),
    )
    vip_auto_threshold = models.DecimalField(
        _("automatic VIP threshold"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    vip_window_months = models.PositiveSmallIntegerField(
        _("VIP window in months"),
        default=12,
        validators=[MinValueValidator(1)],
        help_text=_("For the 'in a window' metrics."),
    )
    vip_period_months = models.PositiveSmallIntegerField(
        _("VIP period in months"),
        default=12,
        validators=[MinValueValidator(1)],
        help_text=_("How long automatic and invited VIP status lasts before renewal."),
    )
    vip_earn_bonus_percent = models.DecimalField(
        _("VIP earn bonus (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Extra points for VIP members, as a percentage of the base points."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programme")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="program_is_singleton")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
        _config_changed()


class Location(models.Model):
    """A shop, branch or till point where members earn and spend. Staff belong to locations."""

    name = models.CharField(_("name"), max_length=100)
    code = models.SlugField(
        _("code"), max_length=30, unique=True, help_text=_("Short unique code, e.g. 'main-st'.")
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    partner = models.ForeignKey(
        "rewards.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="locations",
        verbose_name=_("partner"),
        help_text=_(
            "Set for a partner's shop: points earned here are funded by that partner. "
            "Empty for the programme's own locations."
        ),
    )
    kiosk_token = models.CharField(
        _("kiosk token"),
        max_length=64,
        blank=True,
        help_text=_("Secret that opens this location's kiosk page; empty: no kiosk."),
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff"),
        related_name="loyalty_locations",
        blank=True,
        help_text=_("Staff who work here; the counter page offers them these locations."),
    )

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EarnRule(ConfigModel):
    """An extra earning rule the engine applies on top of the base rate.

    Multipliers raise the base points of the purchase lines they match (by category or SKU);
    fixed bonuses give points per matching item; thresholds give points when one purchase
    reaches an amount. Stacking is described in docs/ledger.md.
    """

    class Kind(models.TextChoices):
        MULTIPLIER = "multiplier", _("Multiplier on matching lines")
        FIXED_PER_ITEM = "fixed_per_item", _("Fixed points per matching item")
        THRESHOLD = "threshold", _("Bonus for spending over an amount")

    name = models.CharField(
        _("name"), max_length=100, help_text=_("Shown to staff and members in the award lines.")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    category = models.CharField(
        _("category"), max_length=64, blank=True, help_text=_("Match lines of this category.")
    )
    sku = models.CharField(
        _("SKU"), max_length=64, blank=True, help_text=_("Match lines of this SKU.")
    )
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=6,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("1"))],
        help_text=_("2 gives double base points on the matching lines."),
    )
    points = models.PositiveIntegerField(
        _("points"), default=0, help_text=_("For fixed bonuses (per item) and thresholds.")
    )
    min_total = models.DecimalField(
        _("minimum total"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("For thresholds: the purchase total that earns the bonus."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="threshold") | Q(min_total__isnull=False, min_total__gt=0),
                name="earnrule_threshold_total",
            ),
            models.CheckConstraint(
                condition=Q(kind="threshold") | ~Q(category="", sku=""),
                name="earnrule_line_rule_matches_something",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_active_at(self, *, at=None) -> bool:
        at = at or timezone.now()
        return (
            self.is_active
            and (self.valid_from is None or self.valid_from <= at)
            and (self.valid_until is None or at < self.valid_until)
        )


class Source(models.TextChoices):
    COUNTER = "counter", _("Counter page")
    ADMIN = "admin", _("Admin")
    API = "api", _("API")
    KIOSK = "kiosk", _("Kiosk")
    PORTAL = "portal", _("Member portal")
    IMPORT = "import", _("Import")
    SYSTEM = "system", _("System")


class Purchase(models.Model):
    """A member's purchase at a location, recorded once per receipt (``external_id``)."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,  # the ledger points at purchases; members are never deleted
        related_name="purchases",
        verbose_name=_("member"),
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="purchases", verbose_name=_("location")
    )
    external_id = models.CharField(
        _("receipt number"),
        max_length=64,
        null=True,
        blank=True,
        help_text=_("The till's receipt or order id. Recording it again awards nothing more."),
    )
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    occurred_at = models.DateTimeField(_("purchased at"), default=timezone.now)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,  # audit: who recorded it must stay known
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    points_awarded = models.IntegerField(_("points awarded"), default=0)
    awards = models.JSONField(
        _("award lines"), default=list, blank=True, help_text=_("Why the points were awarded.")
    )
    refunded_amount = models.DecimalField(
        _("refunded"), max_digits=12, decimal_places=2, default=Decimal("0")
    )
    points_clawed_back = models.IntegerField(_("points taken back"), default=0)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.UniqueConstraint(
                fields=["location", "external_id"],
                condition=Q(external_id__isnull=False),
                name="purchase_unique_receipt_per_location",
            ),
            models.CheckConstraint(condition=Q(total__gt=0), name="purchase_total_positive"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("total")),
                name="purchase_refund_within_total",
            ),
        ]
        indexes = [models.Index(fields=["member", "-occurred_at"], name="purchase_member_time")]

    def __str__(self) -> str:
        return self.external_id or f"#{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("admin:loyalty_purchase_change", args=[self.pk])

    @property
    def refundable_amount(self) -> Decimal:
        return self.total - self.refunded_amount


class PurchaseLine(models.Model):
    """One line of a purchase: what was bought, for the category and SKU earning rules."""

    purchase = models.ForeignKey(
        Purchase, on_delete=models.CASCADE, related_name="lines", verbose_name=_("purchase")
    )
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, help_text=_("Line total, quantity included.")
    )

    class Meta:
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")

    def __str__(self) -> str:
        return self.description or self.sku or self.category


class Refund(models.Model):
    """A full or partial refund of a purchase and the points it took back."""

    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("purchase")
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    points_clawed_back = models.IntegerField(_("points taken back"))
    points_forgiven = models.IntegerField(
        _("points forgiven"),
        default=0,
        help_text=_(
            "Part of the points taken back that had already expired, so nothing was taken."
        ),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("refunded at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def __str__(self) -> str:
        return f"{self.purchase} −{self.amount}"


class Visit(models.Model):
    """A check-in without a purchase (kiosk or staff)."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="visits", verbose_name=_("member")
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="visits", verbose_name=_("location")
    )
    occurred_at = models.DateTimeField(_("visited at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    points_awarded = models.IntegerField(_("points awarded"), default=0)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [models.Index(fields=["member", "-occurred_at"], name="visit_member_time")]

    def __str__(self) -> str:
        return f"{self.member} @ {self.location}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    BONUS = "bonus", _("Bonus")
    WELCOME = "welcome", _("Welcome bonus")
    VISIT = "visit", _("Visit")
    RELEASE = "release", _("Became spendable")
    REDEEM = "redeem", _("Redeemed")
    SPEND = "spend", _("Paid with points")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjustment")
    REFUND = "refund", _("Refund")
    REVERSE = "reverse", _("Reversal")
    DEBT = "debt", _("Owed after a refund")
    DEBT_REPAY = "debt_repay", _("Repaid owed points")


class PointsLot(models.Model):
    """Points from one credit: how many are left, when they become spendable and expire.

    A lot is *available* once released (``is_available``); until then its points are pending.
    Debits draw down available lots, earliest expiry first.
    """

    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="lots", verbose_name=_("member")
    )
    amount = models.PositiveIntegerField(_("points"))
    remaining = models.PositiveIntegerField(_("remaining"))
    is_available = models.BooleanField(_("spendable"), default=True)
    available_at = models.DateTimeField(_("spendable from"))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,  # refunds claw back from the lot their purchase funded
        null=True,
        blank=True,
        related_name="lots",
        verbose_name=_("purchase"),
    )
    funded_by = models.ForeignKey(
        "rewards.Partner",
        on_delete=models.PROTECT,  # settlement traces spent points to who funded them
        null=True,
        blank=True,
        related_name="funded_lots",
        verbose_name=_("funded by"),
        help_text=_("The partner that owes the value of these points; empty for the programme."),
    )

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")),
                name="lot_remaining_within_amount",
            ),
        ]
        indexes = [
            # Debit allocation and the member page: the member's lots that still hold points.
            models.Index(
                fields=["member", "is_available", "expires_at"],
                condition=Q(remaining__gt=0),
                name="lot_open_by_member",
            ),
            # Nightly jobs: lots to expire and to release.
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_open_expiry"
            ),
            models.Index(
                fields=["available_at"],
                condition=Q(is_available=False, remaining__gt=0),
                name="lot_pending_release",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount}"


class LedgerEntry(models.Model):
    """One append-only change to a member's points. Never updated or deleted.

    ``points`` changes the spendable balance, ``pending_points`` the pending balance and
    ``debt_points`` the points owed after a refund of points already spent.
    """

    class SourceType(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        VISIT = "visit", _("Visit")
        VOUCHER = "voucher", _("Voucher")
        CAMPAIGN = "campaign", _("Campaign")
        STAFF = "staff", _("Staff")
        SYSTEM = "system", _("System")

    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="ledger", verbose_name=_("member")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=EntryKind.choices)
    points = models.IntegerField(_("points"), default=0)
    pending_points = models.IntegerField(_("pending points"), default=0)
    debt_points = models.IntegerField(_("owed points"), default=0)
    balance_after = models.IntegerField(_("balance after"))
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    source_type = models.CharField(_("source"), max_length=10, choices=SourceType.choices)
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("purchase"),
    )
    visit = models.ForeignKey(
        Visit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("visit"),
    )
    lot = models.ForeignKey(
        PointsLot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("lot"),
        help_text=_("For credits and releases: the lot the points went to."),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,  # audit: staff changes keep who made them
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("time"), db_index=False)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [models.Index(fields=["member", "-id"], name="entry_member_latest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"


class LotAllocation(models.Model):
    """How many points a debit (or expiry or claw-back) took from one lot."""

    entry = models.ForeignKey(
        LedgerEntry, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("entry")
    )
    lot = models.ForeignKey(
        PointsLot, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("lot")
    )
    points = models.PositiveIntegerField(_("points"))

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="allocation_positive")
        ]

    def __str__(self) -> str:
        return f"{self.points} from lot {self.lot_id}"


class Event(models.Model):
    """An outbox row: something that happened, written in the same transaction as the change.

    Feeds the member timeline, the audit trail and (with the API issue) webhooks. Delivered
    after commit by ``loyalty.tasks.event_dispatch``.
    """

    type = models.CharField(_("type"), max_length=50, db_index=False)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("member"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    payload = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["member", "-id"], name="event_member_latest"),
            models.Index(
                fields=["id"], condition=Q(dispatched_at__isnull=True), name="event_undispatched"
            ),
        ]

    def __str__(self) -> str:
        return self.type


class Benefit(models.Model):
    """A perk with a stable code that staff, the API and web shops read (e.g. free_shipping).

    Tiers grant benefits; ``for_vip`` benefits belong to every VIP member.
    """

    code = models.SlugField(
        _("code"),
        max_length=50,
        unique=True,
        help_text=_(
            "Stable code read by tills and web shops, e.g. free_shipping, priority_service."
        ),
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    for_vip = models.BooleanField(_("VIP benefit"), default=False)

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Tier(ConfigModel):
    """A level of the programme (Bronze, Silver, Gold…), reached by the programme's metric.

    The member's tier multiplies the base points (its own award line). Upgrades happen at
    once; downgrades only at re-evaluation after the window and the grace period.
    """

    rank = models.PositiveSmallIntegerField(
        _("rank"), unique=True, help_text=_("1 for the first tier; higher ranks are better.")
    )
    name = models.CharField(_("name"), max_length=50)
    colour = models.CharField(
        _("colour"),
        max_length=7,
        default="#8a6d3b",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #c0a040."))],
    )
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Points, money or visits in the window needed for this tier."),
    )
    multiplier = models.DecimalField(
        _("earn multiplier"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("1"))],
        help_text=_("2 gives twice the base points."),
    )
    benefits = models.ManyToManyField(
        Benefit, verbose_name=_("benefits"), related_name="tiers", blank=True
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(rank__gte=1), name="tier_rank_positive"),
            models.CheckConstraint(
                condition=Q(multiplier__gte=1), name="tier_multiplier_at_least_one"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TierChange(models.Model):
    """One change of a member's tier: when, from what to what, why and by whom."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Qualified")
        DOWNGRADE = "downgrade", _("Re-evaluated")
        MANUAL = "manual", _("Set by staff")
        FLOOR_ENDED = "floor_ended", _("Staff-set tier ended")

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="tier_changes",
        verbose_name=_("member"),
    )
    from_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from"),
    )
    to_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("to"),
    )
    reason = models.CharField(_("why"), max_length=12, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    metric = models.DecimalField(
        _("qualifying value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        indexes = [models.Index(fields=["member", "-created_at"], name="tierchange_member_time")]

    def __str__(self) -> str:
        return f"{self.from_tier} → {self.to_tier}"


class PunchCardType(models.Model):
    """A stamp card: "buy 10 coffees, the 11th is free", "every 7th visit"."""

    class EarnOn(models.TextChoices):
        VISIT = "visit", _("A visit (check-in or purchase)")
        PURCHASE = "purchase", _("A purchase")
        ITEM = "item", _("A purchase with a product of a category or SKU")
        SPEND = "spend", _("Every full amount spent")

    name = models.CharField(_("name"), max_length=100)
    stamps_needed = models.PositiveSmallIntegerField(
        _("stamps needed"), validators=[MinValueValidator(1)], help_text=_("10 for a coffee card.")
    )
    earn_on = models.CharField(
        _("a stamp for"), max_length=10, choices=EarnOn.choices, default=EarnOn.PURCHASE
    )
    category = models.CharField(_("category"), max_length=64, blank=True)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    per_item = models.BooleanField(
        _("one stamp per item"),
        default=True,
        help_text=_("For product cards: a stamp per matching item, or one per purchase."),
    )
    spend_step = models.DecimalField(
        _("amount per stamp"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("For spend cards: one stamp for every full amount spent in a purchase."),
    )
    max_stamps_per_day = models.PositiveSmallIntegerField(
        _("most stamps a day"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    validity_days = models.PositiveSmallIntegerField(
        _("card valid for (days)"),
        null=True,
        blank=True,
        help_text=_("Counted from the card's first stamp. Empty: never expires."),
    )
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        related_name="punch_card_types",
        verbose_name=_("reward when full"),
    )
    locations = models.ManyToManyField(
        Location,
        verbose_name=_("locations"),
        related_name="punch_card_types",
        blank=True,
        help_text=_("Where stamps are given. Empty: everywhere."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("punch card type")
        verbose_name_plural = _("punch card types")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stamps_needed__gte=1), name="punchcardtype_needs_stamps"
            ),
            models.CheckConstraint(
                condition=~Q(earn_on="spend") | Q(spend_step__isnull=False, spend_step__gt=0),
                name="punchcardtype_spend_has_step",
            ),
            models.CheckConstraint(
                condition=~Q(earn_on="item") | ~Q(category="", sku=""),
                name="punchcardtype_item_matches_something",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PunchCard(models.Model):
    """One card of a member: stamps so far; completed cards issue a voucher."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Collecting")
        COMPLETED = "completed", _("Completed")
        EXPIRED = "expired", _("Expired")

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="punch_cards",
        verbose_name=_("member"),
    )
    card_type = models.ForeignKey(
        PunchCardType, on_delete=models.PROTECT, related_name="cards", verbose_name=_("card")
    )
    stamps = models.PositiveSmallIntegerField(_("stamps"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    started_at = models.DateTimeField(_("first stamp"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    voucher = models.OneToOneField(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="punch_card",
        verbose_name=_("voucher"),
    )

    class Meta:
        verbose_name = _("punch card")
        verbose_name_plural = _("punch cards")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "card_type"],
                condition=Q(status="active"),
                name="punchcard_one_active_per_type",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="active"), name="punchcard_active_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.card_type} {self.stamps}/{self.card_type.stamps_needed}"


class Stamp(models.Model):
    """An append-only record of stamps added to (or, on a refund, removed from) a card."""

    class Source(models.TextChoices):
        VISIT = "visit", _("Visit")
        PURCHASE = "purchase", _("Purchase")
        MANUAL = "manual", _("By hand")
        REFUND = "refund", _("Refund")

    card = models.ForeignKey(
        PunchCard, on_delete=models.PROTECT, related_name="stamp_log", verbose_name=_("card")
    )
    count = models.SmallIntegerField(_("stamps"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stamps",
        verbose_name=_("purchase"),
    )
    visit = models.ForeignKey(
        Visit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stamps",
        verbose_name=_("visit"),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("stamp")
        verbose_name_plural = _("stamps")

    def __str__(self) -> str:
        return f"{self.count:+d}"


class ApiKey(models.Model):
    """A key an integrator (a till, a web shop, a partner) uses to call the REST API.

    The secret is shown once when the key is created and stored only as a SHA-256 hash
    (the secret is 256 random bits, so a fast hash is enough). A key is scoped to one
    location or one partner and holds a set of permissions; revoking it takes effect at once.
    """

    class Permission(models.TextChoices):
        READ_MEMBERS = "read_members", _("Read members")
        ENROL = "enrol", _("Enrol and update members")
        RECORD_PURCHASES = "record_purchases", _("Record purchases, refunds and visits")
        REDEEM = "redeem", _("Redeem rewards and pay with points")
        USE_VOUCHERS = "use_vouchers", _("Validate and use vouchers")
        MANAGE_WEBHOOKS = "manage_webhooks", _("Manage webhooks")
        READ_EVENTS = "read_events", _("Read the events feed")

    name = models.CharField(_("name"), max_length=100, help_text=_("E.g. 'Till 2, Main Street'."))
    prefix = models.CharField(_("key id"), max_length=12, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="api_keys",
        verbose_name=_("location"),
        help_text=_("Purchases, visits and vouchers through this key happen here."),
    )
    partner = models.ForeignKey(
        "rewards.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="api_keys",
        verbose_name=_("partner"),
        help_text=_("A partner's key sees and uses only that partner's vouchers."),
    )
    permissions = models.JSONField(_("permissions"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(location__isnull=True) | Q(partner__isnull=True),
                name="apikey_one_scope",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_permission(self, permission: str) -> bool:
        return self.is_active and permission in (self.permissions or [])


class IdempotencyRecord(models.Model):
    """The first response to an API write sent with an ``Idempotency-Key`` header.

    A retry with the same key and the same request gets this response again; the same key
    with a different request is refused (409). Kept for a day.
    """

    api_key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, related_name="+", verbose_name=_("API key")
    )
    key = models.CharField(_("idempotency key"), max_length=100)
    request_hash = models.CharField(_("request hash"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("status"), null=True)
    response = models.JSONField(_("response"), null=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("idempotent response")
        verbose_name_plural = _("idempotent responses")
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return self.key


class WebhookSubscription(models.Model):
    """An integrator's URL that receives the programme's events as signed HTTP POSTs.

    Events leave through the outbox: after commit each matching subscription gets a
    ``WebhookDelivery`` that is sent, and retried for a day, by Celery (see docs/webhooks.md).
    A subscription created through the API belongs to that API key, which alone sees it.
    """

    name = models.CharField(_("name"), max_length=100, help_text=_("E.g. 'Web shop'."))
    url = models.URLField(
        _("URL"),
        max_length=500,
        help_text=_("http(s) address that receives the events as JSON POST requests."),
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        editable=False,
        help_text=_("The receiver checks the X-Loyalty-Signature header with this secret."),
    )
    event_types = models.JSONField(
        _("event types"),
        default=list,
        blank=True,
        help_text=_("Only these events are sent; none chosen means every event."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Paused subscriptions receive nothing.")
    )
    api_key = models.ForeignKey(
        ApiKey,
        # The subscription is the key holder's own: it goes when the key goes.
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        verbose_name=_("API key"),
        help_text=_("The API key that created it; empty for subscriptions made in the admin."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One event sent to one subscription: its state, attempts and last answer.

    Pending deliveries are retried with exponential backoff until a day after the first
    attempt, then abandoned; the admin can replay any delivery.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        ABANDONED = "abandoned", _("Abandoned")

    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("subscription"),
    )
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="+", verbose_name=_("event")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    first_attempt_at = models.DateTimeField(_("first attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="webhookdelivery_once_per_event"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhookdelivery_due",
            ),
            models.Index(fields=["subscription", "-id"], name="webhookdelivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.subscription}"
