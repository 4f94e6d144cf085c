"""Admin for segments (with a member count before saving) and RFM scores.

The change form has a *Count members* button: it submits the form as it is, unsaved, and the
page comes back with the same (unsaved) values, how many members match and the latest few
who joined. No JavaScript needed. The changelist does not count members (a count per row at
a million members would be slow); the change page counts the saved segment when it opens.
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path
from django.utils.translation import gettext_lazy as _

from campaigns.models import MemberScore, Segment
from campaigns.segments import segment_preview
from loyalty.admin_utils import EstimatedCountPaginator

PREVIEW = "_preview"


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "updated_at", "created_by"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    filter_horizontal = ["tiers", "locations"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    change_form_template = "admin/campaigns/segment/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "description"]}),
        (_("Who they are"), {"fields": ["tiers", "vip", "locations", "birthday_month"]}),
        (
            _("When they joined and last came"),
            {
                "fields": [
                    ("joined_after", "joined_before"),
                    ("last_activity_after", "last_activity_before"),
                    "inactive_days",
                ]
            },
        ),
        (
            _("How often they come and what they spend"),
            {
                "fields": [
                    ("min_visits", "visits_days"),
                    ("spend_min", "spend_max", "spend_days"),
                    ("rfm_min", "rfm_max"),
                ],
                "description": _(
                    "Spend is net of refunds. The RFM score (3–15) is refreshed nightly: "
                    "recency, frequency and money spent in the last 365 days, each 1–5."
                ),
            },
        ),
        (
            _("Interests and consent"),
            {"fields": ["favourite_category", "email_consent", "sms_consent"]},
        ),
        (_("Record"), {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if request.method != "POST" or PREVIEW not in request.POST:
            return form_class

        class PreviewForm(form_class):
            """Validate as usual; when valid, count the members and report "not valid".

            The admin then shows the bound form again (with no errors) instead of saving.
            """

            def is_valid(self) -> bool:
                if not super().is_valid():
                    return False
                request.segment_preview = segment_preview(
                    self.instance,
                    tier_ids=[t.pk for t in self.cleaned_data.get("tiers") or []],
                    location_ids=[loc.pk for loc in self.cleaned_data.get("locations") or []],
                )
                return False

        return PreviewForm

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        preview = getattr(request, "segment_preview", None)
        previewing = request.method == "POST" and PREVIEW in request.POST
        if preview is None and not previewing and obj is not None and obj.pk:
            preview = segment_preview(obj)
        context.update(
            {
                "segment_preview": preview,
                "segment_preview_unsaved": previewing,
                "preview_button": PREVIEW,
                "can_surprise": obj is not None
                and obj.pk
                and request.user.has_perm("campaigns.add_surprisedraw"),
            }
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        from campaigns.admin.surprise import surprise_view

        custom = [
            path(
                "<path:object_id>/surprise/",
                self.admin_site.admin_view(partial(surprise_view, self)),
                name="campaigns_segment_surprise",
            )
        ]
        return custom + super().get_urls()

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(MemberScore)
class MemberScoreAdmin(admin.ModelAdmin):
    """Read-only: the nightly job writes these."""

    list_display = [
        "member",
        "score",
        "recency",
        "frequency",
        "monetary",
        "recency_days",
        "activity_count",
        "spend",
        "computed_at",
    ]
    list_select_related = ["member"]
    list_filter = ["score"]
    search_fields = ["member__card_number", "member__phone", "member__email"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ["member"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
