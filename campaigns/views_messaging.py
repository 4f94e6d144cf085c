"""Portal pages of member messages: the inbox, and the one-click unsubscribe page.

The inbox lists the member's own inbox messages (newest first, a constant number of queries)
and opening one marks it read. The unsubscribe page needs no sign-in: the signed token in the
link is the proof. GET shows a confirmation; POST withdraws the consent, and also answers the
one-click POST mail providers send for ``List-Unsubscribe-Post`` (RFC 8058), which carries
no cookies and no CSRF token.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from campaigns.messaging import (
    UnsubscribeLinkInvalid,
    inbox_body_html,
    inbox_message_open,
    inbox_messages,
    member_unsubscribe,
    unsubscribe_read,
)
from loyalty import errors
from loyalty.selectors import program_get
from members.views import _page, member_view

INBOX_LENGTH = 100


@member_view
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """List the member's inbox messages, unread ones marked."""
    return _page(
        request,
        "campaigns/inbox.html",
        {"nav": "inbox", "inbox": list(inbox_messages(member=request.member, limit=INBOX_LENGTH))},
    )


@member_view
@require_GET
def inbox_message(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one of the member's messages and mark it read; another member's is a 404."""
    try:
        message = inbox_message_open(member=request.member, pk=pk)
    except errors.NotFound as exc:
        raise Http404 from exc
    return _page(
        request,
        "campaigns/inbox_message.html",
        {"nav": "inbox", "message": message, "body": inbox_body_html(message)},
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) and withdraw (POST) marketing consent named by a signed link."""
    context = {"program": program_get(), "token": token}
    try:
        if request.method == "POST":
            _member, channels = member_unsubscribe(token=token)
            done = True
        else:
            _member, channels = unsubscribe_read(token)
            done = False
    except UnsubscribeLinkInvalid as exc:
        context["error"] = exc.detail
        return render(request, "campaigns/unsubscribe.html", context, status=400)
    context.update(done=done, channels=channels, email="email" in channels, sms="sms" in channels)
    return render(request, "campaigns/unsubscribe.html", context)
