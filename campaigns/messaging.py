"""Member messages: the one service every part of the platform calls to tell a member something.

``message_send(member=, type_code=, context=, dedupe_key=)`` decides per channel (email, SMS,
portal inbox) whether the message may go, renders it in the member's language and writes one
``MessageLog`` row per channel: sent, queued (delivered after commit, or after quiet hours),
suppressed with the reason, or failed with the error. Delivery of email and SMS happens in the
``campaigns.message_deliver`` task on the ``messages`` queue.

The rule (also in docs/messages.md):

* Service messages tell members about their own points and vouchers, which they must know of
  (a voucher issued, points about to expire, points or a prize won). They need a contact on the
  channel, an active membership and the type switched on; they ignore marketing consent, the
  member's frequency (even "never": that choice is about marketing) and unsubscribing.
* Marketing messages need, per channel: consent for email / SMS (the inbox needs none, the
  member opens it), a frequency other than "never", and for email and SMS the frequency cap
  (weekly: no other marketing email or SMS in the last 7 days; monthly: 30 days). The inbox
  copy is never capped: it interrupts nobody.
* Quiet hours (programme time zone) hold back email and SMS of both kinds until they end.
* ``dedupe_key``: the same message type with the same key reaches a member's channel once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, models, transaction
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import FilterExpression, Node, Variable
from django.template.smartif import TokenBase
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.formats import date_format
from django.utils.html import escape, linebreaks
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.models.messaging import (
    Broadcast,
    Category,
    Channel,
    MessageLog,
    MessageTemplate,
    MessageType,
    MessagingSettings,
)
from loyalty import errors
from loyalty.formatting import number
from members.sms import sms_send

logger = logging.getLogger("campaigns.messaging")

Status = MessageLog.Status
Reason = MessageLog.Reason

UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
UNSUBSCRIBE_MAX_AGE = 400 * 24 * 3600  # a link in an old email keeps working for a year+
BROADCAST_CHUNK = 500
DUE_BATCH = 20_000

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class MessageTypeUnknown(errors.NotFound):
    code = "message_type_unknown"
    message = _("There is no message type %(code)s.")


class TemplateInvalid(errors.InvalidInput):
    code = "message_template_invalid"
    message = _("The message template is not valid.")


class UnknownVariable(TemplateInvalid):
    code = "message_unknown_variable"
    message = _("Unknown variable in the template: %(names)s. Variables you can use: %(allowed)s.")


class UnsubscribeLinkInvalid(errors.InvalidInput):
    code = "unsubscribe_link_invalid"
    message = _("This unsubscribe link is not valid or has expired.")


class BroadcastError(errors.InvalidInput):
    code = "broadcast_invalid"


class BroadcastEmptySegment(BroadcastError):
    code = "broadcast_empty_segment"
    message = _("The segment has no members: there is nobody to send to.")


class BroadcastNotDraft(BroadcastError):
    code = "broadcast_not_draft"
    message = _("This broadcast has already been sent.")


class BroadcastNoChannel(BroadcastError):
    code = "broadcast_no_channel"
    message = _("Choose at least one channel.")


class BroadcastNotMarketing(BroadcastError):
    code = "broadcast_not_marketing"
    message = _("A broadcast sends a marketing message; choose an active marketing message type.")


class TestSendNoEmail(errors.InvalidInput):
    code = "test_send_no_email"
    message = _("Your staff account has no email address to send the test to.")


# --------------------------------------------------------------------------------------------
# Built-in message types and their default words
# --------------------------------------------------------------------------------------------

COMMON_VARIABLES: tuple[str, ...] = (
    "name",
    "first_name",
    "program",
    "points_name",
    "balance",
    "points_to_next_reward",
    "next_reward",
    "expiry_date",
    "expiring_points",
    "voucher_code",
    "voucher_qr",
    "tier",
    "portal_url",
    "unsubscribe_url",
)
# Common variables a caller's context cannot replace (the caller's "name" is not the member's).
OWN_VARIABLES = frozenset(
    {"name", "first_name", "program", "points_name", "portal_url", "unsubscribe_url", "voucher_qr"}
)
# Names a template may use without them being variables of ours.
_TEMPLATE_BUILTINS = frozenset({"True", "False", "None", "forloop", "block"})


@dataclass(frozen=True)
class MessageDefault:
    """A built-in message type: its category, channels and default words."""

    name: Any
    category: str
    subject: Any
    text: Any
    html: Any = ""
    email: bool = True
    sms: bool = False
    inbox: bool = True
    variables: tuple[str, ...] = field(default_factory=tuple)


_S, _M = Category.SERVICE, Category.MARKETING

DEFAULT_MESSAGES: dict[str, MessageDefault] = {
    "points_expiring": MessageDefault(
        name=_("Points expiring"),
        category=_S,
        sms=True,
        subject=_("{{ expiring_points }} {{ points_name }} expire on {{ expiry_date }}"),
        text=_(
            "Hello {{ first_name }},\n\n{{ expiring_points }} of your {{ points_name }} expire "
            "on {{ expiry_date }}. You have {{ balance }} {{ points_name }} now: spend them "
            "before they go.\n\n{{ portal_url }}"
        ),
        variables=("points", "days_left", "expires_on"),
    ),
    "birthday": MessageDefault(
        name=_("Birthday greeting"),
        category=_M,
        sms=True,
        subject=_("Happy birthday, {{ first_name }}!"),
        text=_(
            "Happy birthday, {{ first_name }}! Thank you for being a {{ program }} member."
            "\n\n{{ portal_url }}"
        ),
        variables=("reward", "points", "year", "voucher_expires_at"),
    ),
    "sweepstake_won": MessageDefault(
        name=_("Sweepstake won"),
        category=_S,
        subject=_("You won: {{ prize }}"),
        text=_(
            "Congratulations {{ first_name }}! You won {{ prize }} in {{ sweepstake }}."
            "{% if voucher_code %} Your voucher code: {{ voucher_code }}.{% endif %}"
            "\n\n{{ portal_url }}"
        ),
        variables=("prize", "sweepstake", "points"),
    ),
    "voucher_issued": MessageDefault(
        name=_("Voucher issued"),
        category=_S,
        subject=_("Your voucher: {{ reward }}"),
        text=_(
            "Hello {{ first_name }},\n\nyour voucher for {{ reward }} is ready. "
            "Show the code {{ voucher_code }} at the till.\n\n{{ portal_url }}"
        ),
        html=_(
            "<p>Hello {{ first_name }},</p><p>your voucher for <strong>{{ reward }}</strong> "
            "is ready. Show this code at the till:</p><p>{{ voucher_qr }}</p>"
            "<p><strong>{{ voucher_code }}</strong></p>"
            '<p><a href="{{ portal_url }}">{{ program }}</a></p>'
        ),
        variables=("reward",),
    ),
    "referral_rewarded": MessageDefault(
        name=_("Referral rewarded"),
        category=_S,
        subject=_("Thanks for bringing a friend"),
        text=_(
            "Hello {{ first_name }},\n\nyour friend joined {{ program }}. "
            "{% if points %}You got {{ points }} {{ points_name }}. {% endif %}"
            "Your balance: {{ balance }} {{ points_name }}.\n\n{{ portal_url }}"
        ),
        variables=("points", "friend", "role", "milestones", "reward"),
    ),
    "challenge_completed": MessageDefault(
        name=_("Challenge completed"),
        category=_S,
        subject=_("Challenge completed: {{ challenge }}"),
        text=_(
            "Well done {{ first_name }}! You completed {{ challenge }}."
            "{% if points %} You got {{ points }} {{ points_name }}.{% endif %}"
            "\n\n{{ portal_url }}"
        ),
        variables=("challenge", "points", "reward", "badge"),
    ),
    "badge_earned": MessageDefault(
        name=_("Badge earned"),
        category=_M,
        subject=_("New badge: {{ badge }}"),
        text=_("Hello {{ first_name }}, you earned the badge {{ badge }}.\n\n{{ portal_url }}"),
        variables=("badge", "description"),
    ),
    "near_reward": MessageDefault(
        name=_("Close to a reward"),
        category=_M,
        subject=_("Almost there, {{ first_name }}"),
        text=_(
            "Hello {{ first_name }}, "
            "{% if card %}only {{ stamps_missing }} more stamps on your {{ card }} card"
            "{% if reward %} for {{ reward }}{% endif %}."
            "{% else %}you have {{ balance }} {{ points_name }}: only "
            "{{ points_to_next_reward }} more for {{ next_reward }}.{% endif %}"
            "\n\n{{ portal_url }}"
        ),
        variables=(
            "reward",
            "points_cost",
            "points_missing",
            "card",
            "stamps",
            "stamps_needed",
            "stamps_missing",
        ),
    ),
    "win_back": MessageDefault(
        name=_("We miss you"),
        category=_M,
        sms=True,
        subject=_("We miss you, {{ first_name }}"),
        text=_(
            "Hello {{ first_name }}, it has been a while. You still have {{ balance }} "
            "{{ points_name }} waiting for you at {{ program }}.\n\n{{ portal_url }}"
        ),
        variables=("reward", "points", "voucher_expires_at"),
    ),
    "monthly_statement": MessageDefault(
        name=_("Monthly statement"),
        category=_M,
        inbox=False,
        subject=_("Your {{ program }} month: {{ balance }} {{ points_name }}"),
        text=_(
            "Hello {{ first_name }},\n\n{% if period %}{{ period }}: {% endif %}"
            "{% if earned %}earned {{ earned }}, {% endif %}{% if spent %}spent {{ spent }}, "
            "{% endif %}balance {{ balance }} {{ points_name }}."
            "{% if expiring_points %} {{ expiring_points }} expire on {{ expiry_date }}."
            "{% endif %}\n\n{{ portal_url }}"
        ),
        variables=(
            "period",
            "month",
            "earned",
            "spent",
            "expired",
            "pending",
            "expiring",
            "expiring_days",
            "tier_progress",
        ),
    ),
    "campaign_started": MessageDefault(
        name=_("Campaign started"),
        category=_M,
        subject=_("{{ campaign }} has started"),
        text=_("Hello {{ first_name }}, {{ campaign }} has started.\n\n{{ portal_url }}"),
        variables=("campaign", "kind", "ends"),
    ),
    "instant_win": MessageDefault(
        name=_("Instant win"),
        category=_S,
        subject=_("You won!"),
        text=_(
            "Congratulations {{ first_name }}! Your purchase won "
            "{% if reward %}{{ reward }}{% else %}{{ points }} {{ points_name }}{% endif %}."
            "{% if voucher_code %} Your voucher code: {{ voucher_code }}.{% endif %}"
            "\n\n{{ portal_url }}"
        ),
        variables=("reward", "points", "number"),
    ),
    "surprise": MessageDefault(
        name=_("Surprise reward"),
        category=_S,
        subject=_("A surprise for you, {{ first_name }}"),
        text=_(
            "Hello {{ first_name }}, a little thank-you from {{ program }}: "
            "{% if reward %}{{ reward }}{% else %}{{ points }} {{ points_name }}{% endif %}."
            "{% if voucher_code %} Your voucher code: {{ voucher_code }}.{% endif %}"
            "\n\n{{ portal_url }}"
        ),
        variables=("reward", "points", "draw"),
    ),
    "broadcast": MessageDefault(
        name=_("News"),
        category=_M,
        subject=_("News from {{ program }}"),
        text=_("Hello {{ first_name }},\n\n{{ program }} has news for you.\n\n{{ portal_url }}"),
    ),
}


def allowed_variables(message_type: MessageType | str) -> tuple[str, ...]:
    """Return the variables a template of ``message_type`` may use."""
    code = message_type if isinstance(message_type, str) else message_type.code
    default = DEFAULT_MESSAGES.get(code)
    return COMMON_VARIABLES + (default.variables if default else ())


def messages_setup(*, codes: Sequence[str] | None = None) -> int:
    """Create the built-in message types and their default templates that are missing.

    A language gets its template once its translation exists (differs from English), so a
    later run after the translations arrive adds them; existing rows are never touched.
    Return how many rows were created.
    """
    created = 0
    base = "en"
    for code, default in DEFAULT_MESSAGES.items():
        if codes is not None and code not in codes:
            continue
        with transaction.atomic():
            with translation.override(base):
                mtype, made = MessageType.objects.get_or_create(
                    code=code,
                    defaults={
                        "name": str(default.name),
                        "category": default.category,
                        "email": default.email,
                        "sms": default.sms,
                        "inbox": default.inbox,
                    },
                )
                english = (str(default.subject), str(default.text), str(default.html))
            created += made
            have = set(mtype.templates.values_list("language", flat=True))
            for language, _name in settings.LANGUAGES:
                if language in have:
                    continue
                with translation.override(language):
                    words = (str(default.subject), str(default.text), str(default.html))
                if language != base and words == english:
                    continue  # not translated yet: English is the fallback
                MessageTemplate.objects.get_or_create(
                    message_type=mtype,
                    language=language,
                    defaults={"subject": words[0], "text": words[1], "html": words[2]},
                )
                created += 1
    return created


def _message_type_load(code: str) -> MessageType | None:
    return MessageType.objects.prefetch_related("templates").filter(code=code).first()


def message_type_get(code: str) -> MessageType:
    """Return the message type ``code`` with its templates; a missing built-in one is created.

    Types and templates are configuration: cached per process like the programme (a save in
    the admin is seen at once).
    """
    from loyalty.selectors import _config

    mtype = _config(f"campaigns.message_type:{code}", lambda: _message_type_load(code))
    if mtype is None and code in DEFAULT_MESSAGES:
        messages_setup(codes=[code])
        mtype = _message_type_load(code)
    if mtype is None:
        raise MessageTypeUnknown(code=code)
    return mtype


# --------------------------------------------------------------------------------------------
# Templates: parsing, checking variables, rendering
# --------------------------------------------------------------------------------------------

# A template engine of its own: no template loaders (no {% include %} of files on disk), no
# tag libraries beyond the built-ins, and unknown variables checked before rendering.
_ENGINE = Engine(dirs=[], app_dirs=False, libraries={}, loaders=[])


def _names_used(template: Template) -> set[str]:
    """Return the variable names a template reads (loop and ``with`` names excluded)."""
    used: set[str] = set()
    defined: set[str] = set()
    seen: set[int] = set()

    def var(v: Any) -> None:
        if isinstance(v, Variable) and v.lookups:
            used.add(v.lookups[0])

    def walk(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, FilterExpression):
            var(obj.var)
            for _func, args in obj.filters:
                for is_lookup, arg in args:
                    if is_lookup:
                        var(arg)
        elif isinstance(obj, Variable):
            var(obj)
        elif isinstance(obj, list | tuple | set):
            for item in obj:
                walk(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                walk(item)
        elif isinstance(obj, Node | TokenBase):
            defined.update(getattr(obj, "loopvars", ()) or ())
            extra = getattr(obj, "extra_context", None)
            if isinstance(extra, dict):
                defined.update(extra)
            target = getattr(obj, "target", None) or getattr(obj, "var_name", None)
            if isinstance(target, str):
                defined.add(target)
            for key, value in vars(obj).items():
                if key not in ("origin", "token"):
                    walk(value)

    walk(template.nodelist)
    return used - defined - _TEMPLATE_BUILTINS


def _parse(source: str) -> Template:
    try:
        template = Template(source or "", engine=_ENGINE)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(
            _("The template has a syntax error: %(error)s"), error=str(exc)
        ) from exc
    # Tags that read other templates or dump the whole context have no place in a message.
    from django.template.defaulttags import DebugNode
    from django.template.loader_tags import ExtendsNode, IncludeNode

    refused = template.nodelist.get_nodes_by_type((DebugNode, ExtendsNode, IncludeNode))
    if refused:
        raise TemplateInvalid(_("The tags debug, include and extends cannot be used in messages."))
    return template


@lru_cache(maxsize=512)
def _compiled(source: str) -> tuple[Template, frozenset[str]]:
    """Parse a template once per process (a broadcast renders the same words for everyone)."""
    template = _parse(source)
    return template, frozenset(_names_used(template))


def template_validate(*, message_type: MessageType | str, source: str) -> None:
    """Raise ``TemplateInvalid`` / ``UnknownVariable`` if ``source`` is not a usable template."""
    allowed = allowed_variables(message_type)
    unknown = sorted(_names_used(_parse(source)) - set(allowed))
    if unknown:
        raise UnknownVariable(names=", ".join(unknown), allowed=", ".join(allowed))


def template_errors(
    *, message_type: MessageType | str, fields: Mapping[str, str]
) -> ValidationError:
    """Return a ``ValidationError`` per field for the admin form ({} when all are fine)."""
    found: dict[str, list[str]] = {}
    for name, source in fields.items():
        try:
            template_validate(message_type=message_type, source=source)
        except TemplateInvalid as exc:
            found[name] = [exc.detail]
    return ValidationError(found) if found else ValidationError({})


class _Lazy:
    """A template variable computed on first use (Django templates call callables)."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        self._compute = compute
        self._done = False
        self._value: Any = None

    def __call__(self) -> Any:
        if not self._done:
            self._value = self._compute()
            self._done = True
        return self._value


