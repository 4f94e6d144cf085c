"""Referrals: a member invites a friend with a code; both are rewarded on the friend's first
qualifying purchase, once the return window of that purchase has closed.

The rules live in ``campaigns.referrals``; these models only hold the state, with database
constraints for what must never happen twice (one referral per new member, one pay-out per
milestone and referrer).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import ConfigModel, Source


class ReferralCode(models.Model):
    """A member's own invitation code, made the first time it is needed.

    Random (``secrets``), 8 characters without look-alikes (no 0/O, 1/I/L), so a code
    cannot be guessed from another member's.
    """

    member = models.OneToOneField(
        "members.Member",
        on_delete=models.PROTECT,  # referrals point at the code's owner; members are never deleted
        related_name="referral_code",
        verbose_name=_("member"),
    )
    code = models.CharField(_("code"), max_length=16, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")

    def __str__(self) -> str:
        return self.display

    @property
    def display(self) -> str:
        """The code as shown to people: ABCD-EFGH."""
        half = len(self.code) // 2
        return f"{self.code[:half]}-{self.code[half:]}"


class ReferralSettings(ConfigModel):
    """How the programme rewards referrals (one row).

    Rewards are given on the new member's first purchase of at least ``min_spend``, once
    the purchase's return window (``revoke_window_days``) has passed without a refund.
    """

    is_active = models.BooleanField(
        _("referrals are running"),
        default=False,
        help_text=_(
            "When off, invitation codes are ignored at sign-up and members see no "
            "invitation page; referrals made earlier still finish."
        ),
    )
    min_spend = models.DecimalField(
        _("minimum first purchase"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("The new member's purchase must be at least this much to count."),
    )
    referrer_points = models.PositiveIntegerField(_("points for the member who invited"), default=0)
    referrer_reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher for the member who invited"),
    )
    friend_points = models.PositiveIntegerField(_("points for the new member"), default=0)
    friend_reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher for the new member"),
    )
    monthly_cap = models.PositiveIntegerField(
        _("referrals per member per month"),
        null=True,
        blank=True,
        help_text=_(
            "Referrals beyond this in one calendar month are recorded as refused and earn "
            "nothing (the friend still joins). Empty: no limit."
        ),
    )
    revoke_window_days = models.PositiveIntegerField(
        _("return window (days)"),
        default=14,
        help_text=_(
            "Rewards wait this many days after the qualifying purchase; a refund in that "
            "time cancels them. 0: reward at once."
        ),
    )
    qualify_within_days = models.PositiveIntegerField(
        _("first purchase within (days)"),
        null=True,
        blank=True,
        help_text=_(
            "The new member must make the qualifying purchase within this many days of "
            "joining, else the referral expires. Empty: any time."
        ),
    )

    class Meta:
        verbose_name = _("referral settings")
        verbose_name_plural = _("referral settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="referral_settings_one_row")]

    def __str__(self) -> str:
        return str(_("Referral settings"))

    def get_absolute_url(self) -> str:
        return reverse("admin:campaigns_referralsettings_change", args=[self.pk])


class ReferralMilestone(ConfigModel):
    """An extra reward for the member who invited, when this many referrals were rewarded."""

    count = models.PositiveIntegerField(
        _("rewarded referrals"), unique=True, validators=[MinValueValidator(1)]
    )
    points = models.PositiveIntegerField(_("points"), default=0)
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher"),
    )

    class Meta:
        ordering = ["count"]
        verbose_name = _("referral milestone")
        verbose_name_plural = _("referral milestones")
        constraints = [
            models.CheckConstraint(condition=Q(count__gte=1), name="referral_milestone_count_min")
        ]

    def __str__(self) -> str:
        return str(_("%(count)s referrals") % {"count": self.count})


class Referral(models.Model):
    """One new member who joined with another member's code, and where that stands."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Joined, no qualifying purchase yet")
        QUALIFIED = "qualified", _("Qualifying purchase made, rewards waiting")
        REWARDED = "rewarded", _("Rewarded")
        REVOKED = "revoked", _("Revoked")
        EXPIRED = "expired", _("Expired")
        REFUSED = "refused", _("Refused")

    referrer = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,  # pay-outs in the ledger name this referral
        related_name="referrals_made",
        verbose_name=_("invited by"),
    )
    referred = models.OneToOneField(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="referral",
        verbose_name=_("new member"),
    )
    code = models.CharField(_("code used"), max_length=16, editable=False)
    via = models.CharField(
        _("joined via"), max_length=10, choices=Source.choices, default=Source.PORTAL
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("joined"), default=timezone.now, editable=False)
    qualify_by = models.DateTimeField(
        _("qualifying purchase by"),
        null=True,
        blank=True,
        help_text=_("After this a referral still waiting for a purchase expires."),
    )
    purchase = models.ForeignKey(
        "loyalty.Purchase",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("qualifying purchase"),
    )
    qualified_at = models.DateTimeField(_("qualified"), null=True, blank=True)
    reward_due_at = models.DateTimeField(_("rewards due"), null=True, blank=True)
    rewarded_at = models.DateTimeField(_("rewarded"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    # What the rewards were when the referral qualified: later setting changes do not
    # change a promise already made.
    referrer_points = models.PositiveIntegerField(_("points for the inviter"), default=0)
    referrer_reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reward for the inviter"),
    )
    friend_points = models.PositiveIntegerField(_("points for the new member"), default=0)
    friend_reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reward for the new member"),
    )
    referrer_voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher given to the inviter"),
    )
    friend_voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher given to the new member"),
    )

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        indexes = [
            models.Index(fields=["referrer", "-created_at"], name="referral_referrer_latest"),
            models.Index(fields=["status", "reward_due_at"], name="referral_status_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(referrer=models.F("referred")), name="referral_not_self"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "expired", "refused"])
                | Q(purchase__isnull=False, qualified_at__isnull=False, reward_due_at__isnull=False)
                | Q(status="revoked"),
                name="referral_qualified_has_purchase",
            ),
        ]

    def __str__(self) -> str:
        return str(
            _("%(referrer)s invited %(referred)s")
            % {"referrer": self.referrer, "referred": self.referred}
        )

    def get_absolute_url(self) -> str:
        return reverse("admin:campaigns_referral_change", args=[self.pk])


class ReferralMilestoneAward(models.Model):
    """A milestone reward given to a referrer: once per referrer and milestone."""

    referrer = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="referral_milestones",
        verbose_name=_("member"),
    )
    milestone = models.ForeignKey(
        ReferralMilestone,
        on_delete=models.PROTECT,  # the award says which milestone paid it
        related_name="awards",
        verbose_name=_("milestone"),
    )
    points = models.PositiveIntegerField(_("points"), default=0)
    voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher"),
    )
    awarded_at = models.DateTimeField(_("awarded"), default=timezone.now)

    class Meta:
        verbose_name = _("referral milestone reward")
        verbose_name_plural = _("referral milestone rewards")
        constraints = [
            models.UniqueConstraint(
                fields=["referrer", "milestone"], name="referral_milestone_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.referrer} · {self.milestone}"
