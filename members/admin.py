"""Admin for members: a thin client of the member and ledger services.

Enrolment and profile changes go through ``members.services``; points, purchases, visits,
tiers and stamps through ``loyalty.services`` and VIP status through ``members.vip``, each
from its own small view with a form. The list stays fast
at a million members: estimated counts, searches that hit an index, no joins per row.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty import errors
from loyalty.admin import ReadOnlyAdminMixin
from loyalty.admin_forms import (
    DEFAULT_STAMP_REASON,
    AdjustPointsForm,
    ConfirmForm,
    GrantVipForm,
    RecordPurchaseForm,
    RecordVisitForm,
    SetTierForm,
    StampCardForm,
)
from loyalty.admin_utils import (
    EstimatedCountPaginator,
    loyalty_errors_as_messages,
    service_error_to_form,
)
from loyalty.formatting import money
from loyalty.models import Benefit, PunchCardType, Source, TierChange
from loyalty.punch_cards import member_punch_cards
from loyalty.selectors import (
    locations_for_staff,
    member_expiring_soon,
    member_next_release,
    member_open_lots,
    member_recent_purchases,
    member_timeline,
)
from loyalty.services import (
    points_adjust,
    punch_card_stamp,
    purchase_record,
    tier_set_manual,
    visit_record,
)
from loyalty.tiers import member_benefits, tier_progress
from members.forms import MEMBER_PROFILE_FIELDS, MemberAdminForm
from members.models import Member, VipMembership
from members.selectors import members_matching
from members.services import member_enroll, member_erase, member_rotate_qr_token, member_update
from members.vip import vip_grant

TIMELINE_LENGTH = 20
RECENT_PURCHASES = 10
TIER_HISTORY = 10
VIP_HISTORY = 10
FILLED_STAMP = "\u25cf"  # ●
EMPTY_STAMP = "\u25cb"  # ○


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    form = MemberAdminForm
    list_display = (
        "display_name",
        "phone",
        "email",
        "card",
        "balance",
        "pending",
        "home_location",
        "enrolled_at",
        "is_active",
    )
    list_display_links = ("display_name",)
    list_select_related = ("home_location",)
    list_filter = ("is_active", "enrolled_via")
    # Shown so the search box appears; the search itself is get_search_results below.
    search_fields = ("phone",)
    search_help_text = _(
        "Phone (any notation), card number, email, QR token, or the start of the last name."
    )
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ["erase_personal_data"]
    readonly_fields = (
        "card",
        "balance",
        "pending",
        "points_debt",
        "lifetime_points",
        "enrolled_at",
        "enrolled_via",
        "enrolled_by",
        "last_activity_at",
    )

    @admin.action(
        description=_("Erase personal data (GDPR request; keeps the ledger's numbers)"),
        permissions=["erase"],
    )
    def erase_personal_data(self, request: HttpRequest, queryset) -> None:
        """Erase the selected members' personal data at their request, through the service."""
        erased = 0
        for member in queryset.filter(erased_at__isnull=True).order_by("pk")[:100]:
            member_erase(member=member, actor=request.user)
            erased += 1
        self.message_user(
            request,
            ngettext(
                "Personal data of %(count)s member erased.",
                "Personal data of %(count)s members erased.",
                erased,
            )
            % {"count": erased},
            messages.SUCCESS,
        )

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.delete_member")

    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "phone",
                    "email",
                    "first_name",
                    "last_name",
                    "birth_date",
                    "language",
                    "home_location",
                )
            },
        ),
    )
    change_fieldsets = (
        (
            None,
            {
                "fields": (
                    "phone",
                    "email",
                    "first_name",
                    "last_name",
                    "birth_date",
                    "language",
                    "home_location",
                    "is_active",
                )
            },
        ),
        (
            _("Card and enrolment"),
            {
                "fields": (
                    "card",
                    "enrolled_at",
                    "enrolled_via",
                    "enrolled_by",
                    "last_activity_at",
                )
            },
        ),
    )
    change_form_template = "admin/members/member/change_form.html"
    view_on_site = False  # get_absolute_url is this very page

    # ----------------------------------------------------------------------------------------
    # List and search
    # ----------------------------------------------------------------------------------------

    @admin.display(description=_("card number"), ordering="card_number")
    def card(self, obj: Member) -> str:
        return obj.formatted_card_number

    @admin.display(description=_("name"))
    def display_name(self, obj: Member) -> str:
        return obj.display_name

    def get_search_results(self, request, queryset, search_term):
        """Search by exact identifier or last-name prefix only: both use an index.

        The default search runs ``icontains`` over every search field, which scans the
        whole table; at a million members that takes seconds.
        """
        if not search_term.strip():
            return queryset, False
        return members_matching(query=search_term, queryset=queryset), False

    # ----------------------------------------------------------------------------------------
    # Add and change through the services
    # ----------------------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        return self.change_fieldsets if obj else self.add_fieldsets

    def has_delete_permission(self, request, obj=None) -> bool:
        # The ledger points at members; a member leaves by being made inactive (or erased).
        return False

    def save_model(self, request, obj: Member, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            member_update(
                member=obj,
                actor=request.user,
                **{name: data[name] for name in MEMBER_PROFILE_FIELDS if name in data},
            )
            return
        created = member_enroll(
            phone=data.get("phone"),
            email=data.get("email"),
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            birth_date=data.get("birth_date"),
            language=data.get("language"),
            location=data.get("home_location"),
            via=Source.ADMIN,
            actor=request.user,
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the enrolled row.
        for field in Member._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def save_related(self, request, form, formsets, change) -> None:
        # A member has no many-to-many fields or inlines; nothing else is written.
        return None

    @loyalty_errors_as_messages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if member is not None and self.has_view_or_change_permission(request, member):
            extra_context.update(self._member_context(request, member))
        return super().change_view(request, object_id, form_url, extra_context)

    def _member_context(self, request: HttpRequest, member: Member) -> dict:
        user = request.user
        return {
            "member": member,
            "expiring": member_expiring_soon(member=member),
            "next_release": member_next_release(member=member),
            "open_lots": list(member_open_lots(member=member)[:50]),
            "timeline": list(member_timeline(member=member, limit=TIMELINE_LENGTH)),
            "ledger_url": reverse("admin:loyalty_ledgerentry_changelist")
            + f"?member__id__exact={member.pk}",
            "purchases": list(member_recent_purchases(member=member, limit=RECENT_PURCHASES)),
            "purchases_url": reverse("admin:loyalty_purchase_changelist")
            + f"?member__id__exact={member.pk}",
            "can_adjust": user.has_perm("members.adjust_points"),
            "can_record_purchase": user.has_perm("loyalty.add_purchase"),
            "can_record_visit": user.has_perm("loyalty.add_visit"),
            "can_rotate_qr": user.has_perm("members.change_member"),
            **self._status_context(request, member),
        }

    def _status_context(self, request: HttpRequest, member: Member) -> dict:
        """Return the tier, VIP status, benefits and punch cards shown on the member page.

        Each part is one or two queries whatever the length of the member's history.
        """
        user = request.user
        now = timezone.now()
        codes = member_benefits(member=member, as_of=now)
        named = {b.code: b for b in Benefit.objects.filter(code__in=codes)}
        return {
            "progress": tier_progress(member=member, as_of=now),
            "tier_floor": member.tier_floor if member.tier_floor_id else None,
            "tier_changes": list(
                TierChange.objects.filter(member=member)
                .select_related("from_tier", "to_tier", "actor")
                .order_by("-created_at", "-pk")[:TIER_HISTORY]
            ),
            "tier_changes_url": reverse("admin:loyalty_tierchange_changelist")
            + f"?member__id__exact={member.pk}",
            "is_vip": member.is_vip(at=now),
            "vip_memberships": list(
                VipMembership.objects.filter(member=member)
                .select_related("granted_by")
                .order_by("-starts_at", "-pk")[:VIP_HISTORY]
            ),
            "benefits": [(code, named.get(code)) for code in codes],
            "punch_cards": self._punch_cards(member),
            "stamp_reason": DEFAULT_STAMP_REASON,
            "can_set_tier": user.has_perm("members.change_member"),
            "can_grant_vip": user.has_perm("members.change_member"),
            "can_stamp": user.has_perm("loyalty.add_stamp") and member.is_active,
        }

    @staticmethod
    def _punch_cards(member: Member) -> list[dict]:
        """Return one row per active card type: the member's collecting card drawn as stamps.

        A card type the member has no card of yet shows as an empty card, so the first stamp
        is one tap too.
        """
        held = {card.card_type_id: card for card in member_punch_cards(member=member)}
        rows = []
        for card_type in PunchCardType.objects.filter(is_active=True).order_by("name"):
            card = held.get(card_type.pk)
            stamps = card.stamps if card else 0
            needed = card_type.stamps_needed
            rows.append(
                {
                    "card_type": card_type,
                    "card": card,
                    "filled": FILLED_STAMP * stamps,
                    "empty": EMPTY_STAMP * max(needed - stamps, 0),
                    "label": ngettext(
                        "%(stamps)s of %(needed)s stamp",
                        "%(stamps)s of %(needed)s stamps",
                        needed,
                    )
                    % {"stamps": stamps, "needed": needed},
                }
            )
        return rows

    # ----------------------------------------------------------------------------------------
    # Custom views: one form, one service each
    # ----------------------------------------------------------------------------------------

    def get_urls(self):
        def view(func):
            return self.admin_site.admin_view(func)

        custom = [
            path(
                "<path:object_id>/adjust-points/",
                view(self.adjust_points_view),
                name="members_member_adjust_points",
            ),
            path(
                "<path:object_id>/record-purchase/",
                view(self.record_purchase_view),
                name="members_member_record_purchase",
            ),
            path(
                "<path:object_id>/record-visit/",
                view(self.record_visit_view),
                name="members_member_record_visit",
            ),
            path(
                "<path:object_id>/rotate-qr/",
                view(self.rotate_qr_view),
                name="members_member_rotate_qr",
            ),
            path(
                "<path:object_id>/set-tier/",
                view(self.set_tier_view),
                name="members_member_set_tier",
            ),
            path(
                "<path:object_id>/grant-vip/",
                view(self.grant_vip_view),
                name="members_member_grant_vip",
            ),
            path(
                "<path:object_id>/stamp-card/",
                view(self.stamp_card_view),
                name="members_member_stamp_card",
            ),
        ]
        return custom + super().get_urls()

    def _member_for(self, request: HttpRequest, object_id: str, perm: str) -> Member:
        if not request.user.has_perm(perm):
            raise PermissionDenied
        member = self.get_object(request, object_id)
        if member is None:
            raise Http404(gettext("This member does not exist."))
        return member

    def _change_url(self, member: Model) -> str:
        return reverse("admin:members_member_change", args=[member.pk])

    def _render_form(
        self, request: HttpRequest, member: Member, form, *, title, submit_label, intro=""
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "member": member,
            "original": member,
            "form": form,
            "title": title,
            "submit_label": submit_label,
            "intro": intro,
            "cancel_url": self._change_url(member),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/loyalty/service_form.html", context)

    def adjust_points_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member_for(request, object_id, "members.adjust_points")
        form = AdjustPointsForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = points_adjust(
                    member=member,
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="points")
            else:
                messages.success(
                    request,
                    gettext("Adjusted by %(points)+d points. New balance: %(balance)s.")
                    % {"points": entry.points, "balance": member.balance},
                )
                return HttpResponseRedirect(self._change_url(member))
        return self._render_form(
            request,
            member,
            form,
            title=gettext("Adjust points of %(member)s") % {"member": member.display_name},
            submit_label=gettext("Adjust points"),
            intro=gettext("Current balance: %(balance)s points.") % {"balance": member.balance},
        )

    def record_purchase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member_for(request, object_id, "loyalty.add_purchase")
        form = RecordPurchaseForm(
            request.POST if request.method == "POST" else None,
            locations=locations_for_staff(user=request.user),
        )
        if request.method == "POST" and form.is_valid():
            try:
                result = purchase_record(
                    member=member,
                    location=form.cleaned_data["location"],
                    total=form.cleaned_data["total"],
                    external_id=form.cleaned_data["external_id"] or None,
                    actor=request.user,
                    source=Source.ADMIN,
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="total")
            else:
                purchase = result.purchase
                if result.created:
                    messages.success(
                        request,
                        gettext("Purchase of %(total)s recorded: %(points)s points awarded.")
                        % {
                            "total": money(purchase.total, purchase.currency),
                            "points": result.points,
                        },
                    )
                else:
                    messages.warning(
                        request,
                        gettext(
                            "Receipt %(receipt)s was already recorded; nothing more was awarded."
                        )
                        % {"receipt": purchase.external_id},
                    )
                for award in result.awards:
                    messages.info(
                        request,
                        gettext("%(label)s: %(points)+d points")
                        % {"label": award.get("label", ""), "points": award.get("points", 0)},
                    )
                return HttpResponseRedirect(self._change_url(member))
        return self._render_form(
            request,
            member,
            form,
            title=gettext("Record a purchase for %(member)s") % {"member": member.display_name},
            submit_label=gettext("Record purchase"),
        )

    def record_visit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member_for(request, object_id, "loyalty.add_visit")
        form = RecordVisitForm(
            request.POST if request.method == "POST" else None,
            locations=locations_for_staff(user=request.user),
        )
        if request.method == "POST" and form.is_valid():
            try:
                visit = visit_record(
                    member=member,
                    location=form.cleaned_data["location"],
                    source=Source.ADMIN,
                    actor=request.user,
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error)
            else:
                messages.success(
                    request,
                    gettext("Visit at %(location)s recorded: %(points)s points awarded.")
                    % {"location": visit.location.name, "points": visit.points_awarded},
                )
                return HttpResponseRedirect(self._change_url(member))
        return self._render_form(
            request,
            member,
            form,
            title=gettext("Record a visit of %(member)s") % {"member": member.display_name},
            submit_label=gettext("Record visit"),
        )

    def rotate_qr_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member_for(request, object_id, "members.change_member")
        form = ConfirmForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                member_rotate_qr_token(member=member, actor=request.user)
            except errors.LoyaltyError as error:
                service_error_to_form(form, error)
            else:
                messages.success(
                    request, gettext("The member has a new QR code; the old one no longer works.")
                )
                return HttpResponseRedirect(self._change_url(member))
        return self._render_form(
            request,
            member,
            form,
            title=gettext("New QR code for %(member)s") % {"member": member.display_name},
            submit_label=gettext("Rotate QR token"),
            intro=gettext(
                "Use this when a member's QR code was lost or shared. The old code stops "
                "working at once."
            ),
        )

    def set_tier_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # A tier set by hand changes what a member earns: managers only.
        member = self._member_for(request, object_id, "members.change_member")
        form = SetTierForm(
            request.POST if request.method == "POST" else None,
            initial={"tier": member.tier_floor_id, "until": member.tier_floor_until},
        )
        if request.method == "POST" and form.is_valid():
            try:
                # Removing a floor re-evaluates the tier after the change: keep both or neither.
                with transaction.atomic():
                    tier_set_manual(
                        member=member,
                        tier=form.cleaned_data["tier"],
                        until=form.cleaned_data["until"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="tier")
            else:
                tier = form.cleaned_data["tier"]
                if tier is None:
                    text = gettext("The staff-set tier was removed.")
                else:
                    text = gettext("%(tier)s set until %(date)s.") % {
                        "tier": tier.name,
                        "date": date_format(form.cleaned_data["until"], "DATE_FORMAT"),
                    }
                messages.success(request, text)
                return HttpResponseRedirect(self._change_url(member))
        return self._render_form(
            request,
            member,
            form,
            title=gettext("Set the tier of %(member)s") % {"member": member.display_name},
            submit_label=gettext("Set tier"),
            intro=gettext("Current tier: %(tier)s.")
            % {"tier": member.tier.name if member.tier_id else gettext("none")},
        )

    def grant_vip_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # Invitations and paid memberships are recorded by managers.
        member = self._member_for(request, object_id, "members.change_member")
        form = GrantVipForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                membership = vip_grant(
                    member=member,
                    source=data["source"],
                    months=data["months"],
                    fee=data["fee"] or None,
                    note=data["note"],
                    actor=request.user,
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="source")
            else:
                messages.success(
                    request,
                    gettext("VIP status from %(start)s until %(end)s.")
                    % {
                        "start": date_format(
                            timezone.localtime(membership.starts_at), "DATE_FORMAT"
                        ),
                        "end": date_format(timezone.localtime(membership.ends_at), "DATE_FORMAT"),
                    },
                )
                return HttpResponseRedirect(self._change_url(member))
        if member.is_vip():
            intro = gettext("VIP until %(date)s; a new period starts when this one ends.") % {
                "date": date_format(timezone.localtime(member.vip_until), "DATE_FORMAT")
            }
        else:
            intro = gettext("The member is not VIP now.")
        return self._render_form(
            request,
            member,
            form,
            title=gettext("Grant VIP status to %(member)s") % {"member": member.display_name},
            submit_label=gettext("Grant VIP"),
            intro=intro,
        )

    def stamp_card_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member_for(request, object_id, "loyalty.add_stamp")
        form = StampCardForm(
            request.POST if request.method == "POST" else None,
            initial={"card_type": request.GET.get("card_type")},
        )
        if request.method == "POST" and form.is_valid():
            card_type = form.cleaned_data["card_type"]
            try:
                result = punch_card_stamp(
                    member=member,
                    card_type=card_type,
                    count=form.cleaned_data["count"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except errors.LoyaltyError as error:
                service_error_to_form(form, error, default_field="card_type")
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(card)s: %(given)s stamp added; now %(stamps)s of %(needed)s.",
                        "%(card)s: %(given)s stamps added; now %(stamps)s of %(needed)s.",
                        result.given,
                    )
                    % {
                        "card": card_type.name,
                        "given": result.given,
                        "stamps": result.card.stamps if result.card else 0,
                        "needed": card_type.stamps_needed,
                    },
                )
                for voucher in result.vouchers:
                    messages.success(
                        request,
                        format_html(
                            '{} <a href="{}">{}</a>',
                            gettext("The card is full: voucher issued."),
                            reverse("admin:rewards_voucher_change", args=[voucher.pk]),
                            voucher.formatted_code,
                        ),
                    )
                return HttpResponseRedirect(self._change_url(member))
        return self._render_form(
            request,
            member,
            form,
            title=gettext("Stamp a card of %(member)s") % {"member": member.display_name},
            submit_label=gettext("Stamp"),
        )


@admin.register(VipMembership)
class VipMembershipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "member_link",
        "source",
        "starts_at",
        "ends_at",
        "fee",
        "note",
        "granted_by",
        "created_at",
    )
    list_select_related = ("member", "granted_by")
    list_filter = ("source",)
    raw_id_fields = ("member", "granted_by")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "source",
        "starts_at",
        "ends_at",
        "fee",
        "note",
        "granted_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj: VipMembership) -> str:
        return format_html(
            '<a href="{}">{}</a>', self._member_url(obj.member_id), obj.member.display_name
        )

    @staticmethod
    def _member_url(member_id: int) -> str:
        return reverse("admin:members_member_change", args=[member_id])