def _settings() -> MessagingSettings:
    from loyalty.selectors import _config

    return _config("campaigns.messaging_settings", MessagingSettings.get)


def _base_url(config: MessagingSettings | None = None) -> str:
    config = config or _settings()
    if config.portal_url:
        return config.portal_url.rstrip("/")
    from django.contrib.sites.models import Site

    try:
        domain = Site.objects.get_current().domain  # cached per process
    except Site.DoesNotExist:
        domain = "localhost:8000"
    scheme = "http" if domain.startswith(("localhost", "127.", "example.com")) else "https"
    return f"{scheme}://{domain}"


def _format(value: Any) -> Any:
    """Format a caller's value for the active language (numbers grouped, dates localised)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | Decimal):
        # Zero stays a number so ``{% if points %}`` in a template reads it as "none".
        return number(value) if value else value
    if isinstance(value, datetime):
        return date_format(timezone.localtime(value), "DATE_FORMAT")
    if isinstance(value, date):
        return date_format(value, "DATE_FORMAT")
    if isinstance(value, models.Model):
        return str(value)
    return value


def _format_code(code: Any) -> str:
    """Show a voucher code as members see it on vouchers (ABCDE-FGHJK)."""
    from rewards.codes import voucher_code_normalize

    raw = voucher_code_normalize(str(code or ""))
    return f"{raw[:5]}-{raw[5:]}" if len(raw) == 10 else str(code or "")


def _qr_img(code: str) -> str:
    import segno

    uri = segno.make(code, error="m").png_data_uri(scale=5, border=2)
    return mark_safe(  # noqa: S308 - the data URI is base64 and the code from our alphabet
        f'<img src="{uri}" alt="{escape(code)}" width="160" height="160">'
    )


_CHANNEL_LETTER = {Channel.EMAIL: "e", Channel.SMS: "s", "": "a"}
_LETTER_CHANNEL = {v: k for k, v in _CHANNEL_LETTER.items()}


def _unsubscribe_mac(payload: str, secret: str) -> str:
    # An HMAC-SHA256 cut to 120 bits keeps the link short enough for an SMS, still unguessable.
    digest = salted_hmac(UNSUBSCRIBE_SALT, payload, secret=secret, algorithm="sha256").digest()
    return signing.b64_encode(digest[:15]).decode()


def unsubscribe_token(*, member, channel: str | None = None, at: datetime | None = None) -> str:
    """Return a signed token that unsubscribes ``member`` (from ``channel``, or all marketing).

    ``<member id>-<channel letter>-<time>-<signature>``, ids and time in base 62: about 35
    characters, short enough for the link in an SMS.
    """
    stamp = int((at or timezone.now()).timestamp())
    letter = _CHANNEL_LETTER.get(channel or "", "a")
    payload = f"{signing.b62_encode(member.pk)}-{letter}-{signing.b62_encode(stamp)}"
    return f"{payload}-{_unsubscribe_mac(payload, settings.SECRET_KEY)}"


def unsubscribe_url(*, member, channel: str | None = None, base: str | None = None) -> str:
    token = unsubscribe_token(member=member, channel=channel)
    path = reverse("campaigns:unsubscribe", args=[token])
    return f"{base if base is not None else _base_url()}{path}"


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    language: str


def _member_variables(member, context: Mapping[str, Any], config: MessagingSettings) -> dict:
    """Return the common variables for ``member``, each computed only if a template uses it."""
    from loyalty.selectors import member_expiring_soon, program_get
    from rewards.selectors import catalogue

    program = program_get()
    base = _base_url(config)
    voucher = context.get("voucher")
    code = _format_code(
        context.get("voucher_code") or (voucher.code if voucher is not None else "")
    )
    raw_code = code.replace("-", "")

    def full_name() -> str:
        return f"{member.first_name} {member.last_name}".strip() or gettext("member")

    def next_reward():
        return (
            catalogue().filter(points_cost__gt=member.balance).order_by("points_cost", "pk").first()
        )

    nxt = _Lazy(next_reward)
    expiring = _Lazy(lambda: member_expiring_soon(member=member))

    def expiry_date() -> str:
        if "expiry_date" in context:
            return _format(context["expiry_date"])
        first = expiring().first_expiry
        return date_format(timezone.localtime(first), "DATE_FORMAT") if first else ""

    def expiring_points() -> str:
        if "expiring_points" in context:
            return _format(context["expiring_points"])
        return number(expiring().points)

    def tier() -> str:
        return str(member.tier) if member.tier_id else ""

    return {
        "name": _Lazy(full_name),
        "first_name": _Lazy(lambda: member.first_name or full_name()),
        "program": program.name,
        "points_name": program.points_name,
        "balance": _Lazy(lambda: number(member.balance)),
        "points_to_next_reward": _Lazy(
            lambda: number(nxt().points_cost - member.balance) if nxt() else ""
        ),
        "next_reward": _Lazy(lambda: str(nxt()) if nxt() else ""),
        "expiry_date": _Lazy(expiry_date),
        "expiring_points": _Lazy(expiring_points),
        "voucher_code": code,
        "voucher_qr": _Lazy(lambda: _qr_img(raw_code) if raw_code else ""),
        "tier": _Lazy(tier),
        "portal_url": f"{base}{reverse('portal:dashboard')}",
    }


def message_render(
    *,
    member,
    message_type: MessageType,
    context: Mapping[str, Any] | None = None,
    channel: str | None = None,
    config: MessagingSettings | None = None,
) -> Rendered:
    """Render ``message_type`` for ``member`` in the member's language.

    Raise ``UnknownVariable`` when a template uses a variable that does not exist, and
    ``TemplateInvalid`` when there is no template or it does not parse.
    """
    config = config or _settings()
    context = dict(context or {})
    template = _template_for(message_type, member.language)
    if template is None:
        raise TemplateInvalid(_("The message %(code)s has no template."), code=message_type.code)
    allowed = set(allowed_variables(message_type))
    compiled = {name: _compiled(getattr(template, name)) for name in ("subject", "text", "html")}
    parsed = {name: c[0] for name, c in compiled.items()}
    unknown = sorted(set().union(*(c[1] for c in compiled.values())) - allowed)
    if unknown:
        raise UnknownVariable(names=", ".join(unknown), allowed=", ".join(sorted(allowed)))
    language = member.language or settings.LANGUAGE_CODE
    with translation.override(language):
        values = _member_variables(member, context, config)
        for key, value in context.items():
            if key not in allowed or key in OWN_VARIABLES:
                continue
            if key in COMMON_VARIABLES and value in ("", None):
                continue  # the caller does not know it: keep the member's own figure
            values[key] = _format_code(value) if key == "voucher_code" else _format(value)
        values["unsubscribe_url"] = (
            unsubscribe_url(member=member, channel=channel, base=_base_url(config))
            if message_type.is_marketing
            else ""
        )
        text_values = {**values, "voucher_qr": values["voucher_code"]}
        try:
            subject = parsed["subject"].render(Context(text_values, autoescape=False))
            text = parsed["text"].render(Context(text_values, autoescape=False))
            html = (
                parsed["html"].render(Context(values, autoescape=True))
                if template.html.strip()
                else ""
            )
        except Exception as exc:  # a template error at render time is a bad template
            raise TemplateInvalid(
                _("The template could not be rendered: %(error)s"), error=str(exc)
            ) from exc
    return Rendered(
        subject=" ".join(subject.split())[:255],
        text=text.strip(),
        html=html.strip(),
        language=template.language,
    )


def _template_for(message_type: MessageType, language: str) -> MessageTemplate | None:
    """Return the template in ``language``, else the programme's default language, else English."""
    order = [language, settings.LANGUAGE_CODE, "en"]
    templates = {t.language: t for t in message_type.templates.all()}
    for code in order:
        if code in templates:
            return templates[code]
    return next(iter(templates.values()), None)


