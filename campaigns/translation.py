"""Member-facing campaign texts kept in every language (django-modeltranslation).

``obj.name`` (and the other fields here) follows the active language, falling back to
English; staff fill one tab per language in the admin.
"""

from typing import Any

from django.utils.functional import lazy
from modeltranslation.settings import AVAILABLE_LANGUAGES, DEFAULT_LANGUAGE
from modeltranslation.translator import TranslationOptions, register
from modeltranslation.utils import build_localized_fieldname

from campaigns.models import (
    ActionType,
    Badge,
    BonusCampaign,
    Challenge,
    InstantWin,
    Sweepstake,
)


@register(BonusCampaign)
class BonusCampaignTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(ActionType)
class ActionTypeTranslationOptions(TranslationOptions):
    fields = ("name", "description", "reference_label")


@register(Challenge)
class ChallengeTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(Badge)
class BadgeTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(Sweepstake)
class SweepstakeTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(InstantWin)
class InstantWinTranslationOptions(TranslationOptions):
    fields = ("name",)


def texts_per_language(obj: Any, field: str) -> dict[str, str]:
    """Return ``field`` of ``obj`` in each language that has it, by language code."""
    found = {}
    for language in AVAILABLE_LANGUAGES:
        value = getattr(obj, build_localized_fieldname(field, language), None)
        if value:
            found[language] = value
    return found


def default_text(obj: Any, field: str) -> str:
    """Return ``field`` in the default language, else in the first language that has it."""
    texts = texts_per_language(obj, field)
    return texts.get(DEFAULT_LANGUAGE) or next(iter(texts.values()), "") or ""


def _text_now(obj: Any, field: str) -> str:
    return str(getattr(obj, field) or "")


# ``field`` of ``obj`` read when the text is rendered, in the language active then: for a
# message's context, which ``message_render`` renders in the member's language.
text_lazy = lazy(_text_now, str)
