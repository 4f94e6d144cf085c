"""The member's account pages beyond allauth: claim a membership, profile, privacy.

Every page needs a login; a page works only on the member linked to that login (no member
id ever comes from the request). Domain errors become form errors, never a 500.
"""

from __future__ import annotations

import json
from functools import wraps

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from loyalty.errors import LoyaltyError
from members.account_forms import (
    ClaimConfirmForm,
    ClaimStartForm,
    DeleteAccountForm,
    ExportForm,
    ProfileForm,
    form_error_add,
)
from members.accounts import (
    claim_confirm,
    claim_start,
    language_cookie_set,
    member_profile_save,
    portal_home_url,
)
from members.models import Member
from members.services import member_erase, member_export

portal_login_required = login_required(login_url=reverse_lazy("account_login"))


def _own_member(user) -> Member | None:
    return Member.objects.filter(user=user, erased_at__isnull=True).first()


def member_required(view):
    """Let in only a signed-in user with a member; pass that member to the view."""

    @portal_login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        member = _own_member(request.user)
        if member is None:
            messages.info(
                request,
                _(
                    "Your login has no membership yet. Claim the one you have, or ask at the counter."
                ),
            )
            return redirect("account:claim")
        return view(request, member, *args, **kwargs)

    return wrapper


@portal_login_required
@require_http_methods(["GET", "POST"])
def claim(request):
    """Ask for the card number or phone of a counter membership and send a code."""
    if _own_member(request.user) is not None:
        return redirect(portal_home_url())
    form = ClaimStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            claim_start(user=request.user, identifier=form.cleaned_data["identifier"])
        except LoyaltyError as error:
            form_error_add(form, error)
        else:
            messages.info(
                request,
                _(
                    "If this membership exists, a code was sent to the email address or phone "
                    "number it has on file. It is valid for 15 minutes."
                ),
            )
            return redirect("account:claim_code")
    return render(request, "members/account/claim.html", {"form": form})


@portal_login_required
@require_http_methods(["GET", "POST"])
def claim_code(request):
    """Take the one-time code and link the membership to the login."""
    if _own_member(request.user) is not None:
        return redirect(portal_home_url())
    form = ClaimConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member = claim_confirm(user=request.user, code=form.cleaned_data["code"])
        except LoyaltyError as error:
            form_error_add(form, error)
        else:
            messages.success(
                request,
                _("Welcome! Your membership is now linked to your login, points and all."),
            )
            translation.activate(member.language)
            return language_cookie_set(redirect(portal_home_url()), member.language)
    return render(request, "members/account/claim_code.html", {"form": form})


@member_required
@require_http_methods(["GET", "POST"])
def profile(request, member: Member):
    """Show and save the profile and message preferences."""
    form = ProfileForm(request.POST or None, member=member)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member_profile_save(
                member=member,
                first_name=data["first_name"],
                last_name=data["last_name"],
                birth_date=data["birth_date"],
                language=data["language"],
                favourite_categories=data["categories"],
                marketing_email=data["marketing_email"],
                marketing_sms=data["marketing_sms"],
                message_frequency=data["message_frequency"],
            )
        except LoyaltyError as error:
            form_error_add(form, error)
        else:
            translation.activate(member.language)
            messages.success(request, _("Your profile and preferences are saved."))
            return language_cookie_set(redirect("account:profile"), member.language)
    return render(request, "members/account/profile.html", {"form": form, "member": member})


@member_required
@require_http_methods(["GET"])
def privacy(request, member: Member):
    """Offer the download of the member's data and the deletion of the account."""
    return render(request, "members/account/privacy.html", {"member": member, "form": ExportForm()})


@member_required
@require_POST
def privacy_export(request, member: Member):
    """Return everything held about the member as a JSON attachment."""
    data = member_export(member=member)
    filename = f"my-data-{timezone.localdate().isoformat()}.json"
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@member_required
@require_http_methods(["GET", "POST"])
def privacy_delete(request, member: Member):
    """Erase the member's personal data and the login after a confirmation; sign out."""
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            member_erase(member=member)
        except LoyaltyError as error:
            form_error_add(form, error)
        else:
            logout(request)
            messages.success(
                request,
                _("Your account is deleted and your personal data erased. Goodbye!"),
            )
            return redirect("account_login")
    return render(request, "members/account/delete.html", {"member": member, "form": form})
