"""Rewards: the catalogue, vouchers, store credit, pay-with-points and partners (coalition).

Members turn points into rewards (``reward_redeem``), or receive them without points from
punch cards, campaigns or staff (``voucher_issue``). A reward becomes a ``Voucher`` with an
unguessable code that staff or a partner use at the till (``voucher_use``). Partners are
businesses that honour rewards or give points; ``partner_settlement`` says who owes whom.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Partner(models.Model):
    """A neighbouring business in the coalition: honours its rewards, may fund points."""

    class Settlement(models.TextChoices):
        FIXED = "fixed", _("Fixed amount per redemption")
        SHARE = "share", _("Share of the reward's value")

    name = models.CharField(_("name"), max_length=100, unique=True)
    logo = models.ImageField(_("logo"), upload_to="partners/", blank=True)
    contact_name = models.CharField(_("contact person"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    website = models.URLField(_("website"), blank=True)
    settlement = models.CharField(
        _("settlement terms"), max_length=10, choices=Settlement.choices, default=Settlement.SHARE
    )
    settlement_fixed = models.DecimalField(
        _("fixed amount per redemption"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "What the programme pays the partner for each of its vouchers used (once per voucher)."
        ),
    )
    settlement_share = models.DecimalField(
        _("share of value (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("100"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Percentage of the reward's value the programme pays the partner per use."),
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("partner staff"),
        related_name="partners",
        blank=True,
        help_text=_("Users who may validate and use this partner's vouchers on the partner page."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        permissions = [("use_partner_page", _("Can use the partner page"))]

    def __str__(self) -> str:
        return self.name


class Reward(models.Model):
    """An item of the rewards catalogue.

    ``points_cost`` empty means the reward is never sold for points: it is only issued by
    punch cards, campaigns or staff. The kind decides what a voucher of it means at the till
    (see docs/rewards.md).
    """

    class Kind(models.TextChoices):
        FREE_PRODUCT = "free_product", _("Free product")
        FREE_SERVICE = "free_service", _("Free service")
        PERCENT_DISCOUNT = "percent_discount", _("Percentage discount")
        AMOUNT_DISCOUNT = "amount_discount", _("Fixed-amount discount")
        FREE_SHIPPING = "free_shipping", _("Free shipping")
        STORE_CREDIT = "store_credit", _("Store credit")
        EXPERIENCE = "experience", _("Experience or event")
        DONATION = "donation", _("Charity donation")
        PARTNER = "partner", _("Partner reward")
        MYSTERY = "mystery", _("Mystery gift")
        DIGITAL = "digital", _("Digital reward")
        PERK = "perk", _("Perk (upgrade, priority, warranty, returns)")

    class Period(models.TextChoices):
        DAY = "day", _("per day")
        WEEK = "week", _("per week")
        MONTH = "month", _("per month")
        YEAR = "year", _("per year")
        EVER = "ever", _("ever")

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    image = models.ImageField(_("image"), upload_to="rewards/", blank=True)
    points_cost = models.PositiveIntegerField(
        _("points cost"),
        null=True,
        blank=True,
        help_text=_("Leave empty for rewards that are only given (punch cards, campaigns, staff)."),
    )
    value = models.DecimalField(
        _("value"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "What the reward is worth in money: the store credit or discount amount, or the cost "
            "to the business (for liability and partner settlement)."
        ),
    )
    discount_percent = models.DecimalField(
        _("discount (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text=_("For percentage discounts."),
    )
    cause = models.CharField(
        _("cause"), max_length=120, blank=True, help_text=_("For donations: the charity or cause.")
    )
    benefit_code = models.SlugField(
        _("benefit code"),
        max_length=50,
        blank=True,
        help_text=_(
            "For perks: the code staff and the web shop read, e.g. extended_warranty, "
            "priority_service, better_returns."
        ),
    )
    digital_url = models.URLField(
        _("download link"), blank=True, help_text=_("For digital rewards delivered as a download.")
    )
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    season_months = models.CharField(
        _("season"),
        max_length=40,
        blank=True,
        help_text=_("Months when it can be redeemed, e.g. '6,7,8' for summer. Empty: all year."),
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("Units left. Empty: unlimited.")
    )
    limit_per_member = models.PositiveSmallIntegerField(
        _("limit per member"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    limit_period = models.CharField(
        _("limit period"), max_length=10, choices=Period.choices, default=Period.MONTH
    )
    voucher_valid_days = models.PositiveSmallIntegerField(
        _("voucher valid for (days)"),
        null=True,
        blank=True,
        default=30,
        help_text=_("Empty: vouchers never expire."),
    )
    locations = models.ManyToManyField(
        "loyalty.Location",
        verbose_name=_("usable at"),
        related_name="rewards",
        blank=True,
        help_text=_("Empty: usable at every location."),
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("partner"),
        help_text=_("The partner that honours this reward; only its staff can use the vouchers."),
    )
    min_tier = models.ForeignKey(
        "loyalty.Tier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("minimum tier"),
    )
    vip_only = models.BooleanField(_("VIP members only"), default=False)
    vip_early_access_days = models.PositiveSmallIntegerField(
        _("VIP early access (days)"),
        default=0,
        help_text=_("VIP members may redeem this many days before 'available from'."),
    )
    mystery_pool = models.ManyToManyField(
        "self",
        through="MysteryPoolEntry",
        symmetrical=False,
        related_name="in_mystery_pools",
        blank=True,
        verbose_name=_("mystery pool"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    display_order = models.PositiveIntegerField(_("display order"), default=100)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["display_order", "points_cost", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="percent_discount") | Q(discount_percent__isnull=False),
                name="reward_percent_discount_has_percent",
            ),
            models.CheckConstraint(
                condition=~Q(kind="partner") | Q(partner__isnull=False),
                name="reward_partner_kind_has_partner",
            ),
            models.CheckConstraint(
                condition=Q(available_until__isnull=True)
                | Q(available_from__isnull=True)
                | Q(available_until__gt=models.F("available_from")),
                name="reward_window_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("admin:rewards_reward_change", args=[self.pk])

    @property
    def months(self) -> set[int]:
        """Return the season's months (1-12); empty means all year."""
        return {
            int(m)
            for m in self.season_months.replace(" ", "").split(",")
            if m.isdigit() and 1 <= int(m) <= 12
        }


