"""Catalogue texts kept in every language (django-modeltranslation)."""

from modeltranslation.translator import TranslationOptions, register

from rewards.models import Reward


@register(Reward)
class RewardTranslationOptions(TranslationOptions):
    fields = ("name", "description")
