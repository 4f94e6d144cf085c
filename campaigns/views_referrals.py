"""Refer a friend: the member's code, link, share buttons and QR, and the friends who joined.

``/join/<code>/`` is allauth's sign-up page with the code filled in; the form posts to the
ordinary sign-up address, where the code travels as a field. Share buttons are plain links
(mail, SMS, WhatsApp, Facebook): no third-party scripts on the page.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from allauth.account.views import SignupView
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from campaigns.referrals import (
    friend_label,
    member_referrals,
    referral_code_normalize,
    referral_settings,
    referral_summary,
)
from loyalty.formatting import money, number
from loyalty.selectors import program_get
from members.views import _page, member_view
from rewards.codes import qr_svg

REFERRALS_SHOWN = 100


def referral_link(request: HttpRequest, code: str) -> str:
    """Return the absolute sign-up link that carries ``code``."""
    return request.build_absolute_uri(reverse("campaigns:join", args=[code]))


def _gift_text(*, points: int, reward, points_name: str) -> str:
    parts = []
    if points:
        parts.append(_("%(points)s %(name)s") % {"points": number(points), "name": points_name})
    if reward is not None:
        parts.append(str(reward.name))
    if len(parts) == 2:
        return _("%(points)s and %(reward)s") % {"points": parts[0], "reward": parts[1]}
    return parts[0] if parts else ""


def referral_offer_text(*, config, program) -> str:
    """Return the sentence that tells a member what inviting a friend brings (translated)."""
    mine = _gift_text(
        points=config.referrer_points,
        reward=config.referrer_reward,
        points_name=program.points_name,
    )
    theirs = _gift_text(
        points=config.friend_points, reward=config.friend_reward, points_name=program.points_name
    )
    if not mine and not theirs:
        return _("Invite your friends to join the programme.")
    when = (
        _("when their first purchase is %(amount)s or more")
        % {"amount": money(config.min_spend, program.currency)}
        if config.min_spend
        else _("when they make their first purchase")
    )
    if mine and theirs:
        text = _("You get %(mine)s and your friend gets %(theirs)s %(when)s.")
    elif mine:
        text = _("You get %(mine)s %(when)s.")
    else:
        text = _("Your friend gets %(theirs)s %(when)s.")
    return text % {"mine": mine, "theirs": theirs, "when": when}


def _share_links(*, link: str, message: str, subject: str) -> dict[str, str]:
    text = f"{message} {link}"
    return {
        "email": "mailto:?" + urlencode({"subject": subject, "body": text}, quote_via=quote),
        "sms": "sms:?" + urlencode({"body": text}, quote_via=quote),
        "whatsapp": "https://wa.me/?" + urlencode({"text": text}, quote_via=quote),
        "facebook": "https://www.facebook.com/sharer/sharer.php?"
        + urlencode({"u": link}, quote_via=quote),
    }


@member_view
@require_GET
def refer(request: HttpRequest) -> HttpResponse:
    """Show the member's code and link with share buttons, and their referrals."""
    member = request.member
    config = referral_settings()
    program = program_get()
    if not config.is_active:
        return _page(
            request, "campaigns/refer.html", {"nav": "refer", "active": False, "program": program}
        )
    summary = referral_summary(member=member)
    link = referral_link(request, summary.code.code)
    message = _("Join %(program)s with my code %(code)s:") % {
        "program": program.name,
        "code": summary.code.display,
    }
    rows = [
        {"friend": friend_label(r.referred), "referral": r}
        for r in member_referrals(member=member, limit=REFERRALS_SHOWN)
    ]
    return _page(
        request,
        "campaigns/refer.html",
        {
            "nav": "refer",
            "active": True,
            "program": program,
            "config": config,
            "offer": referral_offer_text(config=config, program=program),
            "summary": summary,
            "link": link,
            "share": _share_links(
                link=link,
                message=message,
                subject=_("Join %(program)s") % {"program": program.name},
            ),
            "qr": qr_svg(link, scale=4),
            "rows": rows,
        },
    )


class JoinView(SignupView):
    """The sign-up page with a friend's referral code filled in."""

    def get_initial(self) -> dict:
        initial = super().get_initial()
        initial["referral_code"] = referral_code_normalize(self.kwargs.get("code"))
        return initial


join = JoinView.as_view()
