"""Admin of member messages: types with their templates, a preview, the log, broadcasts.

Templates are checked when saved: an unknown variable or a syntax error is shown on the
field. The log is read-only and pages without counting the whole table. A broadcast is
edited as a draft, tested on the staff user's own email, then sent after a confirmation
that shows how many members the segment has and how many each channel reaches.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.messaging import (
    COMMON_VARIABLES,
    DEFAULT_MESSAGES,
    TemplateInvalid,
    allowed_variables,
    broadcast_count,
    broadcast_preview,
    broadcast_send,
    broadcast_test_send,
    message_render,
    template_validate,
)
from campaigns.models import Broadcast, MessageLog, MessageTemplate, MessageType, MessagingSettings
from loyalty import errors
from loyalty.admin import ReadOnlyAdminMixin
from loyalty.admin_utils import EstimatedCountPaginator
from members.models import Member

TEMPLATE_FIELDS = ("subject", "text", "html")


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(admin.ModelAdmin):
    """One row of settings: the list goes straight to it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        obj = MessagingSettings.get()
        return HttpResponseRedirect(
            reverse("admin:campaigns_messagingsettings_change", args=[obj.pk])
        )


class TemplateFormSet(BaseInlineFormSet):
    """Check every template against the variables of its message type."""

    def clean(self) -> None:
        super().clean()
        code = self.instance.code or ""
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            for name in TEMPLATE_FIELDS:
                try:
                    template_validate(message_type=code, source=data.get(name) or "")
                except TemplateInvalid as exc:
                    form.add_error(name, exc.detail)


class MessageTemplateInline(admin.StackedInline):
    model = MessageTemplate
    formset = TemplateFormSet
    extra = 0
    fields = ("language", "subject", "text", "html")


class PreviewForm(forms.Form):
    member = forms.IntegerField(
        label=_("Member ID"),
        min_value=1,
        help_text=_(
            "The member's number, as in the member list (the message uses their language)."
        ),
    )


