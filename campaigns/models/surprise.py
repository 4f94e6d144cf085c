"""Surprise and delight: N random members of a segment get a reward, the draw kept on record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SurpriseDraw(models.Model):
    """One draw: who could win (the candidate snapshot), the seed, and the winners.

    The winners are ``random.Random(int(seed)).sample(candidate_ids, min(count, matched))``
    over the candidates' member ids in ascending order (see ``campaigns.surprise``). The ids
    are stored compressed in ``candidates`` with their SHA-256, so the draw can be re-run and
    checked later even when the segment has changed since.
    """

    name = models.CharField(_("name"), max_length=100)
    segment = models.ForeignKey(
        "campaigns.Segment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="surprise_draws",
        verbose_name=_("segment"),
    )
    segment_name = models.CharField(
        _("segment name"), max_length=100, help_text=_("The segment's name at the draw.")
    )
    count = models.PositiveIntegerField(_("winners wanted"))
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reward"),
    )
    points = models.PositiveIntegerField(_("bonus points"), default=0)
    seed = models.CharField(
        _("seed"), max_length=20, help_text=_("The random seed the winners were drawn with.")
    )
    members_matched = models.PositiveIntegerField(_("members in the segment"))
    candidates = models.BinaryField(
        _("candidate ids"), editable=False, help_text=_("Compressed member ids, in order.")
    )
    candidates_sha256 = models.CharField(_("candidate list SHA-256"), max_length=64)
    drawn_at = models.DateTimeField(_("drawn"), default=timezone.now)
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("drawn by"),
    )
    note = models.TextField(_("note"), blank=True)
    request_key = models.CharField(
        _("request key"),
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_("A double-submitted form makes no second draw."),
    )

    class Meta:
        verbose_name = _("surprise draw")
        verbose_name_plural = _("surprise draws")
        ordering = ["-drawn_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(count__gte=1), name="surprise_count_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(reward__isnull=False) | models.Q(points__gt=0),
                name="surprise_has_reward_or_points",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SurpriseWinner(models.Model):
    """A member drawn in a surprise draw and what they were given (once: unique per draw)."""

    draw = models.ForeignKey(
        SurpriseDraw, on_delete=models.PROTECT, related_name="winners", verbose_name=_("draw")
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="+", verbose_name=_("member")
    )
    position = models.PositiveIntegerField(_("drawn as number"))
    voucher = models.OneToOneField(
        "rewards.Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher"),
    )
    entry = models.OneToOneField(
        "loyalty.LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("points entry"),
    )

    class Meta:
        verbose_name = _("surprise winner")
        verbose_name_plural = _("surprise winners")
        ordering = ["draw", "position"]
        constraints = [
            models.UniqueConstraint(fields=["draw", "member"], name="surprise_winner_once"),
            models.UniqueConstraint(fields=["draw", "position"], name="surprise_winner_position"),
        ]

    def __str__(self) -> str:
        return f"{self.draw} #{self.position}: {self.member}"
