"""Programme texts kept in every language (django-modeltranslation)."""

from modeltranslation.translator import TranslationOptions, register

from loyalty.models import Benefit, PunchCardType, Tier


@register(Tier)
class TierTranslationOptions(TranslationOptions):
    fields = ("name",)


@register(Benefit)
class BenefitTranslationOptions(TranslationOptions):
    fields = ("name", "description")


@register(PunchCardType)
class PunchCardTypeTranslationOptions(TranslationOptions):
    fields = ("name",)
