"""Challenges and badges on the member portal: progress bars, joining, completed ones, badges.

Thin views: the reads come from ``member_challenges`` (a constant number of queries), the
one write from ``challenge_join``, which is idempotent, so a double click joins once.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.challenges import challenge_join, member_challenges
from campaigns.models import Challenge
from loyalty import errors
from members.views import _page, member_view


@member_view
@require_GET
def challenges(request: HttpRequest) -> HttpResponse:
    """Show the running challenges with their progress, the completed ones and the badges."""
    overview = member_challenges(member=request.member)
    return _page(
        request,
        "campaigns/challenges.html",
        {"nav": "challenges", "overview": overview},
    )


@member_view
@require_POST
def challenge_join_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Join an opt-in challenge, then go back to the list with a message."""
    challenge = Challenge.objects.filter(pk=pk, is_active=True).first()
    if challenge is None:
        raise Http404
    try:
        challenge_join(member=request.member, challenge=challenge)
    except errors.LoyaltyError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("You joined %(name)s. Good luck!") % {"name": challenge.name})
    return redirect("campaigns:challenges")
