"""Admin for action bonuses and birthday rewards.

Action types and the birthday setting are edited by managers. Action records are written
only by ``action_record``: the add page is a form (member, action, reference) that calls
it, so cashiers may record an action at the till but never edit or delete a payment.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from campaigns.actions import action_record
from campaigns.admin.bonus import TEXTS_PER_LANGUAGE
from campaigns.models import ActionRecord, ActionType, BirthdayGift, BirthdayReward
from loyalty import errors
from loyalty.admin import ReadOnlyAdminMixin
from loyalty.admin_utils import EstimatedCountPaginator, service_error_to_form
from loyalty.models import Source
from members.models import Member


def _member_link(member: Member) -> str:
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:members_member_change", args=[member.pk]),
        member.display_name,
    )


@admin.register(ActionType)
class ActionTypeAdmin(TranslationAdmin):
    change_form_template = "admin/campaigns/translated_change_form.html"
    list_display = (
        "name",
        "code",
        "kind",
        "points",
        "limit",
        "requires_reference",
        "recordable_by_staff",
        "recordable_in_portal",
        "recordable_by_api",
        "is_active",
    )
    list_filter = ("is_active", "kind", "limit")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "code", "kind", "description", "is_active", "display_order"),
                "description": TEXTS_PER_LANGUAGE,
            },
        ),
        (_("Points and limit"), {"fields": ("points", "limit")}),
        (_("Reference"), {"fields": ("requires_reference", "reference_label")}),
        (
            _("Who may record it"),
            {
                "fields": ("recordable_by_staff", "recordable_in_portal", "recordable_by_api"),
                "description": _(
                    "Sign-up, completed profile and newsletter opt-in are also recorded "
                    "automatically when the member does them."
                ),
            },
        ),
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Paid records point at the type; deactivate it instead.
        if obj is not None and obj.records.exists():
            return False
        return super().has_delete_permission(request, obj)


class ActionRecordForm(forms.Form):
    """Record an action for a member: the service checks the limit and the reference."""

    member = forms.ModelChoiceField(
        label=_("Member"),
        queryset=Member.objects.all(),
        help_text=_("Look the member up with the magnifier, or enter the member's id."),
    )
    action = forms.ModelChoiceField(
        label=_("Action"),
        queryset=ActionType.objects.filter(is_active=True, recordable_by_staff=True),
    )
    reference = forms.CharField(
        label=_("Reference"),
        max_length=ActionRecord._meta.get_field("reference").max_length,
        required=False,
        help_text=_(
            "E.g. the link to the review. Each reference is paid once; required for some actions."
        ),
    )

    def __init__(self, *args, admin_site, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rel = ActionRecord._meta.get_field("member").remote_field
        self.fields["member"].widget = ForeignKeyRawIdWidget(rel, admin_site)


@admin.register(ActionRecord)
class ActionRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "member_link",
        "action",
        "points",
        "reference",
        "source",
        "actor",
    )
    list_select_related = ("member", "action", "actor")
    list_filter = ("action", "source")
    search_fields = ("reference", "member__card_number", "member__phone")
    raw_id_fields = ("member",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "action",
        "points",
        "reference",
        "period_key",
        "source",
        "actor",
        "created_at",
        "entry",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: ActionRecord) -> str:
        return _member_link(obj.member)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        """Record an action through ``action_record``; records are never typed in by hand."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ActionRecordForm(
            request.POST if request.method == "POST" else None,
            initial={"member": request.GET.get("member")},
            admin_site=self.admin_site,
        )
        if request.method == "POST" and form.is_valid():
            member = form.cleaned_data["member"]
            try:
                record = action_record(
                    member=member,
                    action=form.cleaned_data["action"],
                    reference=form.cleaned_data["reference"],
                    source=Source.ADMIN,
                    actor=request.user,
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="action")
            else:
                if record.created:
                    messages.success(
                        request,
                        gettext("%(action)s recorded: %(points)s points for %(member)s.")
                        % {
                            "action": record.action.name,
                            "points": record.points,
                            "member": member.display_name,
                        },
                    )
                else:
                    messages.info(
                        request,
                        gettext(
                            "This reference was already recorded for %(member)s on %(date)s; "
                            "no more points were given."
                        )
                        % {
                            "member": member.display_name,
                            "date": record.created_at.date().isoformat(),
                        },
                    )
                return HttpResponseRedirect(reverse("admin:campaigns_actionrecord_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "form": form,
            "title": gettext("Record an action"),
            "submit_label": gettext("Record"),
            "intro": gettext(
                "The member gets the action's points at once. An action is paid once per "
                "period of its limit, and each reference only once."
            ),
            "cancel_url": reverse("admin:campaigns_actionrecord_changelist"),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/rewards/voucher/service_form.html", context)


@admin.register(BirthdayReward)
class BirthdayRewardAdmin(admin.ModelAdmin):
    list_display = ("__str__", "is_active", "timing", "points", "reward")
    fields = ("is_active", "timing", "points", "reward", "voucher_valid_days")

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not BirthdayReward.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # One setting: go straight to it (or to the add form before it exists).
        setting = BirthdayReward.objects.first()
        if setting is not None and self.has_view_or_change_permission(request, setting):
            return HttpResponseRedirect(
                reverse("admin:campaigns_birthdayreward_change", args=[setting.pk])
            )
        return super().changelist_view(request, extra_context)


@admin.register(BirthdayGift)
class BirthdayGiftAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "member_link", "year", "points", "voucher")
    list_select_related = ("member", "voucher")
    list_filter = ("year",)
    raw_id_fields = ("member",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = ("member_link", "year", "points", "entry", "voucher", "created_at")
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: BirthdayGift) -> str:
        return _member_link(obj.member)
