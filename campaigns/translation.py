"""Member-facing campaign texts kept in every language (django-modeltranslation).

``obj.name`` (and the other fields here) follows the active language, falling back to
English; staff fill one tab per language in the admin.
"""

from modeltranslation.translator import TranslationOptions, register

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
