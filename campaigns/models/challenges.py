"""Challenges and badges.

A challenge is a goal to reach within a window ("visit 5 times in May", "spend €100 this
month", "try 5 different teas"); reaching it gives points, a voucher and/or a badge, once.
A badge is a virtual reward with a picture: earned by a challenge, by a milestone (the
100th visit, a year of membership, 10,000 points earned) or given by staff.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import ConfigModel


class Badge(ConfigModel):
    """A virtual reward a member collects: earned by a challenge, a milestone or from staff.

    Milestone badges are cached with the programme's configuration (saving one refreshes
    the cache), because purchases and visits check them.
    """

    class Milestone(models.TextChoices):
        NONE = "none", _("None (given by challenges or staff)")
        VISITS = "visits", _("Nth visit (purchases and check-ins)")
        MEMBERSHIP_YEARS = "membership_years", _("Years of membership")
        LIFETIME_POINTS = "lifetime_points", _("Points earned in total")

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(
        _("description"), blank=True, help_text=_("Shown to members under the badge.")
    )
    image = models.ImageField(
        _("image"),
        upload_to="badges/",
        blank=True,
        help_text=_("A square picture works best (shown at 96 × 96 pixels)."),
    )
    milestone = models.CharField(
        _("milestone"),
        max_length=20,
        choices=Milestone.choices,
        default=Milestone.NONE,
        help_text=_("Members reaching this milestone get the badge automatically."),
    )
    milestone_value = models.PositiveIntegerField(
        _("milestone value"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("E.g. 100 for the 100th visit, 1 for one year of membership."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive badges are no longer given; members keep the ones they have."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(milestone="none") | Q(milestone_value__gte=1),
                name="badge_milestone_has_value",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.milestone != self.Milestone.NONE and not self.milestone_value:
            raise ValidationError(
                {"milestone_value": _("Give the milestone's value, e.g. 100 for the 100th visit.")}
            )


class MemberBadge(models.Model):
    """A badge a member holds, with where it came from. A member holds each badge once."""

    class Source(models.TextChoices):
        CHALLENGE = "challenge", _("Challenge")
        MILESTONE = "milestone", _("Milestone")
        STAFF = "staff", _("Staff")

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="badges",
        verbose_name=_("member"),
    )
    badge = models.ForeignKey(
        Badge,
        on_delete=models.PROTECT,  # members keep earned badges; deactivate a badge instead
        related_name="holders",
        verbose_name=_("badge"),
    )
    earned_at = models.DateTimeField(_("earned"), default=timezone.now)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    challenge = models.ForeignKey(
        "campaigns.Challenge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("challenge"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,  # audit: who gave a badge stays known
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("given by"),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("member badge")
        verbose_name_plural = _("member badges")
        constraints = [
            models.UniqueConstraint(fields=["member", "badge"], name="memberbadge_once"),
        ]

    def __str__(self) -> str:
        return f"{self.badge} · {self.member_id}"


class Challenge(ConfigModel):
    """A goal members reach within a window, for points, a voucher and/or a badge.

    Active challenges are cached with the programme's configuration (saving one refreshes
    the cache), so purchases and visits cost nothing extra while none is running.
    """

    class Goal(models.TextChoices):
        PURCHASES = "purchases", _("Number of purchases")
        VISITS = "visits", _("Number of visits (days with a purchase or check-in)")
        SPEND = "spend", _("Amount spent")
        CATEGORY = "category_purchases", _("Items bought from a category")
        REFERRALS = "referrals", _("Friends referred")
        DISTINCT_PRODUCTS = "distinct_products", _("Different products tried")

    class Enrolment(models.TextChoices):
        AUTO = "auto", _("Automatic: every member (of the segment) takes part")
        OPT_IN = "opt_in", _("Opt-in: members join on the portal")

    COUNT_GOALS = frozenset(
        {Goal.PURCHASES, Goal.VISITS, Goal.CATEGORY, Goal.REFERRALS, Goal.DISTINCT_PRODUCTS}
    )

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, help_text=_("Shown to members."))
    goal = models.CharField(_("goal"), max_length=20, choices=Goal.choices)
    target = models.DecimalField(
        _("target"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("How many (a whole number), or for spending the amount of money."),
    )
    category = models.CharField(
        _("category"),
        max_length=64,
        blank=True,
        help_text=_("For the category goal: the product category as the till sends it."),
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"), help_text=_("Activity until this moment counts."))
    enrolment = models.CharField(
        _("enrolment"), max_length=10, choices=Enrolment.choices, default=Enrolment.AUTO
    )
    segment = models.ForeignKey(
        "campaigns.Segment",
        on_delete=models.PROTECT,  # deleting it would silently open the challenge to everyone
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("segment"),
        help_text=_("Only members of this segment take part. Empty: every member."),
    )
    reward_points = models.PositiveIntegerField(_("points reward"), default=0)
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,  # completed challenges point at the voucher's reward
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher reward"),
        help_text=_("A voucher for this reward is issued on completion."),
    )
    badge = models.ForeignKey(
        Badge,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="challenges",
        verbose_name=_("badge"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("challenge")
        verbose_name_plural = _("challenges")
        ordering = ["-starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="challenge_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(target__gt=0), name="challenge_target_positive"),
            models.CheckConstraint(
                condition=Q(reward_points__gt=0) | Q(reward__isnull=False) | Q(badge__isnull=False),
                name="challenge_has_reward",
            ),
            models.CheckConstraint(
                condition=~Q(goal="category_purchases") | ~Q(category=""),
                name="challenge_category_goal_has_category",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        problems: dict[str, str] = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            problems["ends_at"] = _("The challenge must end after it starts.")
        if not self.reward_points and not self.reward_id and not self.badge_id:
            problems["reward_points"] = _(
                "Give a reward: points, a voucher reward or a badge (or several)."
            )
        if self.goal == self.Goal.CATEGORY and not (self.category or "").strip():
            problems["category"] = _("The category goal needs a category.")
        if (
            self.target is not None
            and self.goal in self.COUNT_GOALS
            and self.target != self.target.to_integral_value()
        ):
            problems["target"] = _("This goal counts things: give a whole number.")
        if problems:
            raise ValidationError(problems)

    def is_running(self, *, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        return self.is_active and self.starts_at <= at < self.ends_at

    @property
    def counts_money(self) -> bool:
        return self.goal == self.Goal.SPEND


class ChallengeProgress(models.Model):
    """One member's progress in one challenge; completed (and rewarded) at most once."""

    challenge = models.ForeignKey(
        Challenge,
        on_delete=models.PROTECT,  # progress records which rewards were given
        related_name="progress_rows",
        verbose_name=_("challenge"),
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="challenge_progress",
        verbose_name=_("member"),
    )
    progress = models.DecimalField(
        _("progress"), max_digits=12, decimal_places=2, default=Decimal("0")
    )
    seen_skus = models.JSONField(
        _("products tried"), default=list, blank=True, help_text=_("For the products goal.")
    )
    seen_days = models.JSONField(
        _("days visited"), default=list, blank=True, help_text=_("For the visits goal.")
    )
    joined_at = models.DateTimeField(_("joined"))
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    points_entry = models.ForeignKey(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("points given"),
    )
    voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher given"),
    )
    reward_note = models.CharField(
        _("reward note"),
        max_length=255,
        blank=True,
        help_text=_("Why part of the reward could not be given (e.g. the reward is out of stock)."),
    )
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("challenge progress")
        verbose_name_plural = _("challenge progress")
        constraints = [
            models.UniqueConstraint(fields=["member", "challenge"], name="challengeprogress_once"),
            models.CheckConstraint(
                condition=Q(progress__gte=0), name="challengeprogress_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["challenge", "completed_at"], name="challengeprogress_done"),
        ]

    def __str__(self) -> str:
        return f"{self.challenge} · {self.member_id}"

    @property
    def percent(self) -> int:
        target = self.challenge.target
        if self.completed_at is not None or target <= 0:
            return 100
        return int(min(self.progress / target, 1) * 100)
