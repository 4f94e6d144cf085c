"""Admin for the scheduled messages: the one settings row, win-back offers and announcements.

The jobs themselves are periodic tasks of django-celery-beat (*Periodic tasks*), where staff
can pause or re-time them; these pages say what the jobs do and show what they gave.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from campaigns.models.nudges import CampaignAnnouncement, NudgeSettings, WinBackOffer
from loyalty.admin_utils import EstimatedCountPaginator


@admin.register(NudgeSettings)
class NudgeSettingsAdmin(admin.ModelAdmin):
    autocomplete_fields = ["winback_segment", "winback_reward"]
    fieldsets = [
        (_("Expiring points"), {"fields": ["expiry_warning_days"]}),
        (_("Close to a reward"), {"fields": ["near_reward_points", "near_card_stamps"]}),
        (
            _("Win-back"),
            {
                "fields": [
                    "winback_segment",
                    ("winback_reward", "winback_points"),
                    "winback_cooldown_days",
                ]
            },
        ),
        (_("Statements and announcements"), {"fields": ["monthly_statement", "announcements"]}),
    ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # One row: the list is the settings page itself.
        NudgeSettings.load()
        return HttpResponseRedirect(reverse("admin:campaigns_nudgesettings_change", args=[1]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """What a job did: a record, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WinBackOffer)
class WinBackOfferAdmin(ReadOnlyAdmin):
    list_display = ["offered_on", "member", "voucher", "points"]
    list_select_related = ["member", "voucher"]
    raw_id_fields = ["member", "voucher"]
    date_hierarchy = "offered_on"
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(CampaignAnnouncement)
class CampaignAnnouncementAdmin(ReadOnlyAdmin):
    list_display = ["announced_at", "kind", "name", "recipients"]
    list_filter = ["kind"]
