"""Admin for referrals: the settings, the milestones, the referrals and the codes.

Referrals are written only by the services (enrolment, purchases, refunds, the hourly
pay-out); staff read them and may revoke one whose rewards are not paid yet, with a reason.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    Referral,
    ReferralCode,
    ReferralMilestone,
    ReferralMilestoneAward,
    ReferralSettings,
)
from campaigns.referrals import referral_revoke
from loyalty import errors
from loyalty.admin import ReadOnlyAdminMixin
from loyalty.admin_utils import EstimatedCountPaginator
from members.models import Member


def _member_link(member: Member) -> str:
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:members_member_change", args=[member.pk]),
        member.display_name,
    )


@admin.register(ReferralSettings)
class ReferralSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        (None, {"fields": ("is_active",)}),
        (
            _("Rewards"),
            {
                "fields": (
                    "min_spend",
                    ("referrer_points", "referrer_reward"),
                    ("friend_points", "friend_reward"),
                ),
                "description": _(
                    "Given when the new member's first purchase of at least the minimum has "
                    "passed the return window. Milestones add rewards for the member who "
                    "invited at 3, 5, 10... rewarded referrals."
                ),
            },
        ),
        (
            _("Rules"),
            {"fields": ("monthly_cap", "revoke_window_days", "qualify_within_days")},
        ),
    )
    autocomplete_fields = ("referrer_reward", "friend_reward")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: go straight to it.
        setting = ReferralSettings.objects.get_or_create(pk=1)[0]
        return HttpResponseRedirect(
            reverse("admin:campaigns_referralsettings_change", args=[setting.pk])
        )


@admin.register(ReferralMilestone)
class ReferralMilestoneAdmin(admin.ModelAdmin):
    list_display = ("count", "points", "reward")
    list_select_related = ("reward",)
    autocomplete_fields = ("reward",)
    ordering = ("count",)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Given awards point at the milestone; change it instead.
        if obj is not None and obj.awards.exists():
            return False
        return super().has_delete_permission(request, obj)


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Kept on the referral and in the audit trail."),
        widget=forms.TextInput(attrs={"size": 60}),
    )


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "referrer_link",
        "referred_link",
        "status",
        "via",
        "qualified_at",
        "reward_due_at",
        "rewarded_at",
    )
    list_select_related = ("referrer", "referred")
    list_filter = ("status", "via")
    search_fields = (
        "code",
        "referrer__phone",
        "referrer__email",
        "referrer__card_number",
        "referrer__last_name",
        "referred__phone",
        "referred__email",
        "referred__card_number",
        "referred__last_name",
    )
    search_help_text = _("A code, or the phone, email, card number or last name of either member.")
    ordering = ("-created_at", "-pk")
    date_hierarchy = "created_at"
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = ["revoke_referrals"]
    fieldsets = (
        (None, {"fields": ("referrer_link", "referred_link", "code", "via", "status", "reason")}),
        (
            _("Dates"),
            {
                "fields": (
                    "created_at",
                    "qualify_by",
                    "purchase",
                    "qualified_at",
                    "reward_due_at",
                    "rewarded_at",
                    "revoked_at",
                )
            },
        ),
        (
            _("Rewards"),
            {
                "fields": (
                    ("referrer_points", "referrer_reward", "referrer_voucher"),
                    ("friend_points", "friend_reward", "friend_voucher"),
                )
            },
        ),
    )
    readonly_fields = (
        "referrer_link",
        "referred_link",
        "code",
        "via",
        "status",
        "reason",
        "created_at",
        "qualify_by",
        "purchase",
        "qualified_at",
        "reward_due_at",
        "rewarded_at",
        "revoked_at",
        "referrer_points",
        "referrer_reward",
        "referrer_voucher",
        "friend_points",
        "friend_reward",
        "friend_voucher",
    )

    @admin.display(description=_("invited by"), ordering="referrer__last_name")
    def referrer_link(self, obj: Referral) -> str:
        return _member_link(obj.referrer)

    @admin.display(description=_("new member"), ordering="referred__last_name")
    def referred_link(self, obj: Referral) -> str:
        return _member_link(obj.referred)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Every field is read-only: no save buttons, only the list's revoke action.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(
        description=_("Revoke (rewards not paid yet), with a reason"), permissions=["change"]
    )
    def revoke_referrals(self, request: HttpRequest, queryset):
        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = refused = 0
            for referral in queryset.select_related("referred"):
                try:
                    referral_revoke(
                        referral=referral, reason=form.cleaned_data["reason"], actor=request.user
                    )
                except errors.LoyaltyError as error:
                    refused += 1
                    self.message_user(
                        request, f"{referral}: {error.detail}", level=messages.WARNING
                    )
                else:
                    done += 1
            if done:
                self.message_user(
                    request,
                    ngettext("%(count)s referral revoked.", "%(count)s referrals revoked.", done)
                    % {"count": done},
                    level=messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Revoke referrals"),
            "referrals": queryset.select_related("referrer", "referred"),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/campaigns/referral/revoke.html", context)


@admin.register(ReferralCode)
class ReferralCodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("code", "member_link", "created_at")
    list_select_related = ("member",)
    search_fields = ("code", "member__phone", "member__email", "member__card_number")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = ("code", "member_link", "created_at")
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: ReferralCode) -> str:
        return _member_link(obj.member)

    def get_search_results(self, request, queryset, search_term):
        # Codes are shown with a dash and typed in any case.
        from campaigns.referrals import referral_code_normalize

        normalized = referral_code_normalize(search_term)
        if normalized and len(normalized) == 8:
            found = queryset.filter(code=normalized)
            if found.exists():
                return found, False
        return super().get_search_results(request, queryset, search_term)


@admin.register(ReferralMilestoneAward)
class ReferralMilestoneAwardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("awarded_at", "member_link", "milestone", "points", "voucher")
    list_select_related = ("referrer", "milestone", "voucher")
    ordering = ("-pk",)
    fields = ("member_link", "milestone", "points", "voucher", "awarded_at")
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: ReferralMilestoneAward) -> str:
        return _member_link(obj.referrer)
