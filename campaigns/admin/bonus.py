"""Admin for bonus campaigns: setup with validation, status, and a preview on last week's sales."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.humanize.templatetags.humanize import intcomma
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from campaigns.bonus import PREVIEW_DAYS, PREVIEW_LIMIT, campaign_preview, exclusive_overlaps
from campaigns.models import BonusCampaign, CampaignAward
from campaigns.models.bonus import WEEKDAYS
from loyalty.selectors import config_changed

STATUS_LABELS = {
    "scheduled": pgettext_lazy("campaign status", "Scheduled"),
    "running": pgettext_lazy("campaign status", "Running"),
    "ended": pgettext_lazy("campaign status", "Ended"),
    "disabled": pgettext_lazy("campaign status", "Disabled"),
}


# Shown above the fields kept per language (campaigns/translation.py).
TEXTS_PER_LANGUAGE = _(
    "Names and descriptions are kept per language; members see their own language, and an "
    "empty language shows the English text."
)


class BonusCampaignForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        label=capfirst(_("weekdays")),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked for every day."),
    )

    class Meta:
        model = BonusCampaign
        fields = [
            "name",
            "description",
            "is_active",
            "kind",
            "multiplier",
            "points",
            "starts_at",
            "ends_at",
            "weekdays",
            "hour_from",
            "hour_until",
            "min_spend",
            "category",
            "sku",
            "locations",
            "tiers",
            "vip_only",
            "segment",
            "stacking",
            "cap",
        ]

    def _post_clean(self) -> None:
        # Field checks run in BonusCampaign.clean(); the overlap check needs the locations
        # chosen in this form, which the instance only gets after saving.
        super()._post_clean()
        if self.errors:
            return
        locations = self.cleaned_data.get("locations") or []
        other = exclusive_overlaps(
            campaign=self.instance, location_ids=[loc.pk for loc in locations]
        ).first()
        if other is not None:
            self.add_error(
                "stacking",
                gettext(
                    "Exclusive campaigns cannot overlap: “%(other)s” runs at the same time at "
                    "the same locations. Change the dates, or give both campaigns different "
                    "locations."
                )
                % {"other": other.name},
            )


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(key, label) for key, label in STATUS_LABELS.items()]

    def queryset(self, request, queryset):
        now = timezone.now()
        value = self.value()
        if value == "disabled":
            return queryset.filter(is_active=False)
        if value == "scheduled":
            return queryset.filter(is_active=True, starts_at__gt=now)
        if value == "running":
            return queryset.filter(is_active=True, starts_at__lte=now, ends_at__gt=now)
        if value == "ended":
            return queryset.filter(is_active=True, ends_at__lte=now)
        return queryset


@admin.register(BonusCampaign)
class BonusCampaignAdmin(TranslationAdmin):
    form = BonusCampaignForm
    change_form_template = "admin/campaigns/bonuscampaign/change_form.html"
    list_display = [
        "name",
        "bonus",
        "starts_at",
        "ends_at",
        "status_label",
        "stacking",
        "cap",
    ]
    list_filter = [StatusFilter, "kind", "stacking", "vip_only", "locations"]
    search_fields = ["name"]
    date_hierarchy = "starts_at"
    filter_horizontal = ["locations", "tiers"]
    autocomplete_fields = ["segment"]
    fieldsets = [
        (None, {"fields": ["name", "description", "is_active"], "description": TEXTS_PER_LANGUAGE}),
        (_("Bonus"), {"fields": ["kind", "multiplier", "points"]}),
        (
            _("When"),
            {
                "fields": ["starts_at", "ends_at", "weekdays", ("hour_from", "hour_until")],
                "description": _(
                    "Times of day are the shop's local time. 22:00–02:00 crosses midnight and "
                    "counts for the weekday it starts on."
                ),
            },
        ),
        (
            _("Conditions"),
            {
                "fields": [
                    "min_spend",
                    "category",
                    "sku",
                    "locations",
                    "tiers",
                    "vip_only",
                    "segment",
                ]
            },
        ),
        (
            _("Stacking and cap"),
            {
                "fields": ["stacking", "cap"],
                "description": _(
                    "If an exclusive campaign applies, only the best exclusive one counts. "
                    "Otherwise every stacking campaign counts, plus the best of the "
                    "best-only ones."
                ),
            },
        ),
        (_("Results so far"), {"fields": ["results"]}),
    ]
    readonly_fields = ["results"]

    @admin.display(description=_("given"))
    def results(self, obj: BonusCampaign) -> str:
        if not obj.pk:
            return "—"
        totals = CampaignAward.objects.filter(campaign=obj).aggregate(
            points=Sum("points"), purchases=Count("pk"), members=Count("member", distinct=True)
        )
        return gettext("%(points)s points on %(purchases)s purchases to %(members)s members") % {
            "points": intcomma(totals["points"] or 0),
            "purchases": intcomma(totals["purchases"]),
            "members": intcomma(totals["members"]),
        }

    @admin.display(description=_("bonus"))
    def bonus(self, obj: BonusCampaign) -> str:
        if obj.kind == BonusCampaign.Kind.FIXED:
            return gettext("+%(points)s points") % {"points": obj.points}
        return gettext("×%(multiplier)s") % {"multiplier": obj.multiplier.normalize()}

    @admin.display(description=_("status"))
    def status_label(self, obj: BonusCampaign) -> str:
        status = obj.status()
        return format_html(
            '<span class="bonus-status bonus-status-{}">{}</span>', status, STATUS_LABELS[status]
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Locations and tiers are saved after the campaign row: refresh the engine's cache.
        config_changed()

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_bonuscampaign_preview",
            )
        ]
        return custom + super().get_urls()

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        campaign = self.get_object(request, object_id)
        if campaign is None or not self.has_view_permission(request, campaign):
            raise Http404(gettext("This campaign does not exist."))
        preview = campaign_preview(campaign=campaign)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": campaign,
            "campaign": campaign,
            "preview": preview,
            "days": PREVIEW_DAYS,
            "limit": PREVIEW_LIMIT,
            "title": gettext("Preview of %(campaign)s") % {"campaign": campaign.name},
            "change_url": reverse("admin:campaigns_bonuscampaign_change", args=[campaign.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/bonuscampaign/preview.html", context)


@admin.register(CampaignAward)
class CampaignAwardAdmin(admin.ModelAdmin):
    """The points each campaign added to each purchase (read-only; written by the engine)."""

    list_display = ["campaign", "member", "purchase", "points", "created_at"]
    list_filter = ["campaign"]
    list_select_related = ["campaign", "member", "purchase"]
    raw_id_fields = ["member", "purchase"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
