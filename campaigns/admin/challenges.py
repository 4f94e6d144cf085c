"""Admin for challenges and badges.

Challenges and badges are configuration (edited as models, validated by their ``clean`` and
database constraints). Members' badges are given through ``badge_award`` ("Give a badge",
reason required); progress rows are read-only: only purchases, visits and referrals move them.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from campaigns.admin.bonus import TEXTS_PER_LANGUAGE
from campaigns.challenges import badge_award
from campaigns.models import Badge, Challenge, ChallengeProgress, MemberBadge
from loyalty import errors
from loyalty.admin import ReadOnlyAdminMixin
from loyalty.admin_utils import EstimatedCountPaginator, service_error_to_form
from members.models import Member


def _image(badge: Badge, size: int) -> str:
    if not badge.image:
        return "—"
    return format_html(
        '<img src="{}" alt="" width="{}" height="{}" style="object-fit:cover;border-radius:50%">',
        badge.image.url,
        size,
        size,
    )


@admin.register(Badge)
class BadgeAdmin(TranslationAdmin):
    change_form_template = "admin/campaigns/translated_change_form.html"
    list_display = ["preview", "name", "milestone", "milestone_value", "is_active"]
    list_display_links = ["preview", "name"]
    list_filter = ["is_active", "milestone"]
    search_fields = ["name"]
    readonly_fields = ["image_preview", "holders_count"]
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "description", "image", "image_preview", "is_active"],
                "description": TEXTS_PER_LANGUAGE,
            },
        ),
        (
            _("Milestone"),
            {
                "fields": ["milestone", "milestone_value"],
                "description": _(
                    "A milestone badge is given automatically: at the member's Nth purchase or "
                    "check-in, on reaching points earned in total, or after years of membership "
                    "(checked nightly)."
                ),
            },
        ),
        (_("Members"), {"fields": ["holders_count"]}),
    ]

    @admin.display(description=_("image"))
    def preview(self, obj: Badge) -> str:
        return _image(obj, 32)

    @admin.display(description=_("preview"))
    def image_preview(self, obj: Badge) -> str:
        return _image(obj, 96)

    @admin.display(description=_("members holding it"))
    def holders_count(self, obj: Badge) -> int:
        return obj.holders.count() if obj.pk else 0


@admin.register(Challenge)
class ChallengeAdmin(TranslationAdmin):
    change_form_template = "admin/campaigns/translated_change_form.html"
    list_display = ["name", "goal", "target", "starts_at", "ends_at", "enrolment", "is_active"]
    list_filter = ["is_active", "goal", "enrolment"]
    search_fields = ["name"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["badge"]
    raw_id_fields = ["reward", "segment"]
    readonly_fields = ["participants", "completions"]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_active"], "description": TEXTS_PER_LANGUAGE}),
        (_("Goal"), {"fields": ["goal", "target", "category", "starts_at", "ends_at"]}),
        (_("Who takes part"), {"fields": ["enrolment", "segment"]}),
        (
            _("Reward on completion"),
            {
                "fields": ["reward_points", "reward", "badge"],
                "description": _("Give at least one. Each member gets it once."),
            },
        ),
        (_("Results"), {"fields": ["participants", "completions"]}),
    ]

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            counts = ChallengeProgress.objects.filter(challenge=obj).aggregate(
                participants=Count("pk"),
                completions=Count("pk", filter=Q(completed_at__isnull=False)),
            )
            obj._counts = counts
        return obj

    @admin.display(description=_("participants"))
    def participants(self, obj: Challenge) -> str:
        counts = getattr(obj, "_counts", None)
        if not obj.pk or counts is None:
            return "—"
        url = (
            reverse("admin:campaigns_challengeprogress_changelist")
            + f"?challenge__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">{}</a>', url, counts["participants"])

    @admin.display(description=_("completed"))
    def completions(self, obj: Challenge) -> str:
        counts = getattr(obj, "_counts", None)
        if not obj.pk or counts is None:
            return "—"
        return str(counts["completions"])


class BadgeGiveForm(forms.Form):
    """Give a member a badge by hand; the reason is kept with the giver's name."""

    member = forms.ModelChoiceField(
        label=_("Member"),
        queryset=Member.objects.all(),
        help_text=_("Look the member up with the magnifier, or enter the member's id."),
    )
    badge = forms.ModelChoiceField(
        label=_("Badge"), queryset=Badge.objects.filter(is_active=True).order_by("name")
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Required, e.g. 'Helped at the charity run'. Kept with the badge."),
    )

    def __init__(self, *args, admin_site, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rel = MemberBadge._meta.get_field("member").remote_field
        self.fields["member"].widget = ForeignKeyRawIdWidget(rel, admin_site)


@admin.register(MemberBadge)
class MemberBadgeAdmin(admin.ModelAdmin):
    list_display = ["badge", "member", "source", "earned_at", "challenge", "actor"]
    list_select_related = ["badge", "member", "challenge", "actor"]
    list_filter = ["source", "badge"]
    raw_id_fields = ["member"]
    ordering = ["-pk"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = None
    fields = ["member", "badge", "source", "earned_at", "challenge", "actor", "reason"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        """Give a badge through ``badge_award``; badges are never typed in as rows."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BadgeGiveForm(
            request.POST if request.method == "POST" else None,
            initial={"member": request.GET.get("member")},
            admin_site=self.admin_site,
        )
        if request.method == "POST" and form.is_valid():
            try:
                held = badge_award(
                    member=form.cleaned_data["member"],
                    badge=form.cleaned_data["badge"],
                    source=MemberBadge.Source.STAFF,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="badge")
            else:
                values = {"badge": held.badge.name, "member": held.member.display_name}
                if held.newly_earned:
                    messages.success(
                        request, gettext("%(member)s got the badge %(badge)s.") % values
                    )
                else:
                    messages.warning(
                        request, gettext("%(member)s already has the badge %(badge)s.") % values
                    )
                return HttpResponseRedirect(
                    reverse("admin:campaigns_memberbadge_change", args=[held.pk])
                )
        changelist = reverse("admin:campaigns_memberbadge_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": None,
            "form": form,
            "title": gettext("Give a badge"),
            "submit_label": gettext("Give badge"),
            "intro": gettext(
                "The member gets the badge and is told about it. A member holds each badge once."
            ),
            "cancel_url": changelist,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/campaigns/memberbadge/give.html", context)


@admin.register(ChallengeProgress)
class ChallengeProgressAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["challenge", "member", "progress", "joined_at", "completed_at", "reward_note"]
    list_select_related = ["challenge", "member"]
    list_filter = ["challenge", ("completed_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["member"]
    ordering = ["-pk"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
