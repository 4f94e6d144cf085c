"""Action bonuses (points for things that are not purchases) and birthday rewards."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import Source

MAX_ACTION_POINTS = 1_000_000
REFERENCE_MAX_LENGTH = 255


class ActionType(models.Model):
    """Something a member does that earns points: sign-up, a review, a newsletter opt-in…

    ``limit`` says how often one member is paid for it; a reference (the review's URL, a
    post's link) is paid only once per member whatever the limit, so one action is never
    paid twice. Sign-up, profile completion and newsletter opt-in are recorded automatically
    when the member does them; the others by staff, in the portal or through the API, as
    the ``recordable_*`` flags allow.
    """

    class Kind(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        PROFILE_COMPLETE = "profile_complete", _("Completed profile")
        BIRTHDAY = "birthday", _("Birthday")
        REVIEW = "review", _("Review")
        SOCIAL_SHARE = "social_share", _("Social media share")
        NEWSLETTER = "newsletter", _("Newsletter opt-in")
        APP_INSTALL = "app_install", _("App install")
        CUSTOM = "custom", _("Custom")

    class Limit(models.TextChoices):
        ONCE = "once", _("Once per member")
        DAILY = "daily", _("Once per day")
        MONTHLY = "monthly", _("Once per month")
        PER_REFERENCE = "reference", _("No limit, once per reference")

    # Kinds the platform records by itself when the member does the thing.
    AUTOMATIC_KINDS = (Kind.SIGNUP, Kind.PROFILE_COMPLETE, Kind.NEWSLETTER)

    code = models.SlugField(
        _("code"),
        max_length=50,
        unique=True,
        help_text=_("A short name for the API and reports, e.g. 'google-review'."),
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("Shown to members and on their points history.")
    )
    description = models.TextField(
        _("description"), blank=True, help_text=_("Shown to members on the 'Earn more' page.")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.CUSTOM)
    points = models.PositiveIntegerField(
        _("points"), validators=[MinValueValidator(1), MaxValueValidator(MAX_ACTION_POINTS)]
    )
    limit = models.CharField(
        _("limit"),
        max_length=10,
        choices=Limit.choices,
        default=Limit.ONCE,
        help_text=_("How often one member can be paid for this action."),
    )
    requires_reference = models.BooleanField(
        _("requires a reference"),
        default=False,
        help_text=_(
            "A reference (e.g. the review's link) must be given; each reference is paid once. "
            "Always on for 'No limit, once per reference'."
        ),
    )
    reference_label = models.CharField(
        _("reference label"),
        max_length=100,
        blank=True,
        help_text=_("What to ask for, e.g. 'Link to your review'."),
    )
    recordable_by_staff = models.BooleanField(_("staff may record it"), default=True)
    recordable_in_portal = models.BooleanField(
        _("members may claim it in the portal"),
        default=False,
        help_text=_("Members claim it themselves on the 'Earn more points' page."),
    )
    recordable_by_api = models.BooleanField(_("may be recorded through the API"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    display_order = models.PositiveIntegerField(_("display order"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("action type")
        verbose_name_plural = _("action types")
        ordering = ["display_order", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=1), name="actiontype_points_positive"),
            models.CheckConstraint(
                condition=~Q(limit="reference") | Q(requires_reference=True),
                name="actiontype_per_reference_requires_reference",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.limit == self.Limit.PER_REFERENCE and not self.requires_reference:
            raise ValidationError(
                {
                    "requires_reference": _(
                        "An action without a limit must require a reference, or it could be "
                        "paid any number of times."
                    )
                }
            )

    @property
    def is_automatic(self) -> bool:
        return self.kind in self.AUTOMATIC_KINDS


class ActionRecord(models.Model):
    """One payment for an action: who did what, when, with which reference, and the entry.

    ``period_key`` is "once", the day ("2026-11-25") or the month ("2026-11") the limit
    counts in, or empty for actions limited only by reference; the unique constraints make
    a second payment in the same period, or for the same reference, impossible even when
    two requests arrive at once.
    """

    action = models.ForeignKey(
        ActionType,
        on_delete=models.PROTECT,  # records are the audit of paid points
        related_name="records",
        verbose_name=_("action"),
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="action_records",
        verbose_name=_("member"),
    )
    reference = models.CharField(
        _("reference"), max_length=REFERENCE_MAX_LENGTH, blank=True, default=""
    )
    period_key = models.CharField(_("period"), max_length=10, blank=True, default="")
    points = models.PositiveIntegerField(_("points"))
    source = models.CharField(_("recorded via"), max_length=10, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)
    entry = models.ForeignKey(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,  # the ledger is append-only
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ledger entry"),
    )

    class Meta:
        verbose_name = _("action record")
        verbose_name_plural = _("action records")
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "member", "period_key"],
                condition=~Q(period_key=""),
                name="actionrecord_once_per_period",
            ),
            models.UniqueConstraint(
                fields=["action", "member", "reference"],
                condition=~Q(reference=""),
                name="actionrecord_once_per_reference",
            ),
        ]
        indexes = [models.Index(fields=["member", "action"], name="actionrecord_member_action")]

    def __str__(self) -> str:
        return f"{self.action} · {self.member_id} · {self.created_at:%Y-%m-%d}"


class BirthdayReward(models.Model):
    """The birthday reward setting (one row): points and/or a voucher, once a year.

    Given on the member's birthday, or on the first day of their birthday month, by the
    daily birthday job. Members born on 29 February get theirs on 28 February in other
    years.
    """

    class Timing(models.TextChoices):
        MONTH = "month", _("On the first day of the birthday month")
        DAY = "day", _("On the birthday")

    is_active = models.BooleanField(_("active"), default=False)
    timing = models.CharField(_("when"), max_length=5, choices=Timing.choices, default=Timing.DAY)
    points = models.PositiveIntegerField(
        _("points"),
        default=0,
        validators=[MaxValueValidator(MAX_ACTION_POINTS)],
        help_text=_("Birthday points; 0 for none."),
    )
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher for"),
        help_text=_("A reward given as a free voucher on the birthday (optional)."),
    )
    voucher_valid_days = models.PositiveIntegerField(
        _("voucher valid for (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Empty: the reward's own validity."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("birthday reward")
        verbose_name_plural = _("birthday reward")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="birthdayreward_singleton")]

    def __str__(self) -> str:
        return str(_("Birthday reward"))

    def save(self, *args, **kwargs) -> None:
        self.pk = 1  # one setting for the whole installation
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.is_active and not self.points and self.reward_id is None:
            raise ValidationError(_("Give birthday points, a voucher, or both."))

    @classmethod
    def current(cls) -> BirthdayReward:
        """Return the setting (an inactive, unsaved one when none was made)."""
        return cls.objects.select_related("reward").filter(pk=1).first() or cls(pk=1)


class BirthdayGift(models.Model):
    """A birthday reward given to a member for one year (at most one per member and year)."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="birthday_gifts",
        verbose_name=_("member"),
    )
    year = models.PositiveSmallIntegerField(_("year"))
    points = models.PositiveIntegerField(_("points"), default=0)
    entry = models.ForeignKey(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,  # the ledger is append-only
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ledger entry"),
    )
    voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher"),
    )
    created_at = models.DateTimeField(_("given"), default=timezone.now)

    class Meta:
        verbose_name = _("birthday gift")
        verbose_name_plural = _("birthday gifts")
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["member", "year"], name="birthdaygift_once_a_year")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} · {self.year}"
