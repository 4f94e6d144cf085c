"""Admin for surprise and delight: draw from a segment, then the read-only record of the draw."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import SurpriseDraw, SurpriseWinner
from campaigns.segments import segment_count
from campaigns.surprise import MAX_SEED, MAX_WINNERS, surprise_draw, surprise_draw_verify
from loyalty import errors
from loyalty.admin_utils import service_error_to_form
from rewards.models import Reward


class SurpriseForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("Shown to the winners in their message. Empty: the segment's name."),
    )
    count = forms.IntegerField(
        label=_("How many members"),
        min_value=1,
        max_value=MAX_WINNERS,
        help_text=_("If the segment has fewer members, all of them are surprised."),
    )
    reward = forms.ModelChoiceField(
        label=_("Reward"),
        queryset=Reward.objects.none(),
        required=False,
        help_text=_("Each winner gets a voucher for it, without spending points."),
    )
    points = forms.IntegerField(label=_("Bonus points"), min_value=0, initial=0, required=False)
    seed = forms.CharField(
        label=_("Seed"),
        max_length=20,
        required=False,
        help_text=_(
            "Optional: a whole number from 0 to %(max)s. Empty: a random one. The seed is "
            "recorded so the draw can be checked later."
        )
        % {"max": MAX_SEED},
    )
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    request_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reward"].queryset = Reward.objects.filter(is_active=True).order_by("name")

    def clean(self):
        data = super().clean()
        if not data.get("reward") and not data.get("points"):
            raise forms.ValidationError(gettext("Choose a reward, bonus points, or both."))
        return data


def surprise_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    """The "Surprise members" page of a segment: choose what and how many, then draw."""
    if not request.user.has_perm("campaigns.add_surprisedraw"):
        raise PermissionDenied
    segment = model_admin.get_object(request, object_id)
    if segment is None:
        raise Http404(gettext("This segment does not exist."))
    if request.method == "POST":
        form = SurpriseForm(request.POST)
    else:
        form = SurpriseForm(initial={"request_key": uuid.uuid4().hex, "points": 0})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            draw = surprise_draw(
                segment=segment,
                count=data["count"],
                reward=data["reward"],
                points=data["points"] or 0,
                seed=data["seed"],
                actor=request.user,
                name=data["name"],
                note=data["note"],
                request_key=data["request_key"],
            )
        except errors.LoyaltyError as error:
            service_error_to_form(form, error, default_field=None)
        else:
            winners = draw.winners.count()
            messages.success(
                request,
                ngettext("%(count)s member surprised.", "%(count)s members surprised.", winners)
                % {"count": winners},
            )
            return HttpResponseRedirect(
                reverse("admin:campaigns_surprisedraw_change", args=[draw.pk])
            )
    matched = segment_count(segment)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": segment,
        "form": form,
        "title": gettext("Surprise members of %(segment)s") % {"segment": segment.name},
        "submit_label": gettext("Draw and reward"),
        "intro": ngettext(
            "%(count)s member matches this segment now.",
            "%(count)s members match this segment now.",
            matched,
        )
        % {"count": matched},
        "cancel_url": reverse("admin:campaigns_segment_change", args=[segment.pk]),
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/loyalty/service_form.html", context)


class SurpriseWinnerInline(admin.TabularInline):
    model = SurpriseWinner
    fields = ["position", "member", "voucher", "entry"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member", "voucher", "entry")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SurpriseDraw)
class SurpriseDrawAdmin(admin.ModelAdmin):
    """Read-only record of each draw, with a button to re-run it from its seed."""

    list_display = [
        "name",
        "segment_name",
        "winners_count",
        "members_matched",
        "drawn_at",
        "drawn_by",
    ]
    list_select_related = ["drawn_by"]
    search_fields = ["name", "segment_name"]
    date_hierarchy = "drawn_at"
    inlines = [SurpriseWinnerInline]
    change_form_template = "admin/campaigns/surprisedraw/change_form.html"
    fields = [
        "name",
        "segment",
        "segment_name",
        "count",
        "reward",
        "points",
        "seed",
        "members_matched",
        "candidates_sha256",
        "drawn_at",
        "drawn_by",
        "note",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(winners_total=Count("winners"))

    @admin.display(description=_("winners"), ordering="winners_total")
    def winners_count(self, obj: SurpriseDraw) -> int:
        return obj.winners_total

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/verify/",
                self.admin_site.admin_view(self.verify_view),
                name="campaigns_surprisedraw_verify",
            )
        ]
        return custom + super().get_urls()

    def verify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Re-run the draw from its seed and stored candidates (POST: it reads a lot)."""
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:campaigns_surprisedraw_change", args=[object_id])
            )
        draw = self.get_object(request, object_id)
        if draw is None or not self.has_view_permission(request, draw):
            raise PermissionDenied
        check = surprise_draw_verify(draw=draw)
        if check.ok:
            messages.success(
                request,
                gettext(
                    "Re-run with seed %(seed)s over the %(count)s recorded candidates: the same "
                    "winners, in the same order."
                )
                % {"seed": draw.seed, "count": draw.members_matched},
            )
        elif not check.candidates_intact:
            messages.error(
                request, gettext("The recorded candidate list does not match its checksum.")
            )
        else:
            messages.error(
                request,
                gettext("Re-running the draw gives different winners: %(ids)s.")
                % {"ids": ", ".join(str(i) for i in check.recomputed)},
            )
        if check.segment_unchanged is False:
            messages.info(
                request,
                gettext(
                    "The segment matches other members today; the check used the candidates "
                    "recorded at the draw."
                ),
            )
        return HttpResponseRedirect(reverse("admin:campaigns_surprisedraw_change", args=[draw.pk]))
