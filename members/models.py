"""Members: the customers of the programme, how they are identified, and their cached balances."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import Source


class Member(models.Model):
    """A customer in the programme.

    Identified by phone (E.164), email (stored lower-case), card number (12 digits, the last a
    Luhn check digit) or QR token (random, rotatable). ``balance``, ``pending`` and
    ``points_debt`` cache the ledger; they are written only by the ledger services, in the
    same transaction as the entries, and a database CHECK keeps them from going negative.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="member",
        verbose_name=_("portal account"),
    )
    phone = models.CharField(
        _("phone"),
        max_length=20,
        unique=True,
        null=True,
        blank=True,
        help_text=_("E.164, e.g. +358401234567."),
    )
    email = models.EmailField(_("email"), unique=True, null=True, blank=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    card_number = models.CharField(_("card number"), max_length=12, unique=True, editable=False)
    qr_token = models.CharField(_("QR token"), max_length=32, unique=True, editable=False)
    home_location = models.ForeignKey(
        "loyalty.Location",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("home location"),
    )
    balance = models.IntegerField(_("balance"), default=0, editable=False)
    pending = models.IntegerField(_("pending points"), default=0, editable=False)
    points_debt = models.IntegerField(
        _("owed points"),
        default=0,
        editable=False,
        help_text=_(
            "Points taken back by refunds after they were spent; paid from future earnings."
        ),
    )
    lifetime_points = models.IntegerField(_("points earned in total"), default=0, editable=False)
    first_purchase_at = models.DateTimeField(
        _("first purchase"), null=True, blank=True, editable=False
    )
    last_activity_at = models.DateTimeField(
        _("last activity"), null=True, blank=True, editable=False
    )
    enrolled_at = models.DateTimeField(_("enrolled"), default=timezone.now, editable=False)
    enrolled_via = models.CharField(
        _("enrolled via"),
        max_length=10,
        choices=Source.choices,
        default=Source.ADMIN,
        editable=False,
    )
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("enrolled by"),
        editable=False,
    )
    tier = models.ForeignKey(
        "loyalty.Tier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("tier"),
        editable=False,
    )
    tier_valid_until = models.DateTimeField(
        _("tier kept at least until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Re-evaluation cannot lower the tier before this time (window plus grace)."),
    )
    tier_floor = models.ForeignKey(
        "loyalty.Tier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tier set by staff"),
        editable=False,
    )
    tier_floor_until = models.DateField(
        _("staff-set tier until"), null=True, blank=True, editable=False
    )
    vip_until = models.DateTimeField(
        _("VIP until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("End of the current VIP period."),
    )
    marketing_email = models.BooleanField(_("marketing by email"), default=False, editable=False)
    marketing_sms = models.BooleanField(_("marketing by SMS"), default=False, editable=False)
    message_frequency = models.CharField(
        _("how often"),
        max_length=10,
        choices=[
            ("any", _("Any time")),
            ("weekly", _("At most weekly")),
            ("monthly", _("At most monthly")),
            ("never", _("Never")),
        ],
        default="any",
        help_text=_("How often the member accepts marketing messages."),
    )
    favourite_categories = models.JSONField(_("favourite categories"), default=list, blank=True)
    terms_accepted_at = models.DateTimeField(
        _("terms accepted"), null=True, blank=True, editable=False
    )
    erased_at = models.DateTimeField(
        _("personal data erased"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "The member asked to be forgotten: personal fields are gone, the ledger's numbers stay."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        permissions = [
            ("adjust_points", _("Can adjust a member's points")),
            ("use_counter", _("Can use the counter page")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="member_balance_not_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="member_pending_not_negative"),
            models.CheckConstraint(
                condition=Q(points_debt__gte=0), name="member_debt_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(phone__isnull=False)
                | Q(email__isnull=False)
                | Q(erased_at__isnull=False),
                name="member_has_contact",
            ),
        ]
        indexes = [
            # Name search in the admin and at the counter is a case-insensitive prefix match.
            models.Index(Upper("last_name"), name="member_last_name_upper"),
            models.Index(fields=["-enrolled_at"], name="member_enrolled_latest"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def get_absolute_url(self) -> str:
        return reverse("admin:members_member_change", args=[self.pk])

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.phone or self.email or self.formatted_card_number

    def is_vip(self, *, at=None) -> bool:
        at = at or timezone.now()
        return self.vip_until is not None and at < self.vip_until

    @property
    def formatted_card_number(self) -> str:
        n = self.card_number or ""
        return " ".join(n[i : i + 4] for i in range(0, len(n), 4))


class VipMembership(models.Model):
    """A period of VIP status: granted at a threshold, by a manager's invitation, or paid.

    Periods of one member never overlap: a renewal starts when the current period ends.
    ``Member.vip_until`` caches the end of the latest period for fast reads.
    """

    class Source(models.TextChoices):
        THRESHOLD = "threshold", _("Reached the threshold")
        INVITATION = "invitation", _("Invited by a manager")
        PAID = "paid", _("Paid membership")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="vip_memberships", verbose_name=_("member")
    )
    source = models.CharField(_("how"), max_length=10, choices=Source.choices)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    fee = models.DecimalField(_("fee paid"), max_digits=10, decimal_places=2, null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("granted by"),
    )
    ended_notified = models.BooleanField(_("end announced"), default=False, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("VIP membership")
        verbose_name_plural = _("VIP memberships")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="vip_period_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(fee__isnull=True) | Q(fee__gte=0), name="vip_fee_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["member", "-ends_at"], name="vip_member_latest")]

    def __str__(self) -> str:
        return f"{self.member} {self.starts_at:%Y-%m-%d}–{self.ends_at:%Y-%m-%d}"


class ConsentRecord(models.Model):
    """A member's consent given or withdrawn: which channel, when, and where it was given.

    Append-only: the latest record per channel is the member's current choice (also cached
    on the member as ``marketing_email`` / ``marketing_sms``).
    """

    class Channel(models.TextChoices):
        EMAIL = "email", _("Marketing by email")
        SMS = "sms", _("Marketing by SMS")
        TERMS = "terms", _("Terms of the programme")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="consents", verbose_name=_("member")
    )
    channel = models.CharField(_("consent"), max_length=10, choices=Channel.choices)
    granted = models.BooleanField(_("given"))
    source = models.CharField(_("where"), max_length=10, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [
            models.Index(fields=["member", "channel", "-created_at"], name="consent_member_latest")
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.granted}"


class ClaimCode(models.Model):
    """A one-time code sent to a member enrolled at the counter, to link a portal login.

    Only a hash of the code is stored; a code is valid for a short time and a few attempts.
    """

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="claim_codes", verbose_name=_("member")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("portal account"),
    )
    code_hash = models.CharField(_("code hash"), max_length=64)
    channel = models.CharField(_("sent by"), max_length=10)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("claim code")
        verbose_name_plural = _("claim codes")

    def __str__(self) -> str:
        return f"{self.member} ({self.channel})"
