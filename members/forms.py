"""Forms for staff pages about members."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty import errors
from members.models import Member
from members.services import contact_validate

MEMBER_PROFILE_FIELDS = (
    "phone",
    "email",
    "first_name",
    "last_name",
    "birth_date",
    "language",
    "home_location",
    "is_active",
)


class MemberAdminForm(forms.ModelForm):
    """Enrol or edit a member; phone and email are checked the way the services check them.

    Saving goes through ``member_enroll`` / ``member_update`` (see ``MemberAdmin.save_model``);
    this form only shows the errors early, on the right field.
    """

    phone = forms.CharField(
        label=_("phone"),
        max_length=32,
        required=False,
        help_text=_("Any common notation, e.g. 040 123 4567 or +358 40 123 4567."),
    )
    email = forms.CharField(label=_("email"), max_length=254, required=False)

    class Meta:
        model = Member
        fields = MEMBER_PROFILE_FIELDS

    def clean(self):
        cleaned = super().clean()
        if self.has_error("phone") or self.has_error("email"):
            return cleaned
        try:
            phone, email = contact_validate(
                phone=cleaned.get("phone") or None,
                email=cleaned.get("email") or None,
                member=self.instance if self.instance.pk else None,
            )
        except errors.LoyaltyError as error:
            field = error.field if error.field in self.fields else None
            self.add_error(field, error.detail)
            return cleaned
        cleaned["phone"] = phone
        cleaned["email"] = email
        return cleaned
