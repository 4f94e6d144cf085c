"""Admin of REST API keys: create (the key is shown once), list, revoke.

Keys are made by ``api_key_create`` and revoked by ``api_key_revoke``; the admin never
edits a key after it exists and never shows its hash. Imported at the end of loyalty/admin.py.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty import errors
from loyalty.api_base import KEY_PREFIX, api_key_create, api_key_revoke
from loyalty.models import ApiKey


class ApiKeyAddForm(forms.ModelForm):
    """Name, scope (a location or a partner) and permissions of a new key."""

    permissions = forms.MultipleChoiceField(
        label=_("permissions"),
        choices=ApiKey.Permission.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Give each till or partner only what it needs."),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "location", "partner", "permissions"]

    def clean(self):
        data = super().clean()
        if data.get("location") and data.get("partner"):
            raise forms.ValidationError(_("A key belongs to a location or to a partner, not both."))
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "key_id",
        "scope",
        "permission_list",
        "last_used_at",
        "is_revoked",
        "created_at",
    )
    list_select_related = ("location", "partner")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "location", "partner")
    search_fields = ("name", "prefix")
    ordering = ("name", "pk")
    actions = ["revoke"]
    readonly_fields = (
        "name",
        "key_id",
        "location",
        "partner",
        "permission_list",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "location", "partner", "permissions"]
        return list(self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        # A key is revoked, not deleted: its name stays in the record of who did what.
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            return
        key, full_text = api_key_create(
            name=form.cleaned_data["name"],
            permissions=form.cleaned_data.get("permissions") or [],
            location=form.cleaned_data.get("location"),
            partner=form.cleaned_data.get("partner"),
            actor=request.user,
        )
        # The admin goes on with ``obj`` (history entry, redirect): make it the created key.
        obj.pk = key.pk
        obj.prefix = key.prefix
        obj.permissions = key.permissions
        obj.created_at = key.created_at
        obj._state.adding = False
        obj._state.db = key._state.db
        messages.warning(
            request,
            gettext(
                "Copy the API key now, it is shown only this once: %(key)s — give it to the "
                "integrator as the header 'Authorization: Bearer <key>'."
            )
            % {"key": full_text},
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except errors.LoyaltyError as error:
            self.message_user(request, error.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing of an existing key can be changed; revoke it from the list instead.
        extra_context = {**(extra_context or {}), "show_save": False}
        extra_context["show_save_and_continue"] = False
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("key id"), ordering="prefix")
    def key_id(self, obj: ApiKey) -> str:
        return f"{KEY_PREFIX}{obj.prefix}_…"

    @admin.display(description=_("scope"))
    def scope(self, obj: ApiKey) -> str:
        if obj.location_id:
            return gettext("Location: %(name)s") % {"name": obj.location.name}
        if obj.partner_id:
            return gettext("Partner: %(name)s") % {"name": obj.partner.name}
        return gettext("Whole programme")

    @admin.display(description=_("permissions"))
    def permission_list(self, obj: ApiKey) -> str:
        labels = dict(ApiKey.Permission.choices)
        return ", ".join(str(labels.get(p, p)) for p in obj.permissions or []) or "—"

    @admin.display(description=_("revoked"), boolean=True, ordering="revoked_at")
    def is_revoked(self, obj: ApiKey) -> bool:
        return obj.revoked_at is not None

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            api_key_revoke(key=key, actor=request.user)
            count += 1
        self.message_user(
            request,
            gettext("%(count)s API keys revoked; requests with them are refused from now on.")
            % {"count": count},
            messages.SUCCESS,
        )