# --------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------


def _quiet_until(at: datetime, config: MessagingSettings) -> datetime | None:
    """Return when quiet hours around ``at`` end, or None when ``at`` is not in them."""
    start, end = config.quiet_hours_start, config.quiet_hours_end
    if start == end:
        return None
    local = timezone.localtime(at)
    now = local.time()
    quiet = (start <= now < end) if start < end else (now >= start or now < end)
    if not quiet:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    naive = datetime.combine(day, end)
    return timezone.make_aware(naive, local.tzinfo) if timezone.is_naive(naive) else naive


def _unsubscribed(member, channel: str) -> bool:
    """True when the member's latest consent on ``channel`` was a withdrawal (had said yes)."""
    from members.models import ConsentRecord

    return ConsentRecord.objects.filter(member=member, channel=channel, granted=False).exists()


def _decide(
    *,
    member,
    mtype: MessageType,
    channel: str,
    capped: Callable[[], bool],
) -> str:
    """Return the reason ``channel`` is suppressed, or "" when the message may go."""
    if not member.is_active or member.erased_at is not None:
        return Reason.INACTIVE
    if not mtype.is_active:
        return Reason.TYPE_OFF
    if not getattr(mtype, channel):
        return Reason.CHANNEL_NOT_ALLOWED
    if mtype.is_marketing and member.message_frequency == "never":
        return Reason.NEVER
    if channel == Channel.EMAIL and not member.email:
        return Reason.NO_EMAIL
    if channel == Channel.SMS and not member.phone:
        return Reason.NO_PHONE
    if mtype.is_marketing and channel in (Channel.EMAIL, Channel.SMS):
        consent = member.marketing_email if channel == Channel.EMAIL else member.marketing_sms
        if not consent:
            return Reason.UNSUBSCRIBED if _unsubscribed(member, channel) else Reason.NO_CONSENT
        if capped():
            return Reason.FREQUENCY
    return ""


