"""Games: the points leaderboard, sweepstakes (prize draws) and instant wins.

The services live in ``campaigns/games.py`` (sweepstakes, instant wins) and
``campaigns/leaderboard.py``; the rules are described in docs/campaigns.md.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _games_changed() -> None:
    from campaigns.games import games_changed

    games_changed()


# --------------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------------


class LeaderboardProfile(models.Model):
    """A member who chose to appear on the leaderboard, under a display name of their own.

    Only members with a profile have scores; opting out deletes both.
    """

    member = models.OneToOneField(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="leaderboard_profile",
        verbose_name=_("member"),
    )
    display_name = models.CharField(
        _("display name"),
        max_length=30,
        help_text=_("Shown on the leaderboard instead of the member's name."),
    )
    opted_in_at = models.DateTimeField(_("opted in"), default=timezone.now)

    class Meta:
        verbose_name = _("leaderboard profile")
        verbose_name_plural = _("leaderboard profiles")

    def __str__(self) -> str:
        return self.display_name


class LeaderboardScore(models.Model):
    """Points a member (who opted in) earned in one period: a month ("2026-11") or a year."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="leaderboard_scores",
        verbose_name=_("member"),
    )
    period = models.CharField(
        _("period"), max_length=7, help_text=_("A month (2026-11) or a year (2026).")
    )
    points = models.IntegerField(_("points"), default=0)

    class Meta:
        verbose_name = _("leaderboard score")
        verbose_name_plural = _("leaderboard scores")
        constraints = [
            models.UniqueConstraint(fields=["member", "period"], name="lbscore_member_period"),
            models.CheckConstraint(condition=Q(points__gte=0), name="lbscore_points_gte_0"),
        ]
        indexes = [
            # Top N and "how many scored more than me" read this index, never sort the period.
            models.Index(fields=["period", "-points", "member"], name="lbscore_period_points"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.period}: {self.points}"


# --------------------------------------------------------------------------------------------
# Sweepstakes
# --------------------------------------------------------------------------------------------


class Sweepstake(models.Model):
    """A prize draw: members collect entries during a window; at the end winners are drawn.

    The draw's random seed is recorded, so anyone can re-run it from the stored entries and
    get the same winners (see docs/campaigns.md, "How the draw works").
    """

    class EntryRule(models.TextChoices):
        PER_VISIT = "per_visit", _("One entry per visit or purchase (at most one a day)")
        PER_POINTS = "per_points", _("One entry per N points earned")
        BOUGHT = "bought", _("Members buy entries with points")

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    prize = models.ForeignKey(
        "rewards.Reward",
        # Winners' vouchers point at the reward; a reward with a draw is kept.
        on_delete=models.PROTECT,
        related_name="sweepstakes",
        verbose_name=_("prize"),
        help_text=_("Each winner gets a voucher for this reward."),
    )
    winners_count = models.PositiveIntegerField(
        _("number of winners"), default=1, validators=[MinValueValidator(1)]
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(
        _("ends"), help_text=_("Entries close at this moment; the draw happens after it.")
    )
    entry_rule = models.CharField(
        _("entry rule"), max_length=12, choices=EntryRule.choices, default=EntryRule.PER_VISIT
    )
    points_per_entry = models.PositiveIntegerField(
        _("points per entry"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("For 'one entry per N points earned': N."),
    )
    entry_price_points = models.PositiveIntegerField(
        _("entry price in points"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("For 'members buy entries': what one entry costs."),
    )
    max_entries_per_member = models.PositiveIntegerField(
        _("maximum entries per member"), default=10, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive sweepstakes take no entries.")
    )
    seed = models.BigIntegerField(
        _("random seed"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Recorded at the draw; re-running the draw with it gives the same winners."),
    )
    drawn_at = models.DateTimeField(_("drawn"), null=True, blank=True, editable=False)
    entrants_at_draw = models.PositiveIntegerField(
        _("entrants at the draw"), null=True, blank=True, editable=False
    )
    entries_at_draw = models.PositiveIntegerField(
        _("entries at the draw"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("sweepstake")
        verbose_name_plural = _("sweepstakes")
        ordering = ["-ends_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="sweepstake_window"
            ),
            models.CheckConstraint(
                condition=~Q(entry_rule="per_points") | Q(points_per_entry__gte=1),
                name="sweepstake_per_points_n",
            ),
            models.CheckConstraint(
                condition=~Q(entry_rule="bought") | Q(entry_price_points__gte=1),
                name="sweepstake_bought_price",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        _games_changed()

    def is_open(self, *, at=None) -> bool:
        """Whether the sweepstake takes entries at ``at`` (now by default)."""
        at = at or timezone.now()
        return self.is_active and self.drawn_at is None and self.starts_at <= at < self.ends_at


class SweepstakeEntry(models.Model):
    """A member's entries in one sweepstake (one row per member, the count grows)."""

    sweepstake = models.ForeignKey(
        Sweepstake, on_delete=models.CASCADE, related_name="entries", verbose_name=_("sweepstake")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="sweepstake_entries",
        verbose_name=_("member"),
    )
    entries = models.PositiveIntegerField(_("entries"), default=0)
    points_carry = models.IntegerField(
        _("points towards the next entry"),
        default=0,
        help_text=_("For 'one entry per N points': earned points not yet turned into an entry."),
    )
    last_visit_on = models.DateField(_("last visit counted"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("sweepstake entry")
        verbose_name_plural = _("sweepstake entries")
        constraints = [
            models.UniqueConstraint(fields=["sweepstake", "member"], name="sweepentry_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sweepstake_id}/{self.member_id}: {self.entries}"


class SweepstakeEntryPurchase(models.Model):
    """Entries a member bought with points: the audit of the spend and its idempotency key."""

    sweepstake = models.ForeignKey(
        Sweepstake,
        on_delete=models.PROTECT,
        related_name="entry_purchases",
        verbose_name=_("sweepstake"),
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("member"),
    )
    count = models.PositiveIntegerField(_("entries"))
    points = models.PositiveIntegerField(_("points"))
    ledger_entry = models.ForeignKey(
        "loyalty.LedgerEntry",
        # The ledger is append-only; the purchase of entries points at its debit.
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ledger entry"),
    )
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=64, null=True, blank=True, unique=True
    )
    created_at = models.DateTimeField(_("bought"), default=timezone.now)

    class Meta:
        verbose_name = _("bought entries")
        verbose_name_plural = _("bought entries")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.count}"


class SweepstakeWinner(models.Model):
    """A winner of a sweepstake's draw, in the order drawn."""

    sweepstake = models.ForeignKey(
        Sweepstake, on_delete=models.CASCADE, related_name="winners", verbose_name=_("sweepstake")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="sweepstake_wins",
        verbose_name=_("member"),
    )
    position = models.PositiveIntegerField(_("position"))
    voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher"),
        help_text=_("Empty when the winner's membership was closed at the draw."),
    )

    class Meta:
        verbose_name = _("sweepstake winner")
        verbose_name_plural = _("sweepstake winners")
        ordering = ["sweepstake", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sweepstake", "position"], name="sweepwin_position"),
            models.UniqueConstraint(fields=["sweepstake", "member"], name="sweepwin_member"),
        ]

    def __str__(self) -> str:
        return f"{self.sweepstake_id} #{self.position}: {self.member_id}"


# --------------------------------------------------------------------------------------------
# Instant wins
# --------------------------------------------------------------------------------------------


class InstantWin(models.Model):
    """Every Nth sign-up or purchase during a window wins a reward voucher and/or points."""

    class Trigger(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        PURCHASE = "purchase", _("Purchase")

    name = models.CharField(_("name"), max_length=100)
    trigger = models.CharField(
        _("trigger"), max_length=10, choices=Trigger.choices, default=Trigger.PURCHASE
    )
    every_n = models.PositiveIntegerField(
        _("every Nth wins"), validators=[MinValueValidator(1)], help_text=_("N: e.g. 100.")
    )
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="instant_wins",
        verbose_name=_("reward"),
        help_text=_("The winner gets a voucher for this reward (optional)."),
    )
    points = models.PositiveIntegerField(
        _("points"), default=0, help_text=_("Bonus points for the winner (optional).")
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    max_winners = models.PositiveIntegerField(
        _("maximum winners"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    counter = models.PositiveIntegerField(
        _("counted"), default=0, editable=False, help_text=_("Sign-ups or purchases counted.")
    )
    winners_count = models.PositiveIntegerField(_("winners"), default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("instant win")
        verbose_name_plural = _("instant wins")
        constraints = [
            models.CheckConstraint(condition=Q(every_n__gte=1), name="instantwin_every_n"),
            models.CheckConstraint(
                condition=Q(reward__isnull=False) | Q(points__gt=0), name="instantwin_prize"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        _games_changed()


class InstantWinHit(models.Model):
    """One win: the Nth sign-up or purchase and what the member got."""

    instant_win = models.ForeignKey(
        InstantWin, on_delete=models.CASCADE, related_name="hits", verbose_name=_("instant win")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="instant_wins",
        verbose_name=_("member"),
    )
    sequence = models.PositiveIntegerField(_("number"), help_text=_("The winning count (N, 2N…)."))
    voucher = models.ForeignKey(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher"),
    )
    entry = models.ForeignKey(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("points entry"),
    )
    created_at = models.DateTimeField(_("won"), default=timezone.now)

    class Meta:
        verbose_name = _("instant win hit")
        verbose_name_plural = _("instant win hits")
        constraints = [
            models.UniqueConstraint(fields=["instant_win", "sequence"], name="instantwin_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.instant_win_id} #{self.sequence}: {self.member_id}"
