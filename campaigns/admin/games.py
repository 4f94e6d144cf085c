"""Admin for the leaderboard, sweepstakes (with the draw and its check) and instant wins."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from modeltranslation.translator import translator

from campaigns.admin.bonus import TEXTS_PER_LANGUAGE
from campaigns.games import sweepstake_draw, sweepstake_verify
from campaigns.leaderboard import display_name_clean, leaderboard_opt_out
from campaigns.models import (
    InstantWin,
    InstantWinHit,
    LeaderboardProfile,
    LeaderboardScore,
    Sweepstake,
    SweepstakeEntry,
    SweepstakeEntryPurchase,
    SweepstakeWinner,
)
from loyalty import errors
from loyalty.admin_utils import EstimatedCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: staff look, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --------------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------------


class LeaderboardProfileForm(forms.ModelForm):
    class Meta:
        model = LeaderboardProfile
        fields = ["display_name"]

    def clean_display_name(self):
        try:
            return display_name_clean(self.cleaned_data["display_name"])
        except errors.LoyaltyError as err:
            raise forms.ValidationError(err.detail) from None


@admin.register(LeaderboardProfile)
class LeaderboardProfileAdmin(admin.ModelAdmin):
    """Who is on the leaderboard. Staff may rename an unsuitable display name or remove a member."""

    form = LeaderboardProfileForm
    list_display = ["display_name", "member", "opted_in_at"]
    list_select_related = ["member"]
    search_fields = ["display_name", "member__card_number"]
    raw_id_fields = ["member"]
    readonly_fields = ["member", "opted_in_at"]
    fields = ["member", "display_name", "opted_in_at"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        # Members opt in themselves, in the portal.
        return False

    def save_model(self, request, obj, form, change):
        obj.save(update_fields=["display_name"])

    def delete_model(self, request, obj):
        leaderboard_opt_out(member=obj.member)

    def delete_queryset(self, request, queryset):
        for profile in queryset.select_related("member"):
            leaderboard_opt_out(member=profile.member)


@admin.register(LeaderboardScore)
class LeaderboardScoreAdmin(ReadOnlyAdmin):
    list_display = ["member", "display_name", "period", "points"]
    list_select_related = ["member__leaderboard_profile"]
    search_fields = ["=period", "=member__card_number"]
    raw_id_fields = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["period", "-points", "member"]

    @admin.display(description=_("display name"))
    def display_name(self, obj: LeaderboardScore) -> str:
        profile = getattr(obj.member, "leaderboard_profile", None)
        return profile.display_name if profile else ""


# --------------------------------------------------------------------------------------------
# Sweepstakes
# --------------------------------------------------------------------------------------------


def _with_translated(obj, fields: list[str]) -> list[str]:
    """Add the original column of each changed per-language text (``name`` for ``name_fi``).

    modeltranslation keeps the original column in step on a full save; a save with
    ``update_fields`` must name it too.
    """
    opts = translator.get_options_for_model(type(obj))
    originals = [
        original
        for original, localized in opts.all_fields.items()
        if any(field.name in fields for field in localized)
    ]
    return fields + [f for f in originals if f not in fields]


class SweepstakeForm(forms.ModelForm):
    class Meta:
        model = Sweepstake
        fields = [
            "name",
            "description",
            "prize",
            "winners_count",
            "is_active",
            "starts_at",
            "ends_at",
            "entry_rule",
            "points_per_entry",
            "entry_price_points",
            "max_entries_per_member",
        ]

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", gettext("The end must be after the start."))
        rule = data.get("entry_rule")
        if rule == Sweepstake.EntryRule.PER_POINTS and not data.get("points_per_entry"):
            self.add_error("points_per_entry", gettext("Say how many points earn one entry."))
        if rule == Sweepstake.EntryRule.BOUGHT and not data.get("entry_price_points"):
            self.add_error("entry_price_points", gettext("Say what one entry costs in points."))
        prize = data.get("prize")
        if prize is not None and not prize.is_active and not self.instance.drawn_at:
            self.add_error("prize", gettext("This reward is not active."))
        return data


class SweepstakeWinnerInline(admin.TabularInline):
    model = SweepstakeWinner
    fields = ["position", "member", "voucher"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Sweepstake)
class SweepstakeAdmin(TranslationAdmin):
    """Set up a prize draw; after its end draw it (once) and check the draw from its seed."""

    form = SweepstakeForm
    list_display = [
        "name",
        "entry_rule",
        "starts_at",
        "ends_at",
        "winners_count",
        "is_active",
        "drawn_at",
    ]
    list_filter = ["is_active", "entry_rule"]
    search_fields = ["name"]
    list_select_related = ["prize"]
    autocomplete_fields = []
    inlines = [SweepstakeWinnerInline]
    change_form_template = "admin/campaigns/sweepstake/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "description", "prize", "winners_count", "is_active"],
                "description": TEXTS_PER_LANGUAGE,
            },
        ),
        (_("Window"), {"fields": ["starts_at", "ends_at"]}),
        (
            _("Entries"),
            {
                "fields": [
                    "entry_rule",
                    "points_per_entry",
                    "entry_price_points",
                    "max_entries_per_member",
                ]
            },
        ),
        (
            _("Draw"),
            {"fields": ["drawn_at", "seed", "entrants_at_draw", "entries_at_draw"]},
        ),
    ]
    readonly_fields = ["drawn_at", "seed", "entrants_at_draw", "entries_at_draw"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.drawn_at is not None:
            # A drawn sweepstake is a record: its rules and prize stay as they were.
            return self.replace_orig_field([f for fs in self.fieldsets for f in fs[1]["fields"]])
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.drawn_at is not None:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            # Never write back the draw fields read when the page opened: the periodic job
            # may have drawn meanwhile.
            fields = _with_translated(obj, [f for f in form.changed_data if f in form.fields])
            if fields:
                obj.save(update_fields=fields)
        else:
            obj.save()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            totals = SweepstakeEntry.objects.filter(sweepstake=obj, entries__gt=0).aggregate(
                entrants=Count("pk"), entries=Sum("entries")
            )
            extra.update(
                entrants=totals["entrants"] or 0,
                entries_total=totals["entries"] or 0,
                can_draw=obj.drawn_at is None
                and obj.ends_at <= timezone.now()
                and self.has_change_permission(request, obj),
                entries_url=reverse("admin:campaigns_sweepstakeentry_changelist")
                + f"?sweepstake__id__exact={obj.pk}",
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/draw/",
                self.admin_site.admin_view(self.draw_view),
                name="campaigns_sweepstake_draw",
            ),
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(self.verify_view),
                name="campaigns_sweepstake_verify",
            ),
        ]
        return custom + super().get_urls()

    def _target(self, request, object_id) -> Sweepstake:
        sweep = self.get_object(request, object_id)
        if sweep is None:
            raise Http404(gettext("This sweepstake does not exist."))
        return sweep

    def draw_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Draw now (POST only; a second draw shows the first result)."""
        back = HttpResponseRedirect(reverse("admin:campaigns_sweepstake_change", args=[object_id]))
        if request.method != "POST":
            return back
        sweep = self._target(request, object_id)
        if not self.has_change_permission(request, sweep):
            raise PermissionDenied
        try:
            result = sweepstake_draw(sweepstake=sweep, actor=request.user)
        except errors.LoyaltyError as err:
            messages.error(request, err.detail)
            return back
        count = len(result.winners)
        if result.created:
            messages.success(
                request,
                ngettext(
                    "Drawn with seed %(seed)s: %(count)s winner.",
                    "Drawn with seed %(seed)s: %(count)s winners.",
                    count,
                )
                % {"seed": result.sweepstake.seed, "count": count},
            )
        else:
            messages.info(
                request,
                gettext("This sweepstake was already drawn; nothing was changed."),
            )
        return back

    def verify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Re-run the draw from the stored entries and seed, and say whether it matches."""
        back = HttpResponseRedirect(reverse("admin:campaigns_sweepstake_change", args=[object_id]))
        if request.method != "POST":
            return back
        sweep = self._target(request, object_id)
        if not self.has_view_permission(request, sweep):
            raise PermissionDenied
        try:
            check = sweepstake_verify(sweepstake=sweep)
        except errors.LoyaltyError as err:
            messages.error(request, err.detail)
            return back
        if check.ok:
            messages.success(
                request,
                gettext(
                    "Re-run with seed %(seed)s over %(entries)s entries of %(entrants)s members: "
                    "the same winners, in the same order."
                )
                % {"seed": sweep.seed, "entries": check.entries, "entrants": check.entrants},
            )
        else:
            messages.error(
                request,
                gettext(
                    "Re-running the draw gives different winners (%(ids)s) or the entries "
                    "changed since the draw."
                )
                % {"ids": ", ".join(str(i) for i in check.recomputed) or "-"},
            )
        return back


@admin.register(SweepstakeEntry)
class SweepstakeEntryAdmin(ReadOnlyAdmin):
    list_display = ["sweepstake", "member", "entries", "points_carry", "updated_at"]
    list_filter = ["sweepstake"]
    list_select_related = ["sweepstake", "member"]
    search_fields = ["=member__card_number"]
    raw_id_fields = ["member"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(SweepstakeEntryPurchase)
class SweepstakeEntryPurchaseAdmin(ReadOnlyAdmin):
    list_display = ["sweepstake", "member", "count", "points", "created_at"]
    list_select_related = ["sweepstake", "member"]
    list_filter = ["sweepstake"]
    raw_id_fields = ["member", "ledger_entry"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(SweepstakeWinner)
class SweepstakeWinnerAdmin(ReadOnlyAdmin):
    list_display = ["sweepstake", "position", "member", "voucher"]
    list_select_related = ["sweepstake", "member", "voucher"]
    list_filter = ["sweepstake"]
    raw_id_fields = ["member", "voucher"]


# --------------------------------------------------------------------------------------------
# Instant wins
# --------------------------------------------------------------------------------------------


class InstantWinForm(forms.ModelForm):
    class Meta:
        model = InstantWin
        fields = [
            "name",
            "trigger",
            "every_n",
            "reward",
            "points",
            "starts_at",
            "ends_at",
            "max_winners",
            "is_active",
        ]

    def clean(self):
        data = super().clean()
        if not data.get("reward") and not data.get("points"):
            raise forms.ValidationError(gettext("Choose a reward, bonus points, or both."))
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", gettext("The end must be after the start."))
        return data


@admin.register(InstantWin)
class InstantWinAdmin(TranslationAdmin):
    change_form_template = "admin/campaigns/translated_change_form.html"
    form = InstantWinForm
    list_display = [
        "name",
        "trigger",
        "every_n",
        "counter",
        "winners_count",
        "max_winners",
        "starts_at",
        "ends_at",
        "is_active",
    ]
    list_filter = ["is_active", "trigger"]
    search_fields = ["name"]
    readonly_fields = ["counter", "winners_count", "hits_link"]
    fields = [
        "name",
        "trigger",
        "every_n",
        "reward",
        "points",
        "starts_at",
        "ends_at",
        "max_winners",
        "is_active",
        "counter",
        "winners_count",
        "hits_link",
    ]

    @admin.display(description=_("hits"))
    def hits_link(self, obj: InstantWin) -> str:
        # A link, not an inline: a long-running instant win may have thousands of hits.
        if obj.pk is None:
            return "-"
        url = (
            reverse("admin:campaigns_instantwinhit_changelist")
            + f"?instant_win__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">{}</a>', url, gettext("See who won"))

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.winners_count:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            # The counters move with every purchase; only the edited settings are written.
            fields = _with_translated(obj, [f for f in form.changed_data if f in form.fields])
            if fields:
                obj.save(update_fields=fields)
        else:
            obj.save()


@admin.register(InstantWinHit)
class InstantWinHitAdmin(ReadOnlyAdmin):
    list_display = ["instant_win", "sequence", "member", "voucher", "created_at"]
    list_filter = ["instant_win"]
    list_select_related = ["instant_win", "member", "voucher"]
    raw_id_fields = ["member", "voucher", "entry"]