def _frequency_capped(member, at: datetime) -> bool:
    """True if a marketing email or SMS went (or waits) within the member's chosen interval."""
    days = {"weekly": 7, "monthly": 30}.get(member.message_frequency)
    if not days:
        return False
    return MessageLog.objects.filter(
        member=member,
        marketing=True,
        channel__in=[Channel.EMAIL, Channel.SMS],
        status__in=[Status.QUEUED, Status.SENT],
        created_at__gt=at - timedelta(days=days),
    ).exists()


def _marketing_footer(rendered: Rendered, *, channel: str, url: str) -> Rendered:
    if channel == Channel.SMS:
        text = f"{rendered.text}\n{gettext('Stop: %(url)s') % {'url': url}}"
        return Rendered(rendered.subject, text, "", rendered.language)
    note = gettext("You receive this because you agreed to news from us.")
    link = gettext("Unsubscribe")
    text = f"{rendered.text}\n\n--\n{note}\n{link}: {url}"
    html = rendered.html
    if html:
        html += format_footer(note=note, link=link, url=url)
    return Rendered(rendered.subject, text, html, rendered.language)


def format_footer(*, note: str, link: str, url: str) -> str:
    return (
        f'<hr><p style="font-size:small">{escape(note)} '
        f'<a href="{escape(url)}">{escape(link)}</a></p>'
    )