@admin.register(MessageType)
class MessageTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category", "email", "sms", "inbox", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("code", "name")
    inlines = (MessageTemplateInline,)
    readonly_fields = ("variables", "preview_link")
    fields = (
        "code",
        "name",
        "description",
        "category",
        ("email", "sms", "inbox"),
        "is_active",
        "variables",
        "preview_link",
    )

    def get_readonly_fields(self, request, obj=None):
        # A built-in type's code is what the platform sends it by.
        if obj is not None and obj.code in DEFAULT_MESSAGES:
            return ("code", *self.readonly_fields)
        return self.readonly_fields

    @admin.display(description=_("variables"))
    def variables(self, obj) -> str:
        names = allowed_variables(obj.code if obj and obj.code else "")
        return ", ".join(f"{{{{ {n} }}}}" for n in names)

    @admin.display(description=_("preview"))
    def preview_link(self, obj) -> str:
        if not obj or not obj.pk:
            return gettext("Save first.")
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:campaigns_messagetype_preview", args=[obj.pk]),
            gettext("Preview for a member"),
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_messagetype_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Show the message as one member would get it, in their language."""
        mtype = get_object_or_404(MessageType, pk=pk)
        if not self.has_view_permission(request, mtype):
            raise PermissionDenied
        form = PreviewForm(request.GET or None)
        rendered = member = error = None
        if form.is_valid():
            member = Member.objects.filter(pk=form.cleaned_data["member"]).first()
            if member is None:
                form.add_error("member", gettext("There is no member with this ID."))
            else:
                extras = {
                    name: f"[{name}]" for name in allowed_variables(mtype)[len(COMMON_VARIABLES) :]
                }
                try:
                    rendered = message_render(member=member, message_type=mtype, context=extras)
                except errors.LoyaltyError as exc:
                    error = exc.detail
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": mtype,
            "title": gettext("Preview: %(name)s") % {"name": mtype.name},
            "form": form,
            "member": member,
            "rendered": rendered,
            "error": error,
            "cancel_url": reverse("admin:campaigns_messagetype_change", args=[mtype.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/messagetype/preview.html", context)


@admin.register(MessageLog)
class MessageLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "member_link",
        "message_type",
        "channel",
        "status",
        "reason",
        "subject",
    )
    list_filter = ("status", "channel", "marketing", "message_type")
    list_select_related = ("member", "message_type")
    raw_id_fields = ("member", "broadcast")
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "member_link",
        "message_type",
        "marketing",
        "channel",
        "status",
        "reason",
        "error",
        "language",
        "recipient",
        "subject",
        "body_text",
        "body_html",
        "dedupe_key",
        "broadcast",
        "created_at",
        "send_after",
        "sent_at",
        "read_at",
    )
    readonly_fields = fields

    @admin.display(description=_("member"))
    def member_link(self, obj) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:members_member_change", args=[obj.member_id]),
            obj.member.display_name,
        )


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ("name", "message_type", "segment", "status", "sent_at", "sent_count")
    list_filter = ("status",)
    list_select_related = ("message_type", "segment")
    search_fields = ("name",)
    change_form_template = "admin/campaigns/broadcast/change_form.html"
    fields = (
        "name",
        "message_type",
        "segment",
        ("email", "sms", "inbox"),
        "audience",
        "status",
        "sent_at",
        ("recipients", "sent_count", "queued_count", "suppressed_count", "failed_count"),
    )
    counters = (
        "status",
        "sent_at",
        "recipients",
        "sent_count",
        "queued_count",
        "suppressed_count",
        "failed_count",
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Broadcast.Status.DRAFT:
            return (
                "name",
                "message_type",
                "segment",
                "email",
                "sms",
                "inbox",
                "audience",
                *self.counters,
            )
        return ("audience", *self.counters)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and obj.status != Broadcast.Status.DRAFT:
            # Deliveries finish after the run: show the counts as they are now.
            broadcast_count(broadcast=obj)
        return obj

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("audience"))
    def audience(self, obj) -> str:
        if not obj or not obj.pk:
            return gettext("Save the draft to see how many members it reaches.")
        p = broadcast_preview(broadcast=obj)
        return gettext(
            "%(members)s members in the segment; reachable roughly: %(email)s by email, "
            "%(sms)s by SMS, %(inbox)s in the inbox (frequency caps not counted)."
        ) % {"members": p.members, "email": p.email, "sms": p.sms, "inbox": p.inbox}

    def get_urls(self):
        return [
            path(
                "<int:pk>/test/",
                self.admin_site.admin_view(self.test_view),
                name="campaigns_broadcast_test",
            ),
            path(
                "<int:pk>/send/",
                self.admin_site.admin_view(self.send_view),
                name="campaigns_broadcast_send",
            ),
            *super().get_urls(),
        ]

    def _get_for_change(self, request, pk: int) -> Broadcast:
        broadcast = (
            Broadcast.objects.select_related("message_type", "segment").filter(pk=pk).first()
        )
        if broadcast is None:
            raise Http404
        if not self.has_change_permission(request, broadcast):
            raise PermissionDenied
        return broadcast

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Send the broadcast to the staff user's own email (POST only)."""
        broadcast = self._get_for_change(request, pk)
        back = reverse("admin:campaigns_broadcast_change", args=[pk])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        try:
            broadcast_test_send(broadcast=broadcast, user=request.user)
        except errors.LoyaltyError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(
                request, gettext("Test sent to %(email)s.") % {"email": request.user.email}
            )
        return HttpResponseRedirect(back)

    def send_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Confirm, then start sending the broadcast to its segment."""
        broadcast = self._get_for_change(request, pk)
        back = reverse("admin:campaigns_broadcast_change", args=[pk])
        if request.method == "POST":
            try:
                broadcast_send(broadcast=broadcast, actor=request.user)
            except errors.LoyaltyError as exc:
                messages.error(request, exc.detail)
                return HttpResponseRedirect(back)
            messages.success(
                request, gettext("Sending started. The counts update when it has finished.")
            )
            return HttpResponseRedirect(back)
        if broadcast.status != Broadcast.Status.DRAFT:
            messages.error(request, gettext("This broadcast has already been sent."))
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": broadcast,
            "title": gettext("Send broadcast"),
            "intro": self.audience(broadcast),
            "form": forms.Form(),
            "submit_label": gettext("Send now"),
            "cancel_url": back,
        }
        return TemplateResponse(request, "admin/loyalty/service_form.html", context)
