"""The portal's "Bonus points" page: the bonus campaigns running now and coming up for the member."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from campaigns.bonus import campaigns_for_member
from campaigns.models.bonus import WEEKDAYS
from members.views import _page, member_view

_DAY_NAMES = dict(WEEKDAYS)


@member_view
@require_GET
def bonus(request: HttpRequest) -> HttpResponse:
    """List the bonus campaigns open to the member, running ones first."""
    offers = campaigns_for_member(member=request.member)
    rows = [
        {
            "offer": offer,
            "days": [_DAY_NAMES[d] for d in sorted(offer.campaign.weekdays or ())],
            "locations": [loc.name for loc in offer.campaign.locations.all()],
        }
        for offer in sorted(offers, key=lambda o: not o.running)
    ]
    return _page(request, "campaigns/bonus.html", {"nav": "bonus", "rows": rows})
