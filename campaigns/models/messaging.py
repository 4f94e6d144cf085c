"""Member messages: message types and their templates, the message log, broadcasts, settings.

A *message type* (``voucher_issued``, ``birthday``, a broadcast of the spring sale, ...) is
either a service message (about the member's own points and vouchers) or marketing; it has a
template per language. Every message to a member is one ``MessageLog`` row per channel,
whether it was sent, held back for quiet hours, suppressed (with the reason) or failed.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import ConfigModel


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    INBOX = "inbox", _("Portal inbox")


class Category(models.TextChoices):
    SERVICE = "service", _("Service")
    MARKETING = "marketing", _("Marketing")


class MessagingSettings(ConfigModel):
    """The programme's message settings (one row): quiet hours, sender, portal address."""

    quiet_hours_start = models.TimeField(
        _("quiet hours start"),
        default=dt.time(21, 0),
        help_text=_("No email or SMS leaves from this local time on; the inbox is not affected."),
    )
    quiet_hours_end = models.TimeField(
        _("quiet hours end"),
        default=dt.time(8, 0),
        help_text=_(
            "Messages held back during quiet hours go out at this local time. "
            "The same start and end time means no quiet hours."
        ),
    )
    sender_name = models.CharField(
        _("sender name"),
        max_length=100,
        blank=True,
        help_text=_("Shown as the email sender's name; empty: the programme's name."),
    )
    portal_url = models.URLField(
        _("portal address"),
        blank=True,
        help_text=_(
            "Public address of the member portal, e.g. https://rewards.example.com, used for "
            "links in messages. Empty: the site's domain."
        ),
    )

    class Meta:
        verbose_name = _("message settings")
        verbose_name_plural = _("message settings")

    def __str__(self) -> str:
        return str(_("Message settings"))

    @classmethod
    def get(cls) -> MessagingSettings:
        """Return the settings row, creating it with the defaults the first time."""
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class MessageType(ConfigModel):
    """A kind of message the programme sends, with its category and allowed channels.

    Service messages tell members about their own points and vouchers (a voucher issued,
    points about to expire); marketing is everything else and needs consent.
    """

    code = models.SlugField(
        _("code"),
        max_length=50,
        unique=True,
        help_text=_("Stable name the platform uses to send it, e.g. voucher_issued."),
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    category = models.CharField(
        _("category"),
        max_length=10,
        choices=Category.choices,
        default=Category.MARKETING,
        help_text=_(
            "Service messages need no marketing consent and ignore the frequency the member "
            "chose; marketing needs both."
        ),
    )
    email = models.BooleanField(_("by email"), default=True)
    sms = models.BooleanField(_("by SMS"), default=False)
    inbox = models.BooleanField(_("in the portal inbox"), default=True)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Switched off: nothing of this type is sent.")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("message type")
        verbose_name_plural = _("message types")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name or self.code

    @property
    def is_marketing(self) -> bool:
        return self.category == Category.MARKETING

    def channels(self) -> list[str]:
        """Return the channels this type may use."""
        return [c for c in Channel.values if getattr(self, c)]


class MessageTemplate(ConfigModel):
    """The words of a message type in one language (Django template syntax)."""

    message_type = models.ForeignKey(
        MessageType,
        on_delete=models.CASCADE,
        related_name="templates",
        verbose_name=_("message type"),
    )
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    subject = models.CharField(
        _("subject"), max_length=200, help_text=_("Email subject and inbox title.")
    )
    text = models.TextField(_("text"), help_text=_("Plain text: the SMS and the email's text."))
    html = models.TextField(
        _("HTML"),
        blank=True,
        help_text=_("Optional HTML for email and the inbox; empty: the text is used."),
    )

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["message_type", "language"], name="message_template_one_per_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_type.code} ({self.language})"


class Broadcast(models.Model):
    """A marketing message sent once to every member of a segment."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")

    name = models.CharField(_("name"), max_length=100)
    message_type = models.ForeignKey(
        MessageType,
        on_delete=models.PROTECT,  # the log of a sent broadcast names its type
        related_name="broadcasts",
        limit_choices_to={"category": Category.MARKETING},
        verbose_name=_("message"),
    )
    segment = models.ForeignKey(
        "campaigns.Segment",
        on_delete=models.PROTECT,
        related_name="broadcasts",
        verbose_name=_("segment"),
    )
    email = models.BooleanField(_("by email"), default=True)
    sms = models.BooleanField(_("by SMS"), default=False)
    inbox = models.BooleanField(_("in the portal inbox"), default=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True, editable=False)
    recipients = models.PositiveIntegerField(_("members"), default=0, editable=False)
    sent_count = models.PositiveIntegerField(_("sent"), default=0, editable=False)
    queued_count = models.PositiveIntegerField(_("waiting"), default=0, editable=False)
    suppressed_count = models.PositiveIntegerField(_("suppressed"), default=0, editable=False)
    failed_count = models.PositiveIntegerField(_("failed"), default=0, editable=False)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def channels(self) -> list[str]:
        return [c for c in Channel.values if getattr(self, c)]


class MessageLog(models.Model):
    """One message to one member on one channel, and what became of it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        SUPPRESSED = "suppressed", _("Suppressed")
        FAILED = "failed", _("Failed")

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No marketing consent for this channel")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        FREQUENCY = "frequency", _("Frequency cap reached")
        NEVER = "never", _("Member wants no marketing")
        NO_EMAIL = "no_email", _("No email address")
        NO_PHONE = "no_phone", _("No phone number")
        INACTIVE = "inactive", _("Membership closed or erased")
        CHANNEL_NOT_ALLOWED = "channel", _("Channel not allowed for this message")
        TYPE_OFF = "type_off", _("Message type switched off")

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,  # members are never deleted (erasure anonymises them)
        related_name="messages",
        verbose_name=_("member"),
    )
    message_type = models.ForeignKey(
        MessageType, on_delete=models.PROTECT, related_name="+", verbose_name=_("message type")
    )
    marketing = models.BooleanField(_("marketing"), default=False)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    reason = models.CharField(_("reason"), max_length=15, choices=Reason.choices, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    recipient = models.CharField(_("to"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body_text = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True)
    dedupe_key = models.CharField(
        _("dedupe key"),
        max_length=100,
        null=True,
        blank=True,
        help_text=_("The same message with the same key is never sent twice to a member."),
    )
    broadcast = models.ForeignKey(
        Broadcast,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("broadcast"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    send_after = models.DateTimeField(_("send after"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("message log")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "message_type", "channel", "dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="message_log_once_per_key",
            )
        ]
        indexes = [
            models.Index(
                fields=["member", "channel", "-created_at"], name="message_member_channel"
            ),
            models.Index(
                fields=["send_after"],
                condition=Q(status="queued"),
                name="message_queued_due",
            ),
            models.Index(fields=["broadcast", "status"], name="message_broadcast_status"),
        ]

    def __str__(self) -> str:
        return f"{self.message_type_id} → {self.member_id} ({self.channel}, {self.status})"