def _queue_delivery(log_id: int) -> None:
    from campaigns.tasks import message_deliver

    message_deliver.delay(log_id)


def message_send(
    *,
    member: Any,
    type_code: str,
    context: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    channels: Sequence[str] | None = None,
    at: datetime | None = None,
    broadcast: Any = None,
) -> list[MessageLog]:
    """Queue message ``type_code`` for ``member`` on the allowed channels; return log rows.

    Each channel gets one ``MessageLog`` row: ``sent`` (inbox), ``queued`` (email and SMS,
    delivered after commit or when quiet hours end), ``suppressed`` with the reason, or
    ``failed`` when the template cannot be rendered. With ``dedupe_key``, a channel that
    already has the message keeps its first row (returned), nothing is sent again.
    ``channels`` limits the channels; one the type does not allow is logged as suppressed.
    """
    at = at or timezone.now()
    mtype = message_type_get(type_code)
    explicit = channels is not None
    wanted = list(dict.fromkeys(channels)) if explicit else mtype.channels()
    bad = [c for c in wanted if c not in Channel.values]
    if bad:
        raise errors.InvalidInput(
            _("Unknown channel: %(channel)s."), field="channels", channel=", ".join(bad)
        )
    if dedupe_key is not None:
        dedupe_key = str(dedupe_key)[:100]
    config = _settings()
    logs: list[MessageLog] = []
    with transaction.atomic():
        if mtype.is_marketing:
            # Marketing checks the frequency cap and writes under the member's lock, so two
            # campaigns at once cannot both pass a weekly cap.
            from loyalty.services import member_lock

            member = member_lock(member)
        existing: dict[str, MessageLog] = {}
        if dedupe_key is not None:
            existing = {
                log.channel: log
                for log in MessageLog.objects.filter(
                    member=member, message_type=mtype, dedupe_key=dedupe_key, channel__in=wanted
                )
            }
        cap: list[bool] = []

        def capped() -> bool:
            if not cap:
                cap.append(_frequency_capped(member, at))
            return cap[0]

        quiet_until = _quiet_until(at, config)
        for channel in wanted:
            if channel in existing:
                logs.append(existing[channel])
                continue
            log = MessageLog(
                member=member,
                message_type=mtype,
                marketing=mtype.is_marketing,
                channel=channel,
                dedupe_key=dedupe_key,
                broadcast=broadcast,
                created_at=at,
                language=member.language or "",
            )
            reason = _decide(member=member, mtype=mtype, channel=channel, capped=capped)
            if reason:
                log.status, log.reason = Status.SUPPRESSED, reason
            else:
                _fill(
                    log, member=member, mtype=mtype, context=context, channel=channel, config=config
                )
                if log.status != Status.FAILED:
                    if channel == Channel.INBOX:
                        log.status, log.sent_at = Status.SENT, at
                    else:
                        log.status = Status.QUEUED
                        log.send_after = quiet_until or at
                        log.recipient = member.email if channel == Channel.EMAIL else member.phone
            try:
                with transaction.atomic():
                    log.save()
            except IntegrityError:
                if dedupe_key is None:
                    raise
                # The same message with this key was logged concurrently: keep that one.
                log = MessageLog.objects.get(
                    member=member, message_type=mtype, channel=channel, dedupe_key=dedupe_key
                )
                logs.append(log)
                continue
            if log.status == Status.QUEUED and quiet_until is None:
                transaction.on_commit(lambda pk=log.pk: _queue_delivery(pk))
            logs.append(log)
    return logs


