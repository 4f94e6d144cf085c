"""Pages that record action bonuses: the portal's "Earn more points" page and the counter.

The portal lists only active actions flagged for it, each with whether it is done for the
current period; the counter's "Record an action" panel (``action_tags``) posts to
``counter_action``. Both call ``action_record`` (source portal or counter), so the limits
and the one-payment-per-reference rule are the same as in the admin and the API.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.actions import action_record, actions_for_member
from campaigns.models import ActionType
from loyalty import errors
from loyalty.models import Source
from loyalty.selectors import program_get
from loyalty.views import counter_view
from members.models import Member
from members.views import _page, member_view

# For these kinds the reference is the link to the member's post, so it must be a web link.
URL_KINDS = (ActionType.Kind.REVIEW, ActionType.Kind.SOCIAL_SHARE)


def _render(request, *, status: int = 200, error_for: str = "", error: str = "", value: str = ""):
    offers = actions_for_member(member=request.member)
    return _page(
        request,
        "campaigns/earn.html",
        {
            "nav": "earn",
            "offers": offers,
            "url_kinds": URL_KINDS,
            "error_for": error_for,
            "error": error,
            "value": value,
        },
        status=status,
    )


@member_view
@require_GET
def earn(request: HttpRequest) -> HttpResponse:
    """List the actions the member can claim, and which are done."""
    return _render(request)


@member_view
@require_POST
def earn_claim(request: HttpRequest, code: str) -> HttpResponse:
    """Claim one action; a reference already claimed is answered as done, not paid again."""
    reference = (request.POST.get("reference") or "").strip()
    action = ActionType.objects.filter(code=code, is_active=True, recordable_in_portal=True).first()
    if action is None:
        raise Http404(_("No action has this code."))
    try:
        if reference and action.kind in URL_KINDS:
            try:
                URLValidator(schemes=["http", "https"])(reference)
            except ValidationError:
                raise errors.InvalidInput(
                    _("Enter the full link, starting with https://."), field="reference"
                ) from None
        record = action_record(
            member=request.member, action=action, reference=reference, source=Source.PORTAL
        )
    except errors.LoyaltyError as error:
        return _render(
            request, status=400, error_for=code, error=error.detail, value=reference[:255]
        )
    if record.created:
        messages.success(
            request,
            _("Thank you! You earned %(points)s %(name)s for “%(action)s”.")
            % {"points": record.points, "name": program_get().points_name, "action": action.name},
        )
    else:
        messages.info(request, _("You already claimed this one; no more points were added."))
    return redirect("campaigns:earn")


@counter_view
@require_POST
def counter_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Record an action for a member at the counter, then go back to the member's panel."""
    if not request.user.has_perm("campaigns.add_actionrecord"):
        raise PermissionDenied
    member = Member.objects.filter(pk=pk).first()
    if member is None:
        raise Http404(_("No member has this id."))
    try:
        record = action_record(
            member=member,
            action=request.POST.get("action", ""),
            reference=request.POST.get("reference", ""),
            source=Source.COUNTER,
            actor=request.user,
        )
    except errors.LoyaltyError as error:
        messages.error(request, error.detail)
    else:
        if record.created:
            messages.success(
                request,
                _("%(action)s recorded: %(points)s points.")
                % {"action": record.action.name, "points": record.points},
            )
        else:
            messages.info(
                request, _("This reference was already recorded; no more points were given.")
            )
    return redirect("counter:member", pk=member.pk)
