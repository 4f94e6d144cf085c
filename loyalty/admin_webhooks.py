"""Admin of webhooks: subscriptions (through the services) and the read-only delivery log.

The signing secret is shown on the subscription page so staff can hand it to the
integrator. The delivery log can be filtered by status and subscription; its "Replay"
action sends the chosen deliveries again.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from loyalty import webhooks
from loyalty.admin_utils import EstimatedCountPaginator
from loyalty.errors import LoyaltyError
from loyalty.models import WebhookDelivery, WebhookSubscription


class WebhookSubscriptionForm(forms.ModelForm):
    """Check the URL and event types with the same rules the services apply."""

    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        choices=[(t, t) for t in webhooks.WEBHOOK_EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only these events are sent; none chosen means every event."),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "event_types", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "")
        if self.instance.pk and url == self.instance.url:
            # Unchanged: not resolved again, so a saved form does not hang on DNS.
            return url
        try:
            return webhooks.webhook_url_check(url)
        except LoyaltyError as error:
            raise forms.ValidationError(error.detail) from None

    def clean_event_types(self) -> list[str]:
        try:
            return webhooks.webhook_event_types_check(self.cleaned_data.get("event_types"))
        except LoyaltyError as error:
            raise forms.ValidationError(error.detail) from None


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("name", "url", "is_active", "types_of", "api_key", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("api_key",)
    search_fields = ("name", "url")
    fields = ("name", "url", "event_types", "is_active", "secret", "api_key", "created_at")
    readonly_fields = ("secret", "api_key", "created_at")

    @admin.display(description=_("event types"))
    def types_of(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.event_types) if obj.event_types else _("all")

    def save_model(self, request, obj, form, change) -> None:
        data = {k: form.cleaned_data[k] for k in ("name", "url", "event_types", "is_active")}
        if change:
            if "url" not in form.changed_data:
                # An unchanged URL is kept as it is, without resolving its host again.
                data.pop("url")
            webhooks.webhook_subscription_update(subscription=obj, **data)
            return
        saved = webhooks.webhook_subscription_create(**data)
        # The admin goes on with the form's instance (change message, redirect): make it
        # the row the service created.
        obj.pk, obj.secret, obj.created_at = saved.pk, saved.secret, saved.created_at
        obj._state.adding = False

    def delete_model(self, request, obj) -> None:
        webhooks.webhook_subscription_delete(subscription=obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "subscription",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "subscription")
    list_select_related = ("subscription", "event")
    raw_id_fields = ("event",)
    ordering = ("-pk",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = ["replay"]
    fields = (
        "subscription",
        "event",
        "event_type",
        "status",
        "attempts",
        "first_attempt_at",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("event type"))
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("loyalty.view_webhookdelivery") and request.user.has_perm(
            "loyalty.change_webhooksubscription"
        )

    @admin.action(description=_("Replay: deliver again"), permissions=["replay"])
    def replay(self, request, queryset) -> None:
        count = 0
        for delivery in queryset.order_by("pk"):
            webhooks.webhook_replay(delivery=delivery)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery queued to be sent again.",
                "%(count)d deliveries queued to be sent again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