def _fill(log: MessageLog, *, member, mtype, context, channel: str, config) -> None:
    """Render the message into ``log``; a template error marks the row failed."""
    try:
        rendered = message_render(
            member=member, message_type=mtype, context=context, channel=channel, config=config
        )
    except TemplateInvalid as exc:
        log.status, log.error = Status.FAILED, exc.detail
        logger.warning("message %s for member %s not rendered: %s", mtype.code, member.pk, exc)
        return
    if mtype.is_marketing and channel != Channel.INBOX:
        with translation.override(member.language or settings.LANGUAGE_CODE):
            url = unsubscribe_url(member=member, channel=channel, base=_base_url(config))
            rendered = _marketing_footer(rendered, channel=channel, url=url)
    log.subject = rendered.subject
    log.body_text = rendered.text
    log.body_html = rendered.html
    log.language = rendered.language


def _from_email(config: MessagingSettings) -> str:
    from email.utils import formataddr, parseaddr

    from loyalty.selectors import program_get

    name = config.sender_name or program_get().name
    _old, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((name, address or settings.DEFAULT_FROM_EMAIL))


def _transport(log: MessageLog, member, config: MessagingSettings) -> None:
    """Hand one message to the email or SMS backend (raises on failure)."""
    if log.channel == Channel.EMAIL:
        headers = {}
        if log.marketing:
            url = unsubscribe_url(member=member, channel=Channel.EMAIL, base=_base_url(config))
            headers = {
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        email = EmailMultiAlternatives(
            subject=log.subject,
            body=log.body_text,
            from_email=_from_email(config),
            to=[member.email],
            headers=headers,
        )
        if log.body_html:
            email.attach_alternative(log.body_html, "text/html")
        email.send(fail_silently=False)
    elif log.channel == Channel.SMS and not sms_send(to=member.phone, body=log.body_text):
        raise RuntimeError("the SMS backend sent nothing")


def message_deliver(*, log_id: int, at: datetime | None = None) -> MessageLog | None:
    """Deliver one queued email or SMS whose time has come; record sent, suppressed or failed.

    What may have changed while it waited is checked again (consent withdrawn, contact
    removed, membership closed). A backend error marks the row failed; it never raises.
    """
    at = at or timezone.now()
    config = _settings()
    with transaction.atomic():
        log = (
            MessageLog.objects.select_for_update(of=("self",))
            .select_related("member", "message_type")
            .filter(pk=log_id)
            .first()
        )
        if log is None or log.status != Status.QUEUED:
            return log
        if log.send_after and log.send_after > at:
            return log
        member = log.member
        mtype = log.message_type
        reason = _decide(member=member, mtype=mtype, channel=log.channel, capped=lambda: False)
        if reason:
            log.status, log.reason = Status.SUPPRESSED, reason
            log.save(update_fields=["status", "reason"])
            return log
        try:
            _transport(log, member, config)
        except Exception as exc:  # any backend error: the message failed, the job goes on
            logger.exception("message %s could not be delivered", log.pk)
            log.status, log.error = Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
            log.save(update_fields=["status", "error"])
            return log
        log.status, log.sent_at = Status.SENT, at
        log.recipient = (member.email if log.channel == Channel.EMAIL else member.phone) or ""
        log.save(update_fields=["status", "sent_at", "recipient"])
    return log


def messages_send_due(*, at: datetime | None = None, limit: int = DUE_BATCH) -> int:
    """Queue delivery of the email and SMS whose time has come (after quiet hours, or missed).

    At most ``limit`` per run (the job runs every few minutes); a row queued twice is
    delivered once (``message_deliver`` locks it and checks its status).
    """
    at = at or timezone.now()
    due = MessageLog.objects.filter(status=Status.QUEUED, send_after__lte=at)
    queued = 0
    last = 0
    while queued < limit:
        ids = list(
            due.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[: min(1000, limit - queued)]
        )
        if not ids:
            break
        for pk in ids:
            _queue_delivery(pk)
        queued += len(ids)
        last = ids[-1]
    return queued


# --------------------------------------------------------------------------------------------
# Unsubscribing and the inbox
# --------------------------------------------------------------------------------------------


def unsubscribe_read(token: str):
    """Return ``(member, channels)`` a token stands for; raise ``UnsubscribeLinkInvalid``."""
    from members.models import Member

    try:
        pk62, letter, stamp62, mac = token.split("-", 3)
        payload = f"{pk62}-{letter}-{stamp62}"
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        if not any(constant_time_compare(mac, _unsubscribe_mac(payload, k)) for k in secrets):
            raise ValueError("bad signature")
        if time.time() - signing.b62_decode(stamp62) > UNSUBSCRIBE_MAX_AGE:
            raise ValueError("expired")
        channel = _LETTER_CHANNEL[letter]
        member = Member.objects.get(pk=signing.b62_decode(pk62))
    except (ValueError, KeyError, TypeError, Member.DoesNotExist) as exc:
        raise UnsubscribeLinkInvalid() from exc
    channels = (
        [channel] if channel in (Channel.EMAIL, Channel.SMS) else [Channel.EMAIL, Channel.SMS]
    )
    return member, channels


def member_unsubscribe(*, token: str, at: datetime | None = None):
    """Withdraw the marketing consent a signed unsubscribe link names; return the member.

    Consent already off is left alone, so a second click changes nothing.
    """
    from loyalty.models import Source
    from members.services import member_consent_set

    member, channels = unsubscribe_read(token)
    with transaction.atomic():
        for channel in channels:
            current = member.marketing_email if channel == Channel.EMAIL else member.marketing_sms
            if current:
                member_consent_set(
                    member=member, channel=channel, granted=False, source=Source.PORTAL, at=at
                )
    return member, channels


def inbox_messages(*, member, limit: int = 100) -> models.QuerySet[MessageLog]:
    """Return the member's inbox, newest first."""
    return MessageLog.objects.filter(
        member=member, channel=Channel.INBOX, status=Status.SENT
    ).order_by("-created_at", "-pk")[:limit]


def inbox_unread_count(*, member) -> int:
    return MessageLog.objects.filter(
        member=member, channel=Channel.INBOX, status=Status.SENT, read_at__isnull=True
    ).count()


def inbox_message_open(*, member, pk: int, at: datetime | None = None) -> MessageLog:
    """Return one of the member's inbox messages, marking it read; raise ``NotFound``."""
    log = MessageLog.objects.filter(
        member=member, channel=Channel.INBOX, status=Status.SENT, pk=pk
    ).first()
    if log is None:
        raise errors.NotFound()
    if log.read_at is None:
        log.read_at = at or timezone.now()
        MessageLog.objects.filter(pk=log.pk, read_at__isnull=True).update(read_at=log.read_at)
    return log


def inbox_body_html(log: MessageLog) -> str:
    """Return the HTML a portal page shows for an inbox message."""
    if log.body_html:
        return mark_safe(log.body_html)  # noqa: S308 - rendered with autoescape from our templates
    return linebreaks(log.body_text, autoescape=True)


# --------------------------------------------------------------------------------------------
# Broadcasts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BroadcastPreview:
    members: int
    email: int
    sms: int
    inbox: int


def broadcast_preview(*, broadcast: Broadcast) -> BroadcastPreview:
    """Count the segment and, roughly, who each channel reaches (consent, contact, "never").

    The frequency cap is left out: it depends on what else each member got lately.
    """
    from campaigns.segments import segment_members

    qs = segment_members(broadcast.segment)
    counts = qs.aggregate(
        members=models.Count("pk"),
        email=models.Count(
            "pk",
            filter=models.Q(marketing_email=True, email__isnull=False)
            & ~models.Q(message_frequency="never"),
        ),
        sms=models.Count(
            "pk",
            filter=models.Q(marketing_sms=True, phone__isnull=False)
            & ~models.Q(message_frequency="never"),
        ),
    )
    inbox = qs.exclude(message_frequency="never").count()
    return BroadcastPreview(
        members=counts["members"],
        email=counts["email"] if broadcast.email else 0,
        sms=counts["sms"] if broadcast.sms else 0,
        inbox=inbox if broadcast.inbox else 0,
    )


def _broadcast_check(broadcast: Broadcast) -> None:
    mtype = broadcast.message_type
    if not mtype.is_marketing or not mtype.is_active:
        raise BroadcastNotMarketing()
    if not broadcast.channels():
        raise BroadcastNoChannel()


def broadcast_test_send(*, broadcast: Broadcast, user) -> Rendered:
    """Email the broadcast to the staff ``user`` as a member of the segment would get it.

    The first member of the segment lends the variables (the staff member's own membership
    when there is none); nothing is logged against a member.
    """
    from campaigns.segments import segment_members
    from members.models import Member

    _broadcast_check(broadcast)
    address = (getattr(user, "email", "") or "").strip()
    if not address:
        raise TestSendNoEmail()
    sample = (
        segment_members(broadcast.segment).order_by("pk").first()
        or Member.objects.filter(user=user).first()
    )
    if sample is None:
        raise BroadcastEmptySegment()
    config = _settings()
    rendered = message_render(
        member=sample, message_type=broadcast.message_type, channel=Channel.EMAIL, config=config
    )
    subject = gettext("[Test] %(subject)s") % {"subject": rendered.subject}
    email = EmailMultiAlternatives(
        subject=subject, body=rendered.text, from_email=_from_email(config), to=[address]
    )
    if rendered.html:
        email.attach_alternative(rendered.html, "text/html")
    email.send(fail_silently=False)
    return rendered


def broadcast_send(*, broadcast: Broadcast, actor=None) -> Broadcast:
    """Start sending a draft broadcast to its segment (a task on the ``messages`` queue)."""
    from campaigns.segments import segment_members

    with transaction.atomic():
        locked = (
            Broadcast.objects.select_for_update()
            .select_related("message_type")
            .get(pk=broadcast.pk)
        )
        if locked.status != Broadcast.Status.DRAFT:
            raise BroadcastNotDraft()
        _broadcast_check(locked)
        if not segment_members(locked.segment).exists():
            raise BroadcastEmptySegment()
        locked.status = Broadcast.Status.SENDING
        locked.sent_at = timezone.now()
        if (
            actor is not None
            and getattr(actor, "is_authenticated", False)
            and not locked.created_by_id
        ):
            locked.created_by = actor
        locked.save(update_fields=["status", "sent_at", "created_by"])
        transaction.on_commit(lambda: _queue_broadcast(locked.pk))
    broadcast.status, broadcast.sent_at = locked.status, locked.sent_at
    return locked


def _queue_broadcast(pk: int) -> None:
    from campaigns.tasks import broadcast_run as task

    task.delay(pk)


def broadcast_run(*, broadcast_id: int, chunk: int = BROADCAST_CHUNK) -> int:
    """Send a broadcast to every member of its segment, in chunks; safe to run again.

    Each member gets the message with ``dedupe_key="broadcast:<id>"``, so a second run (a
    retried task, a worker that died half-way) sends nothing twice. Return how many members
    were handled in this run.
    """
    from campaigns.segments import segment_members

    broadcast = Broadcast.objects.select_related("message_type", "segment").get(pk=broadcast_id)
    if broadcast.status == Broadcast.Status.DRAFT:
        return 0
    key = f"broadcast:{broadcast.pk}"
    channels = broadcast.channels()
    members = segment_members(broadcast.segment).order_by("pk")
    last = 0
    handled = 0
    while True:
        batch = list(members.filter(pk__gt=last)[:chunk])
        if not batch:
            break
        for member in batch:
            message_send(
                member=member,
                type_code=broadcast.message_type.code,
                dedupe_key=key,
                channels=channels,
                broadcast=broadcast,
            )
        handled += len(batch)
        last = batch[-1].pk
    broadcast_count(broadcast=broadcast)
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.SENT)
    return handled


def broadcast_count(*, broadcast: Broadcast) -> Broadcast:
    """Refresh a broadcast's counters from its message log (one grouped query)."""
    rows = (
        MessageLog.objects.filter(broadcast=broadcast)
        .values("status")
        .annotate(n=models.Count("pk"))
    )
    by_status = {row["status"]: row["n"] for row in rows}
    members = MessageLog.objects.filter(broadcast=broadcast).values("member").distinct().count()
    fields = {
        "recipients": members,
        "sent_count": by_status.get(Status.SENT, 0),
        "queued_count": by_status.get(Status.QUEUED, 0),
        "suppressed_count": by_status.get(Status.SUPPRESSED, 0),
        "failed_count": by_status.get(Status.FAILED, 0),
    }
    Broadcast.objects.filter(pk=broadcast.pk).update(**fields)
    for k, v in fields.items():
        setattr(broadcast, k, v)
    return broadcast


def connect() -> None:
    """Messages react to no core hook: the other areas call ``message_send`` themselves."""


__all__ = [
    "DEFAULT_MESSAGES",
    "message_deliver",
    "message_render",
    "message_send",
    "messages_send_due",
    "messages_setup",
]