class MysteryPoolEntry(models.Model):
    """One possible prize of a mystery gift, with its weight in the draw."""

    mystery = models.ForeignKey(
        Reward,
        on_delete=models.CASCADE,
        related_name="pool_entries",
        verbose_name=_("mystery gift"),
    )
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, related_name="+", verbose_name=_("possible prize")
    )
    weight = models.PositiveSmallIntegerField(
        _("weight"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Higher is likelier."),
    )

    class Meta:
        verbose_name = _("mystery prize")
        verbose_name_plural = _("mystery prizes")
        constraints = [
            models.UniqueConstraint(fields=["mystery", "reward"], name="mystery_pool_unique"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="mystery_pool_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.reward} ×{self.weight}"


class DigitalCode(models.Model):
    """A code from a pool of a digital reward (e.g. an e-book or streaming code)."""

    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, related_name="digital_codes", verbose_name=_("reward")
    )
    code = models.CharField(_("code"), max_length=100)
    voucher = models.OneToOneField(
        "Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="digital_code",
        verbose_name=_("given with voucher"),
    )

    class Meta:
        verbose_name = _("digital code")
        verbose_name_plural = _("digital codes")
        constraints = [
            models.UniqueConstraint(fields=["reward", "code"], name="digital_code_unique")
        ]

    def __str__(self) -> str:
        return self.code


class Voucher(models.Model):
    """A reward a member holds: a code to show at the till, with a state and an expiry."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    class Origin(models.TextChoices):
        REDEEMED = "redeemed", _("Redeemed with points")
        PUNCH_CARD = "punch_card", _("Punch card")
        CAMPAIGN = "campaign", _("Campaign")
        STAFF = "staff", _("Staff goodwill")
        REFERRAL = "referral", _("Referral")
        SYSTEM = "system", _("System")

    code = models.CharField(_("code"), max_length=16, unique=True, editable=False)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="vouchers",
        verbose_name=_("member"),
    )
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, related_name="vouchers", verbose_name=_("reward")
    )
    redeemed_reward = models.ForeignKey(
        Reward,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("redeemed as"),
        help_text=_("For mystery gifts: the mystery reward that was redeemed."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ISSUED
    )
    origin = models.CharField(_("origin"), max_length=12, choices=Origin.choices)
    points_spent = models.PositiveIntegerField(_("points spent"), default=0)
    value = models.DecimalField(_("value"), max_digits=10, decimal_places=2, default=Decimal("0"))
    remaining_value = models.DecimalField(
        _("remaining value"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("For store credit: what is left to spend."),
    )
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_location = models.ForeignKey(
        "loyalty.Location",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used at"),
    )
    used_partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="used_vouchers",
        verbose_name=_("used by partner"),
    )
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=255, blank=True)
    ledger_entry = models.OneToOneField(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="voucher",
        verbose_name=_("points entry"),
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, null=True, blank=True)
    draw = models.JSONField(
        _("mystery draw"),
        default=dict,
        blank=True,
        help_text=_("Seed, pool and prize of the draw."),
    )

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        permissions = [("use_voucher", _("Can use vouchers at the till"))]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="voucher_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(remaining_value__isnull=True) | Q(remaining_value__gte=0),
                name="voucher_remaining_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status", "-issued_at"], name="voucher_member_status"),
            models.Index(fields=["reward", "member", "issued_at"], name="voucher_reward_member"),
            models.Index(
                fields=["expires_at"], condition=Q(status="issued"), name="voucher_open_expiry"
            ),
        ]

    def __str__(self) -> str:
        return self.formatted_code

    def get_absolute_url(self) -> str:
        return reverse("admin:rewards_voucher_change", args=[self.pk])

    @property
    def formatted_code(self) -> str:
        return f"{self.code[:5]}-{self.code[5:]}" if len(self.code) == 10 else self.code

    def is_usable(self, *, at=None) -> bool:
        at = at or timezone.now()
        return self.status == self.Status.ISSUED and (
            self.expires_at is None or at < self.expires_at
        )


class VoucherUse(models.Model):
    """One use of a voucher: the whole voucher, or a draw-down of store credit."""

    voucher = models.ForeignKey(
        Voucher, on_delete=models.PROTECT, related_name="uses", verbose_name=_("voucher")
    )
    amount = models.DecimalField(_("amount"), max_digits=10, decimal_places=2)
    location = models.ForeignKey(
        "loyalty.Location",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("location"),
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="voucher_uses",
        verbose_name=_("partner"),
    )
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    used_at = models.DateTimeField(_("time"), default=timezone.now)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)

    class Meta:
        verbose_name = _("voucher use")
        verbose_name_plural = _("voucher uses")
        indexes = [models.Index(fields=["partner", "used_at"], name="voucheruse_partner_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["voucher", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="voucheruse_unique_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.voucher} {self.amount}"


class PointsPayment(models.Model):
    """Points turned into a discount on a purchase at the till ("pay with points")."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="points_payments",
        verbose_name=_("member"),
    )
    location = models.ForeignKey(
        "loyalty.Location", on_delete=models.PROTECT, related_name="+", verbose_name=_("location")
    )
    points = models.PositiveIntegerField(_("points"))
    amount = models.DecimalField(_("discount"), max_digits=10, decimal_places=2)
    external_id = models.CharField(_("receipt number"), max_length=64, null=True, blank=True)
    ledger_entry = models.OneToOneField(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,
        related_name="points_payment",
        verbose_name=_("points entry"),
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
        verbose_name = _("payment with points")
        verbose_name_plural = _("payments with points")
        constraints = [
            models.UniqueConstraint(
                fields=["location", "external_id"],
                condition=Q(external_id__isnull=False),
                name="points_payment_unique_receipt",
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="points_payment_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.points} → {self.amount}"
