"""Scheduled messages and nudges: expiry warnings, near-reward nudges, win-back offers,
monthly statements and campaign announcements (services in ``campaigns/nudges.py``)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class NudgeSettings(models.Model):
    """What the scheduled member messages do; one row (``pk=1``), edited in the admin.

    A distance or a number of days of 0 switches that nudge off.
    """

    expiry_warning_days = models.PositiveSmallIntegerField(
        _("warn about expiring points (days before)"),
        default=14,
        validators=[MaxValueValidator(365)],
        help_text=_(
            "Members are told once per expiry date when points will expire within this many "
            "days. 0: no warning."
        ),
    )
    near_reward_points = models.PositiveIntegerField(
        _("near a reward: points missing at most"),
        default=50,
        help_text=_(
            "Nudge a member whose balance is this close to the cheapest reward they cannot yet "
            "afford (at most once a month per reward). 0: off."
        ),
    )
    near_card_stamps = models.PositiveSmallIntegerField(
        _("near a full punch card: stamps missing at most"),
        default=1,
        help_text=_(
            "Nudge a member whose punch card is this many stamps from full (once a month per "
            "card). 0: off."
        ),
    )
    winback_segment = models.ForeignKey(
        "campaigns.Segment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("win-back segment"),
        help_text=_(
            "Members in this segment (e.g. inactive for 90 days) get the win-back offer. "
            "Empty: no win-back."
        ),
    )
    winback_reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("win-back reward"),
        help_text=_("A voucher of this reward is given with the win-back message."),
    )
    winback_points = models.PositiveIntegerField(
        _("win-back points"),
        default=0,
        help_text=_("Bonus points given with the win-back message (0: none)."),
    )
    winback_cooldown_days = models.PositiveSmallIntegerField(
        _("win-back at most every (days)"),
        default=90,
        help_text=_("A member gets the win-back offer at most once in this many days."),
    )
    monthly_statement = models.BooleanField(
        _("send monthly statements"),
        default=True,
        help_text=_(
            "On the first days of each month: balance, points earned and spent last month, "
            "points expiring soon and tier progress."
        ),
    )
    announcements = models.BooleanField(
        _("announce campaigns"),
        default=True,
        help_text=_(
            "Tell members with marketing consent when a bonus campaign, challenge or "
            "sweepstake starts."
        ),
    )

    class Meta:
        verbose_name = _("nudge settings")
        verbose_name_plural = _("nudge settings")

    def __str__(self) -> str:
        return str(_("Nudges and scheduled messages"))

    def save(self, *args, **kwargs) -> None:
        self.pk = 1  # a singleton: the admin edits the one row
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> NudgeSettings:
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class WinBackOffer(models.Model):
    """A win-back offer given to a member: at most one per member and day (the database
    holds that), and the service gives none within the cooldown of the last one."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,  # the record of what was given stays with the ledger
        related_name="winback_offers",
        verbose_name=_("member"),
    )
    offered_on = models.DateField(_("offered on"))
    voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher"),
    )
    points = models.PositiveIntegerField(_("points"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("win-back offer")
        verbose_name_plural = _("win-back offers")
        ordering = ["-offered_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "offered_on"], name="winback_once_per_member_day"
            )
        ]
        indexes = [models.Index(fields=["member", "-offered_on"], name="winback_member_latest")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.offered_on}"


class CampaignAnnouncement(models.Model):
    """A campaign whose start was announced to members (once: unique per kind and id)."""

    class Kind(models.TextChoices):
        BONUS = "bonus", _("Bonus campaign")
        CHALLENGE = "challenge", _("Challenge")
        SWEEPSTAKE = "sweepstake", _("Sweepstake")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField(_("campaign id"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    recipients = models.PositiveIntegerField(_("members told"), default=0)
    announced_at = models.DateTimeField(_("announced"))

    class Meta:
        verbose_name = _("campaign announcement")
        verbose_name_plural = _("campaign announcements")
        ordering = ["-announced_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="announcement_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"
