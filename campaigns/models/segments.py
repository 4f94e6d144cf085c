"""Segments: saved member filters used to target campaigns, challenges, draws and messages."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Choice3(models.TextChoices):
    ANY = "any", _("Any")
    YES = "yes", _("Yes")
    NO = "no", _("No")


class Segment(models.Model):
    """A saved filter over members. Every condition left empty matches everyone.

    Relative conditions ("no activity for 60 days", "spent at least €100 in the last 90
    days") are evaluated when the segment is used, so a segment stays current.
    """

    CURRENT_MONTH = 13
    BIRTHDAY_MONTHS = [
        (0, _("Any month")),
        (1, _("January")),
        (2, _("February")),
        (3, _("March")),
        (4, _("April")),
        (5, _("May")),
        (6, _("June")),
        (7, _("July")),
        (8, _("August")),
        (9, _("September")),
        (10, _("October")),
        (11, _("November")),
        (12, _("December")),
        (CURRENT_MONTH, _("The current month")),
    ]

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    tiers = models.ManyToManyField(
        "loyalty.Tier",
        blank=True,
        verbose_name=_("tiers"),
        help_text=_("Members in any of these tiers. Empty: any tier, or none."),
    )
    vip = models.CharField(_("VIP"), max_length=3, choices=Choice3.choices, default=Choice3.ANY)
    locations = models.ManyToManyField(
        "loyalty.Location",
        blank=True,
        verbose_name=_("locations"),
        help_text=_("Members whose home location is one of these, or who bought or visited there."),
    )
    joined_after = models.DateField(_("joined on or after"), null=True, blank=True)
    joined_before = models.DateField(_("joined before"), null=True, blank=True)
    last_activity_after = models.DateField(_("last visit on or after"), null=True, blank=True)
    last_activity_before = models.DateField(_("last visit before"), null=True, blank=True)
    inactive_days = models.PositiveIntegerField(
        _("inactive for at least (days)"),
        null=True,
        blank=True,
        help_text=_("No purchase or visit in this many days (members who never came count too)."),
    )
    min_visits = models.PositiveIntegerField(
        _("at least this many purchases or visits"), null=True, blank=True
    )
    visits_days = models.PositiveIntegerField(
        _("…in the last (days)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    spend_min = models.DecimalField(
        _("spent at least"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    spend_max = models.DecimalField(
        _("spent at most"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    spend_days = models.PositiveIntegerField(
        _("spend in the last (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: all time."),
    )
    rfm_min = models.PositiveSmallIntegerField(
        _("RFM score at least"),
        null=True,
        blank=True,
        validators=[MinValueValidator(3), MaxValueValidator(15)],
        help_text=_("Recency, frequency and money spent, each scored 1–5 (3–15 in all)."),
    )
    rfm_max = models.PositiveSmallIntegerField(
        _("RFM score at most"),
        null=True,
        blank=True,
        validators=[MinValueValidator(3), MaxValueValidator(15)],
    )
    birthday_month = models.PositiveSmallIntegerField(
        _("birthday month"), choices=BIRTHDAY_MONTHS, default=0
    )
    favourite_category = models.CharField(_("favourite category"), max_length=64, blank=True)
    email_consent = models.CharField(
        _("agreed to email marketing"), max_length=3, choices=Choice3.choices, default=Choice3.ANY
    )
    sms_consent = models.CharField(
        _("agreed to SMS marketing"), max_length=3, choices=Choice3.choices, default=Choice3.ANY
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Refuse conditions that contradict each other or need a partner condition."""
        errors: dict[str, list] = {}

        def add(field: str, message) -> None:
            errors.setdefault(field, []).append(message)

        if self.joined_after and self.joined_before and self.joined_after >= self.joined_before:
            add("joined_before", _("“Joined before” must be later than “joined on or after”."))
        if (
            self.last_activity_after
            and self.last_activity_before
            and self.last_activity_after >= self.last_activity_before
        ):
            add(
                "last_activity_before",
                _("“Last visit before” must be later than “last visit on or after”."),
            )
        if self.min_visits is not None and not self.visits_days:
            add("visits_days", _("Say in how many days the purchases or visits are counted."))
        if self.visits_days is not None and self.min_visits is None:
            add("min_visits", _("Enter how many purchases or visits, or leave the days empty."))
        for field in ("spend_min", "spend_max"):
            value = getattr(self, field)
            if value is not None and value < 0:
                add(field, _("Enter an amount of zero or more."))
        if (
            self.spend_min is not None
            and self.spend_max is not None
            and self.spend_min > self.spend_max
        ):
            add("spend_max", _("“Spent at most” cannot be less than “spent at least”."))
        if self.spend_days is not None and self.spend_min is None and self.spend_max is None:
            add(
                "spend_min",
                _("Enter an amount to compare the spend with, or leave the days empty."),
            )
        if self.rfm_min is not None and self.rfm_max is not None and self.rfm_min > self.rfm_max:
            add("rfm_max", _("“RFM score at most” cannot be less than “RFM score at least”."))
        self.favourite_category = (self.favourite_category or "").strip()
        if errors:
            raise ValidationError(errors)


class MemberScore(models.Model):
    """A member's recency-frequency-monetary score, refreshed by a nightly job.

    Written only by ``campaigns.segments.rfm_scores_refresh`` (see its docstring for how the
    1–5 scores are computed). ``recency_days``, ``activity_count`` and ``spend`` are the
    figures the scores were computed from.
    """

    member = models.OneToOneField(
        "members.Member",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="rfm",
        verbose_name=_("member"),
    )
    recency = models.PositiveSmallIntegerField(_("recency (1–5)"))
    frequency = models.PositiveSmallIntegerField(_("frequency (1–5)"))
    monetary = models.PositiveSmallIntegerField(_("money spent (1–5)"))
    score = models.PositiveSmallIntegerField(_("RFM score"), db_index=True)
    recency_days = models.PositiveIntegerField(
        _("days since last purchase or visit"), null=True, blank=True
    )
    activity_count = models.PositiveIntegerField(_("purchases and visits in 365 days"), default=0)
    spend = models.DecimalField(
        _("net spend in 365 days"), max_digits=14, decimal_places=2, default=0
    )
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("RFM score")
        verbose_name_plural = _("RFM scores")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.score}"
