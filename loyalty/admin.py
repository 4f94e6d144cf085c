"""Admin of the programme core: settings, locations, earning rules, purchases and the ledger.

The ledger, lots and events are read-only: they are written by the services alone. Purchases
and visits are recorded from the member page and refunded from the purchase page, each
through its service. Big lists avoid whole-table counts and joins per row.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from loyalty import errors
from loyalty.admin_forms import EarnRuleAdminForm, PunchCardTypeAdminForm, RefundForm, TierAdminForm
from loyalty.admin_utils import (
    EstimatedCountPaginator,
    loyalty_errors_as_messages,
    service_error_to_form,
)
from loyalty.formatting import money
from loyalty.models import (
    Benefit,
    EarnRule,
    Event,
    LedgerEntry,
    Location,
    PointsLot,
    Program,
    PunchCard,
    PunchCardType,
    Purchase,
    PurchaseLine,
    Refund,
    Stamp,
    Tier,
    TierChange,
    Visit,
)
from loyalty.selectors import program_get
from loyalty.services import purchase_refund

admin.site.site_header = _("Loyalty back office")
admin.site.site_title = _("Loyalty back office")
admin.site.index_title = _("Programme administration")


def _member_link(member) -> str:
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:members_member_change", args=[member.pk]),
        member.display_name,
    )


class ReadOnlyAdminMixin:
    """Admin that shows rows and never writes them: the services are the only writers."""

    actions = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --------------------------------------------------------------------------------------------
# Programme settings, locations, earning rules
# --------------------------------------------------------------------------------------------


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    fieldsets = (
        (None, {"fields": ("name", "currency", "points_name", "default_country")}),
        (_("Earning"), {"fields": ("earn_rate", "rounding", "first_purchase_bonus")}),
        (_("Bonuses"), {"fields": ("welcome_bonus", "points_per_visit")}),
        (
            _("Pending and expiry"),
            {"fields": ("pending_days", "validity", "validity_months")},
        ),
        (
            _("Limits"),
            {
                "fields": (
                    "min_redemption_points",
                    "max_purchase_amount",
                    "max_adjustment_points",
                )
            },
        ),
        (
            _("Tiers"),
            {
                "fields": (
                    "tier_metric",
                    "tier_window",
                    "tier_window_months",
                    "tier_grace_days",
                    "tier_downgrade",
                ),
                "description": _(
                    "How members qualify for the tiers. Upgrades happen at once; downgrades "
                    "only at the nightly re-evaluation, after the window and the grace period."
                ),
            },
        ),
        (
            _("VIP status"),
            {
                "fields": (
                    "vip_auto_metric",
                    "vip_auto_threshold",
                    "vip_window_months",
                    "vip_period_months",
                    "vip_earn_bonus_percent",
                ),
                "description": _(
                    "VIP status is separate from the tiers: granted at a threshold, by a "
                    "manager's invitation, or as a paid membership recorded on the member page."
                ),
            },
        ),
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        """Go straight to the one programme: a list of one row is only a detour."""
        program = program_get()
        if not self.has_view_or_change_permission(request, program):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:loyalty_program_change", args=[program.pk]))

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "address", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "code")
    filter_horizontal = ("staff",)
    prepopulated_fields = {"code": ("name",)}

    def has_delete_permission(self, request, obj=None) -> bool:
        # Purchases and visits point at locations; close one by making it inactive.
        return False

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(EarnRule)
class EarnRuleAdmin(admin.ModelAdmin):
    form = EarnRuleAdminForm
    list_display = (
        "name",
        "kind",
        "category",
        "sku",
        "multiplier",
        "points",
        "min_total",
        "is_active",
        "valid_from",
        "valid_until",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("name", "category", "sku")
    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active")}),
        (_("What it matches"), {"fields": ("category", "sku", "min_total")}),
        (_("What it gives"), {"fields": ("multiplier", "points")}),
        (_("When"), {"fields": ("valid_from", "valid_until")}),
    )

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)


# --------------------------------------------------------------------------------------------
# Purchases and visits
# --------------------------------------------------------------------------------------------


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    fields = ("description", "sku", "category", "quantity", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ("created_at", "amount", "points_clawed_back", "reason", "actor")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "occurred_at",
        "member_link",
        "location",
        "total",
        "points_awarded",
        "refunded_amount",
        "external_id",
        "source",
    )
    list_select_related = ("member", "location")
    list_filter = ("source", "location")
    raw_id_fields = ("member",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    inlines = (PurchaseLineInline, RefundInline)
    view_on_site = False  # get_absolute_url is this very page
    fields = (
        "member_link",
        "location",
        "external_id",
        "total",
        "currency",
        "occurred_at",
        "recorded_at",
        "recorded_by",
        "source",
        "points_awarded",
        "award_lines",
        "refunded_amount",
        "points_clawed_back",
    )
    readonly_fields = fields
    change_form_template = "admin/loyalty/purchase/change_form.html"

    @admin.display(description=_("member"))
    def member_link(self, obj: Purchase) -> str:
        return _member_link(obj.member)

    @admin.display(description=_("award lines"))
    def award_lines(self, obj: Purchase) -> str:
        if not obj.awards:
            return "—"
        items = format_html_join(
            "",
            "<li>{}: {}</li>",
            ((a.get("label", ""), f"{int(a.get('points', 0)):+d}") for a in obj.awards),
        )
        return format_html("<ul>{}</ul>", items)

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="loyalty_purchase_refund",
            )
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_refund"] = request.user.has_perm("loyalty.change_purchase")
        return super().change_view(request, object_id, form_url, extra_context)

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # Refunds take points back from members: managers only (``change_purchase``).
        if not request.user.has_perm("loyalty.change_purchase"):
            raise PermissionDenied
        purchase = self.get_object(request, object_id)
        if purchase is None:
            raise Http404(gettext("This purchase does not exist."))
        change_url = reverse("admin:loyalty_purchase_change", args=[purchase.pk])
        form = RefundForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                refund = purchase_refund(
                    purchase=purchase,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="amount")
            else:
                messages.success(
                    request,
                    gettext("Refunded %(amount)s; %(points)s points taken back.")
                    % {
                        "amount": money(refund.amount, purchase.currency),
                        "points": refund.points_clawed_back,
                    },
                )
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": purchase,
            "purchase": purchase,
            "member": purchase.member,
            "form": form,
            "title": gettext("Refund purchase %(purchase)s") % {"purchase": purchase},
            "submit_label": gettext("Refund"),
            "intro": gettext("Paid %(total)s; left to refund %(refundable)s.")
            % {
                "total": money(purchase.total, purchase.currency),
                "refundable": money(purchase.refundable_amount, purchase.currency),
            },
            "cancel_url": change_url,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/loyalty/service_form.html", context)


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "occurred_at", "member_link", "location", "points_awarded", "source")
    list_select_related = ("member", "location")
    list_filter = ("source", "location")
    raw_id_fields = ("member",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = ("member_link", "location", "occurred_at", "source", "recorded_by", "points_awarded")
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: Visit) -> str:
        return _member_link(obj.member)


# --------------------------------------------------------------------------------------------
# The ledger, lots and events: read-only
# --------------------------------------------------------------------------------------------


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "member_link",
        "kind",
        "points",
        "pending_points",
        "debt_points",
        "balance_after",
        "reason",
        "source_type",
        "actor",
    )
    list_select_related = ("member", "actor")
    list_filter = ("kind", "source_type")
    raw_id_fields = ("member", "purchase", "visit", "lot", "actor")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "created_at",
        "kind",
        "points",
        "pending_points",
        "debt_points",
        "balance_after",
        "reason",
        "source_type",
        "purchase",
        "visit",
        "lot",
        "actor",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: LedgerEntry) -> str:
        return _member_link(obj.member)


@admin.register(PointsLot)
class PointsLotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "member_link",
        "amount",
        "remaining",
        "is_available",
        "available_at",
        "expires_at",
        "created_at",
    )
    list_select_related = ("member",)
    list_filter = ("is_available",)
    raw_id_fields = ("member", "purchase")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "amount",
        "remaining",
        "is_available",
        "available_at",
        "expires_at",
        "created_at",
        "purchase",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: PointsLot) -> str:
        return _member_link(obj.member)


class EventTypeFilter(admin.SimpleListFilter):
    """Filter by event type from a fixed list.

    The built-in filter would run ``SELECT DISTINCT type`` over the whole outbox on every
    page load.
    """

    title = _("type")
    parameter_name = "type"
    types = (
        ("member.enrolled", _("Member enrolled")),
        ("member.updated", _("Member changed")),
        ("member.qr_rotated", _("QR code renewed")),
        ("purchase.recorded", _("Purchase recorded")),
        ("purchase.refunded", _("Purchase refunded")),
        ("visit.recorded", _("Visit recorded")),
        ("points.earned", _("Points earned")),
        ("points.adjusted", _("Points adjusted")),
        ("points.redeemed", _("Points redeemed")),
        ("points.spent", _("Paid with points")),
        ("points.released", _("Points became spendable")),
        ("points.expired", _("Points expired")),
        ("tier.changed", _("Tier changed")),
        ("tier.floor_changed", _("Staff-set tier changed")),
        ("vip.changed", _("VIP status changed")),
        ("punchcard.stamped", _("Card stamped")),
        ("punchcard.completed", _("Card completed")),
    )

    def lookups(self, request, model_admin):
        return self.types

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(type=value) if value else queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "type", "member_link", "actor", "dispatched_at")
    list_select_related = ("member", "actor")
    list_filter = (EventTypeFilter,)
    raw_id_fields = ("member", "actor")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = ("type", "member_link", "actor", "payload", "created_at", "dispatched_at")
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: Event) -> str:
        return _member_link(obj.member) if obj.member_id else "—"


# --------------------------------------------------------------------------------------------
# Tiers, benefits and punch cards
# --------------------------------------------------------------------------------------------


def colour_swatch(colour: str) -> str:
    """Return a small square of ``colour`` followed by its code (the code is for screen readers)."""
    return format_html(
        '<span class="colour-swatch" aria-hidden="true" style="display:inline-block;'
        "width:1em;height:1em;vertical-align:middle;border:1px solid var(--border-color);"
        'background:{}"></span> {}',
        colour,
        colour,
    )


@admin.register(Tier)
class TierAdmin(TranslationAdmin):
    form = TierAdminForm
    list_display = ("rank", "name", "swatch", "threshold", "multiplier")
    list_display_links = ("rank", "name")
    ordering = ("rank",)
    filter_horizontal = ("benefits",)
    fieldsets = (
        (
            None,
            {
                "fields": ("rank", "name", "colour"),
                "description": _(
                    "Rank 1 is the first tier; higher ranks are better. The name is kept per "
                    "language; an empty language shows the English name."
                ),
            },
        ),
        (
            _("Qualifying and earning"),
            {
                "fields": ("threshold", "multiplier"),
                "description": _(
                    "The threshold is counted in the programme's tier metric (points, money or "
                    "visits) and must rise with the rank."
                ),
            },
        ),
        (_("Benefits"), {"fields": ("benefits",)}),
    )

    @admin.display(description=_("colour"), ordering="colour")
    def swatch(self, obj: Tier) -> str:
        return colour_swatch(obj.colour)

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(Benefit)
class BenefitAdmin(TranslationAdmin):
    list_display = ("code", "name", "for_vip")
    list_filter = ("for_vip",)
    search_fields = ("code", "name")
    fields = ("code", "name", "description", "for_vip")


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "member_link",
        "from_tier",
        "to_tier",
        "reason",
        "note",
        "metric",
        "actor",
    )
    list_select_related = ("member", "from_tier", "to_tier", "actor")
    list_filter = ("reason",)
    raw_id_fields = ("member", "actor")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "created_at",
        "from_tier",
        "to_tier",
        "reason",
        "note",
        "metric",
        "actor",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: TierChange) -> str:
        return _member_link(obj.member)


@admin.register(PunchCardType)
class PunchCardTypeAdmin(TranslationAdmin):
    form = PunchCardTypeAdminForm
    list_display = (
        "name",
        "stamps_needed",
        "earn_on",
        "category",
        "sku",
        "spend_step",
        "reward",
        "is_active",
    )
    list_filter = ("earn_on", "is_active")
    list_select_related = ("reward",)
    search_fields = ("name", "category", "sku")
    filter_horizontal = ("locations",)
    fieldsets = (
        (None, {"fields": ("name", "is_active", "stamps_needed", "reward")}),
        (
            _("What earns a stamp"),
            {
                "fields": ("earn_on", "category", "sku", "per_item", "spend_step"),
                "description": _(
                    "Product cards need a category or a SKU; spend cards need the amount "
                    "for each stamp."
                ),
            },
        ),
        (
            _("Limits"),
            {"fields": ("max_stamps_per_day", "validity_days", "locations")},
        ),
    )

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(PunchCard)
class PunchCardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "member_link",
        "card_type",
        "stamps_of",
        "status",
        "started_at",
        "expires_at",
        "completed_at",
        "voucher",
    )
    list_select_related = ("member", "card_type", "voucher")
    list_filter = ("status", "card_type")
    raw_id_fields = ("member", "voucher")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "card_type",
        "stamps_of",
        "status",
        "started_at",
        "expires_at",
        "completed_at",
        "voucher",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: PunchCard) -> str:
        return _member_link(obj.member)

    @admin.display(description=_("stamps"))
    def stamps_of(self, obj: PunchCard) -> str:
        return gettext("%(stamps)s of %(needed)s") % {
            "stamps": obj.stamps,
            "needed": obj.card_type.stamps_needed,
        }


@admin.register(Stamp)
class StampAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "card", "count", "source", "reason", "actor")
    list_select_related = ("card__card_type", "actor")
    list_filter = ("source",)
    raw_id_fields = ("card", "purchase", "visit", "actor")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = ("card", "count", "source", "purchase", "visit", "reason", "actor", "created_at")
    readonly_fields = fields


from loyalty import admin_api  # noqa: E402, F401  (API keys: loyalty/admin_api.py)
from loyalty.admin_webhooks import WebhookSubscriptionAdmin  # noqa: E402, F401  (registers)
