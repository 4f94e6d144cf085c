"""Admin of the rewards: catalogue, vouchers, partners, settlement, payments with points.

The catalogue and partners are edited as models. Vouchers never are: they are issued, used
and cancelled from small views that each call one service, so the ledger, stock and events
stay right whichever door the change came through. Voucher uses and payments with points are
read-only records written by the services.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from loyalty import errors
from loyalty.admin import ReadOnlyAdminMixin
from loyalty.admin_utils import (
    EstimatedCountPaginator,
    loyalty_errors_as_messages,
    service_error_to_form,
)
from loyalty.formatting import money
from loyalty.selectors import locations_for_staff, program_get
from rewards.admin_forms import (
    DigitalCodeFormSet,
    MysteryPoolFormSet,
    RewardAdminForm,
    SettlementPeriodForm,
    VoucherCancelForm,
    VoucherIssueForm,
    VoucherUseForm,
    last_month,
)
from rewards.codes import qr_svg, voucher_code_is_wellformed, voucher_code_normalize
from rewards.models import (
    DigitalCode,
    MysteryPoolEntry,
    Partner,
    PointsPayment,
    Reward,
    Voucher,
    VoucherUse,
)
from rewards.selectors import (
    Settlement,
    donations_by_cause,
    partner_settlement,
    settlement_csv,
)
from rewards.services import voucher_cancel, voucher_issue, voucher_use

# Permissions of the views that are not plain model editing.
PERM_USE = "rewards.use_voucher"
PERM_CANCEL = "rewards.change_voucher"  # managers: cancelling gives points back
PERM_ISSUE = "rewards.change_voucher"  # managers: goodwill vouchers cost the business
PERM_SETTLEMENT = "rewards.change_partner"  # managers: what is owed to and by partners


def _member_link(member) -> str:
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:members_member_change", args=[member.pk]),
        member.display_name,
    )


def _settlement_row(settlement: Settlement, currency: str) -> dict:
    """Return a settlement with its amounts formatted for the page."""
    return {
        "partner": settlement.partner,
        "vouchers_used": settlement.vouchers_used,
        "voucher_value": money(settlement.voucher_value, currency),
        "owed_to_partner": money(settlement.owed_to_partner, currency),
        "points_funded_spent": settlement.points_funded_spent,
        "owed_by_partner": money(settlement.owed_by_partner, currency),
        "net": money(settlement.net_to_partner, currency),
        "net_is_negative": settlement.net_to_partner < 0,
        "lines": [{**line, "amount": money(line["amount"], currency)} for line in settlement.lines],
    }


def _voucher_link(voucher: Voucher) -> str:
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:rewards_voucher_change", args=[voucher.pk]),
        voucher.formatted_code,
    )


# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------

# The tier and VIP checks come with the tiers work; show their fields once the model has them.
_ELIGIBILITY_FIELDS = tuple(
    name
    for name in ("min_tier", "vip_only", "vip_early_access_days")
    if any(f.name == name for f in Reward._meta.get_fields())
)


class MysteryPoolEntryInline(admin.TabularInline):
    model = MysteryPoolEntry
    fk_name = "mystery"
    formset = MysteryPoolFormSet
    fields = ("reward", "weight")
    extra = 1
    verbose_name = _("possible prize")
    verbose_name_plural = _("Mystery gift: possible prizes")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "reward":
            kwargs["queryset"] = Reward.objects.exclude(kind=Reward.Kind.MYSTERY).order_by(
                "display_order", "pk"
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class DigitalCodeInline(admin.TabularInline):
    model = DigitalCode
    formset = DigitalCodeFormSet
    fields = ("code", "given_with")
    readonly_fields = ("given_with",)
    extra = 1
    verbose_name_plural = _("Digital reward: code pool (one code per voucher)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("voucher")

    @admin.display(description=_("given with voucher"))
    def given_with(self, obj: DigitalCode) -> str:
        return _voucher_link(obj.voucher) if obj.voucher_id else "—"


@admin.register(Reward)
class RewardAdmin(TranslationAdmin):
    form = RewardAdminForm
    list_display = (
        "name",
        "kind",
        "points_cost",
        "value",
        "stock",
        "availability",
        "partner",
        "is_active",
        "display_order",
    )
    list_editable = ("is_active", "display_order")
    list_filter = ("kind", "partner", "is_active")
    list_select_related = ("partner",)
    search_fields = ("name",)
    ordering = ("display_order", "points_cost", "pk")
    filter_horizontal = ("locations",)
    view_on_site = False  # get_absolute_url is this very page
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = (MysteryPoolEntryInline, DigitalCodeInline)
    change_form_template = "admin/rewards/reward/change_form.html"
    fieldsets = (
        (
            _("What it is"),
            {
                "fields": ("name", "description", "kind", "image", "is_active", "display_order"),
                "description": _(
                    "Name and description are kept per language; an empty language shows the "
                    "English text. Lower display order comes first in the catalogue."
                ),
            },
        ),
        (
            _("Cost and value"),
            {
                "fields": ("points_cost", "value"),
                "description": _(
                    "The value is what a voucher is worth in money: the store credit or discount "
                    "amount, or the reward's cost to the business. Partner settlement and the "
                    "liability report use it."
                ),
            },
        ),
        (
            _("Availability"),
            {
                "fields": ("available_from", "available_until", "season_months", "stock"),
                "description": _(
                    "Outside the window or season members see when it comes back. The last "
                    "unit of stock cannot be sold twice."
                ),
            },
        ),
        (
            _("Limits and validity"),
            {"fields": ("limit_per_member", "limit_period", "voucher_valid_days")},
        ),
        *(
            [
                (
                    _("Eligibility"),
                    {
                        "fields": _ELIGIBILITY_FIELDS,
                        "description": _(
                            "Who may redeem it. VIP early access opens the reward to VIP members "
                            "the given number of days before 'available from'."
                        ),
                    },
                )
            ]
            if _ELIGIBILITY_FIELDS
            else []
        ),
        (_("Where usable"), {"fields": ("locations", "partner")}),
        (
            _("Kind-specific"),
            {
                "fields": ("discount_percent", "cause", "benefit_code", "digital_url"),
                "description": _(
                    "Percentage discount: the percentage. Donation: the cause. Perk: the benefit "
                    "code. Digital reward: a download link, or a code pool below. Mystery gift: "
                    "the possible prizes below."
                ),
            },
        ),
    )

    @admin.display(description=_("availability"))
    def availability(self, obj: Reward) -> str:
        parts = []
        if obj.available_from or obj.available_until:
            start = obj.available_from and timezone.localtime(obj.available_from).date()
            end = obj.available_until and timezone.localtime(obj.available_until).date()
            parts.append(f"{start or '…'} – {end or '…'}")
        if obj.months:
            parts.append(
                gettext("months %(months)s")
                % {"months": ",".join(str(m) for m in sorted(obj.months))}
            )
        return "; ".join(parts) or gettext("always")

    def get_inlines(self, request, obj=None):
        if obj is None:
            return self.inlines
        return [
            inline
            for inline, kind in (
                (MysteryPoolEntryInline, Reward.Kind.MYSTERY),
                (DigitalCodeInline, Reward.Kind.DIGITAL),
            )
            if obj.kind == kind
        ]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        reward = form.instance
        if reward.kind == Reward.Kind.MYSTERY and not reward.pool_entries.exists():
            messages.warning(
                request,
                gettext("This mystery gift has no prizes yet: nobody can redeem it until it has."),
            )

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError:
            # The form checks what the constraints hold; this is the rare race between two
            # editors. The admin's transaction was rolled back, so nothing was half-saved.
            messages.error(
                request,
                gettext(
                    "The reward could not be saved: it conflicts with another change. "
                    "Check the fields and try again."
                ),
            )
            return HttpResponseRedirect(request.get_full_path())


# --------------------------------------------------------------------------------------------
# Vouchers
# --------------------------------------------------------------------------------------------


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = (
        "code_display",
        "member_link",
        "reward",
        "status",
        "origin",
        "value",
        "remaining_value",
        "issued_at",
        "expires_at",
        "used_at",
    )
    list_display_links = ("code_display",)
    list_select_related = ("member", "reward")
    list_filter = ("status", "origin", "reward__kind")
    # Shown so the search box appears; the search itself is get_search_results below.
    search_fields = ("code",)
    search_help_text = _("The voucher code, with or without the dash, in any case.")
    raw_id_fields = ("member",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = None
    view_on_site = False  # get_absolute_url is this very page
    change_form_template = "admin/rewards/voucher/change_form.html"
    fieldsets = (
        (None, {"fields": ("code_display", "qr_code", "member_link", "reward", "redeemed_reward")}),
        (
            _("State"),
            {
                "fields": (
                    "status",
                    "expires_at",
                    "value",
                    "remaining_value",
                    "digital",
                    "uses_list",
                )
            },
        ),
        (
            _("Issued"),
            {
                "fields": (
                    "origin",
                    "issued_at",
                    "issued_by",
                    "reason",
                    "points_spent",
                    "ledger_entry",
                    "draw",
                )
            },
        ),
        (_("Used"), {"fields": ("used_at", "used_location", "used_partner", "used_by")}),
        (_("Cancelled"), {"fields": ("cancelled_at", "cancelled_by", "cancel_reason")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f for _name, opts in self.fieldsets for f in opts["fields"]]

    # ----------------------------------------------------------------------------------------
    # List and search
    # ----------------------------------------------------------------------------------------

    @admin.display(description=_("code"), ordering="code")
    def code_display(self, obj: Voucher) -> str:
        return obj.formatted_code

    @admin.display(description=_("member"))
    def member_link(self, obj: Voucher) -> str:
        return _member_link(obj.member)

    @admin.display(description=_("QR code"))
    def qr_code(self, obj: Voucher) -> str:
        # qr_svg returns markup made by segno from the code alone (letters and digits).
        return mark_safe(qr_svg(obj.code, scale=4))  # noqa: S308

    @admin.display(description=_("digital code"))
    def digital(self, obj: Voucher) -> str:
        code = DigitalCode.objects.filter(voucher=obj).values_list("code", flat=True).first()
        return code or "—"

    @admin.display(description=_("uses"))
    def uses_list(self, obj: Voucher) -> str:
        uses = obj.uses.select_related("location", "partner", "used_by").order_by("used_at", "pk")
        currency = program_get().currency
        rows = format_html_join(
            "",
            "<li>{}: {} · {}</li>",
            (
                (
                    timezone.localtime(u.used_at).strftime("%Y-%m-%d %H:%M"),
                    money(u.amount, currency),
                    u.location or u.partner or "—",
                )
                for u in uses
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else "—"

    def get_search_results(self, request, queryset, search_term):
        """Find a voucher by its exact code: the unique index answers, no table scan."""
        term = search_term.strip()
        if not term:
            return queryset, False
        code = voucher_code_normalize(term)
        if not voucher_code_is_wellformed(code):
            return queryset.none(), False
        return queryset.filter(code=code), False

    # ----------------------------------------------------------------------------------------
    # No model editing: the services are the only writers
    # ----------------------------------------------------------------------------------------

    def has_add_permission(self, request) -> bool:
        # "Add" is the goodwill issue form; cashiers hold add_voucher for counter redemptions.
        return request.user.has_perm("rewards.add_voucher") and request.user.has_perm(PERM_ISSUE)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_use"] = request.user.has_perm(PERM_USE)
        extra_context["can_cancel"] = request.user.has_perm(PERM_CANCEL)
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_use"] = request.user.has_perm(PERM_USE)
        return super().changelist_view(request, extra_context)

    # ----------------------------------------------------------------------------------------
    # Custom views: one form, one service each
    # ----------------------------------------------------------------------------------------

    def get_urls(self):
        def view(func):
            return self.admin_site.admin_view(func)

        custom = [
            path("use/", view(self.use_view), name="rewards_voucher_use"),
            path("<path:object_id>/cancel/", view(self.cancel_view), name="rewards_voucher_cancel"),
        ]
        return custom + super().get_urls()

    def _render_form(
        self, request, form, *, title, submit_label, cancel_url, original=None, intro=""
    ):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": original,
            "form": form,
            "title": title,
            "submit_label": submit_label,
            "intro": intro,
            "cancel_url": cancel_url,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/rewards/voucher/service_form.html", context)

    def use_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(PERM_USE):
            raise PermissionDenied
        form = VoucherUseForm(
            request.POST if request.method == "POST" else None,
            initial={"code": request.GET.get("code", "")},
            locations=locations_for_staff(user=request.user),
        )
        if request.method == "POST" and form.is_valid():
            try:
                voucher = voucher_use(
                    code=form.cleaned_data["code"],
                    location=form.cleaned_data["location"],
                    amount=form.cleaned_data["amount"],
                    actor=request.user,
                )
            except errors.LoyaltyError as error:
                amount_errors = (errors.InvalidAmount, errors.AmountAboveRemaining)
                default = "amount" if isinstance(error, amount_errors) else "code"
                service_error_to_form(form, error, default_field=default)
            else:
                currency = program_get().currency
                if voucher.remaining_value is not None and voucher.remaining_value > 0:
                    text = gettext("Voucher %(code)s used; %(remaining)s left on it.") % {
                        "code": voucher.formatted_code,
                        "remaining": money(voucher.remaining_value, currency),
                    }
                else:
                    text = gettext("Voucher %(code)s used: %(reward)s.") % {
                        "code": voucher.formatted_code,
                        "reward": voucher.reward,
                    }
                messages.success(request, text)
                return HttpResponseRedirect(
                    reverse("admin:rewards_voucher_change", args=[voucher.pk])
                )
        return self._render_form(
            request,
            form,
            title=gettext("Use a voucher"),
            submit_label=gettext("Use voucher"),
            cancel_url=reverse("admin:rewards_voucher_changelist"),
            intro=gettext(
                "Check the member's voucher, then use it. A used voucher cannot be used again."
            ),
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(PERM_CANCEL):
            raise PermissionDenied
        voucher = self.get_object(request, object_id)
        if voucher is None:
            raise Http404(gettext("This voucher does not exist."))
        change_url = reverse("admin:rewards_voucher_change", args=[voucher.pk])
        form = VoucherCancelForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                cancelled = voucher_cancel(
                    voucher=voucher, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error)
            else:
                messages.success(
                    request,
                    gettext("Voucher %(code)s cancelled; %(points)s points given back.")
                    % {"code": cancelled.formatted_code, "points": cancelled.points_spent},
                )
                return HttpResponseRedirect(change_url)
        return self._render_form(
            request,
            form,
            original=voucher,
            title=gettext("Cancel voucher %(code)s") % {"code": voucher.formatted_code},
            submit_label=gettext("Cancel voucher"),
            cancel_url=change_url,
            intro=gettext(
                "An unused voucher can be cancelled: the member gets back the %(points)s points "
                "it cost, with their original expiry. Used and expired vouchers cannot."
            )
            % {"points": voucher.points_spent},
        )

    @loyalty_errors_as_messages
    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        """Issue a goodwill voucher through ``voucher_issue``; no voucher is typed in by hand."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = VoucherIssueForm(
            request.POST if request.method == "POST" else None,
            initial={"member": request.GET.get("member")},
            admin_site=self.admin_site,
        )
        if request.method == "POST" and form.is_valid():
            try:
                voucher = voucher_issue(
                    member=form.cleaned_data["member"],
                    reward=form.cleaned_data["reward"],
                    origin=Voucher.Origin.STAFF,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="reward")
            else:
                messages.success(
                    request,
                    gettext("Voucher %(code)s issued to %(member)s.")
                    % {"code": voucher.formatted_code, "member": voucher.member.display_name},
                )
                return HttpResponseRedirect(
                    reverse("admin:rewards_voucher_change", args=[voucher.pk])
                )
        return self._render_form(
            request,
            form,
            title=gettext("Issue a goodwill voucher"),
            submit_label=gettext("Issue voucher"),
            cancel_url=reverse("admin:rewards_voucher_changelist"),
            intro=gettext(
                "The member gets the reward without spending points. Stock still counts, and "
                "the reason is kept with your name."
            ),
        )


@admin.register(VoucherUse)
class VoucherUseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "used_at", "voucher_link", "amount", "location", "partner", "used_by")
    list_select_related = ("voucher", "location", "partner", "used_by")
    list_filter = ("partner",)
    raw_id_fields = ("voucher",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = ("voucher_link", "amount", "used_at", "location", "partner", "used_by")
    readonly_fields = fields

    @admin.display(description=_("voucher"))
    def voucher_link(self, obj: VoucherUse) -> str:
        return _voucher_link(obj.voucher)


@admin.register(PointsPayment)
class PointsPaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "member_link",
        "location",
        "points",
        "amount",
        "external_id",
    )
    list_select_related = ("member", "location")
    list_filter = ("location",)
    raw_id_fields = ("member",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "location",
        "points",
        "amount",
        "external_id",
        "ledger_entry",
        "actor",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: PointsPayment) -> str:
        return _member_link(obj.member)


# --------------------------------------------------------------------------------------------
# Partners and settlement
# --------------------------------------------------------------------------------------------


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "terms", "contact_name", "email", "phone", "is_active")
    list_filter = ("is_active", "settlement")
    search_fields = ("name",)
    filter_horizontal = ("staff",)
    readonly_fields = ("locations_list",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    change_list_template = "admin/rewards/partner/change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "logo", "is_active")}),
        (_("Contact"), {"fields": ("contact_name", "email", "phone", "website")}),
        (
            _("Settlement terms"),
            {
                "fields": ("settlement", "settlement_fixed", "settlement_share"),
                "description": _(
                    "What the programme pays the partner when one of the partner's vouchers is "
                    "used: a fixed amount per use, or a share of the value used. The partner pays "
                    "the programme for the points earned at its locations and spent elsewhere, at "
                    "the programme's value of a point."
                ),
            },
        ),
        (
            _("Staff and locations"),
            {
                "fields": ("staff", "locations_list"),
                "description": _(
                    "Partner staff also need the 'Partner staff' group to sign in to the partner "
                    "page. A location becomes the partner's on the location's own page."
                ),
            },
        ),
    )

    @admin.display(description=_("terms"))
    def terms(self, obj: Partner) -> str:
        if obj.settlement == Partner.Settlement.FIXED:
            return gettext("%(amount)s per use") % {
                "amount": money(obj.settlement_fixed, program_get().currency)
            }
        return gettext("%(share)s%% of value") % {"share": obj.settlement_share.normalize()}

    @admin.display(description=_("locations"))
    def locations_list(self, obj: Partner) -> str:
        if obj.pk is None:
            return "—"
        rows = format_html_join(
            "",
            '<li><a href="{}">{}</a>{}</li>',
            (
                (
                    reverse("admin:loyalty_location_change", args=[loc.pk]),
                    loc.name,
                    "" if loc.is_active else gettext(" (inactive)"),
                )
                for loc in obj.locations.order_by("name")
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else gettext("No locations yet.")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Rewards, vouchers, uses and points lots point at partners; end one by deactivating.
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_settle"] = request.user.has_perm(PERM_SETTLEMENT)
        return super().changelist_view(request, extra_context)

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        custom = [
            path(
                "settlement/",
                self.admin_site.admin_view(self.settlement_view),
                name="rewards_partner_settlement",
            )
        ]
        return custom + super().get_urls()

    def settlement_view(self, request: HttpRequest) -> HttpResponse:
        """Show what the programme and each partner owe each other for a period; CSV on demand."""
        if not request.user.has_perm(PERM_SETTLEMENT):
            raise PermissionDenied
        if "date_from" in request.GET or "date_until" in request.GET:
            data = request.GET
        else:
            start_day, end_day = last_month()
            data = {"date_from": start_day.isoformat(), "date_until": end_day.isoformat()}
        form = SettlementPeriodForm(data)
        currency = program_get().currency
        settlements, rows, donations = [], [], []
        if form.is_valid():
            start, end = form.period()
            settlements = [
                partner_settlement(partner=partner, start=start, end=end)
                for partner in Partner.objects.order_by("name")
            ]
            if request.GET.get("format") == "csv":
                response = HttpResponse(
                    settlement_csv(settlements), content_type="text/csv; charset=utf-8"
                )
                name = "settlement-{}-{}.csv".format(
                    form.cleaned_data["date_from"].isoformat(),
                    form.cleaned_data["date_until"].isoformat(),
                )
                response["Content-Disposition"] = f'attachment; filename="{name}"'
                return response
            rows = [_settlement_row(s, currency) for s in settlements]
            donations = [
                {
                    "cause": d["reward__cause"] or gettext("(no cause)"),
                    "count": d["count"],
                    "points": d["points"] or 0,
                    "value": money(d["value"] or 0, currency),
                }
                for d in donations_by_cause(start=start, end=end)
            ]
        csv_query = {
            "date_from": data.get("date_from", ""),
            "date_until": data.get("date_until", ""),
            "format": "csv",
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Partner settlement"),
            "form": form,
            "rows": rows,
            "donations": donations,
            "point_value": program_get().point_value,
            "csv_url": f"{request.path}?{urlencode(csv_query)}",
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/rewards/partner/settlement.html", context)
