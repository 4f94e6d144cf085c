"""The leaderboard and sweepstakes pages of the member portal.

Thin views: reads from ``campaigns.leaderboard`` and the selectors below, writes through
``leaderboard_opt_in`` / ``leaderboard_opt_out`` and ``sweepstake_buy_entries`` (with a
one-time token as its idempotency key, so a double submit buys once). The leaderboard shows
display names only, never members' real names. Each page runs a constant number of queries.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.games import MAX_BUY, sweepstake_buy_entries
from campaigns.leaderboard import (
    DISPLAY_NAME_MAX,
    leaderboard_opt_in,
    leaderboard_opt_out,
    leaderboard_rank,
    leaderboard_top,
    period_keys,
)
from campaigns.models import (
    LeaderboardProfile,
    Sweepstake,
    SweepstakeEntry,
    SweepstakeWinner,
)
from loyalty import errors
from loyalty.forms import CounterForm, OneTimeTokenForm, form_token_new
from members.views import _page, member_view

PAST_DRAWS = 10


# --------------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------------


class DisplayNameForm(CounterForm):
    default_error_field = "display_name"

    display_name = forms.CharField(
        label=gettext_lazy("Display name"),
        max_length=DISPLAY_NAME_MAX,
        help_text=gettext_lazy("Shown to other members instead of your name."),
    )


@member_view
@require_GET
def leaderboard(request: HttpRequest) -> HttpResponse:
    """Show this month's or this year's top 10, the member's own rank, and opting in or out."""
    return _leaderboard_page(request, form=None)


def _leaderboard_page(request: HttpRequest, *, form: DisplayNameForm | None, status: int = 200):
    member = request.member
    month, year = period_keys()
    tab = "year" if request.GET.get("period") == "year" else "month"
    period = year if tab == "year" else month
    profile = LeaderboardProfile.objects.filter(member_id=member.pk).first()
    if form is None:
        form = DisplayNameForm(initial={"display_name": profile.display_name if profile else ""})
    return _page(
        request,
        "campaigns/leaderboard.html",
        {
            "nav": "leaderboard",
            "tab": tab,
            "period": period,
            "board": leaderboard_top(period=period, n=10),
            "own": leaderboard_rank(member=member, period=period) if profile else None,
            "profile": profile,
            "form": form,
        },
        status=status,
    )


@member_view
@require_POST
def leaderboard_join(request: HttpRequest) -> HttpResponse:
    """Opt in (or change the display name)."""
    form = DisplayNameForm(request.POST)
    if form.is_valid():
        already = LeaderboardProfile.objects.filter(member_id=request.member.pk).exists()
        try:
            profile = leaderboard_opt_in(
                member=request.member, display_name=form.cleaned_data["display_name"]
            )
        except errors.LoyaltyError as err:
            form.add_loyalty_error(err)
        else:
            if already:
                messages.success(
                    request,
                    _("Your display name is now %(name)s.") % {"name": profile.display_name},
                )
            else:
                messages.success(
                    request,
                    _("You are on the leaderboard as %(name)s.") % {"name": profile.display_name},
                )
            return redirect("campaigns:leaderboard")
    return _leaderboard_page(request, form=form, status=400)


@member_view
@require_POST
def leaderboard_leave(request: HttpRequest) -> HttpResponse:
    """Opt out: the member and their scores leave the leaderboard."""
    if leaderboard_opt_out(member=request.member):
        messages.success(request, _("You are no longer on the leaderboard."))
    return redirect("campaigns:leaderboard")


# --------------------------------------------------------------------------------------------
# Sweepstakes
# --------------------------------------------------------------------------------------------


def sweepstakes_running(*, at=None):
    """Return the sweepstakes taking entries now, ending soonest first."""
    at = at or timezone.now()
    return (
        Sweepstake.objects.filter(
            is_active=True, drawn_at__isnull=True, starts_at__lte=at, ends_at__gt=at
        )
        .select_related("prize")
        .order_by("ends_at", "pk")
    )


@member_view
@require_GET
def sweepstakes(request: HttpRequest) -> HttpResponse:
    """Running sweepstakes with the member's entries, and past draws with what they won."""
    member = request.member
    now = timezone.now()
    running = list(sweepstakes_running(at=now))
    mine = dict(
        SweepstakeEntry.objects.filter(
            member_id=member.pk, sweepstake__in=[s.pk for s in running]
        ).values_list("sweepstake_id", "entries")
    )
    past = list(
        Sweepstake.objects.filter(drawn_at__isnull=False)
        .annotate(winners_total=Count("winners"))
        .select_related("prize")
        .order_by("-drawn_at", "-pk")[:PAST_DRAWS]
    )
    won = {
        w.sweepstake_id: w
        for w in SweepstakeWinner.objects.filter(
            member_id=member.pk, sweepstake__in=[s.pk for s in past]
        ).select_related("voucher")
    }
    return _page(
        request,
        "campaigns/sweepstakes.html",
        {
            "nav": "sweepstakes",
            "running": [
                {
                    "sweepstake": s,
                    "entries": mine.get(s.pk, 0),
                    "room": max(s.max_entries_per_member - mine.get(s.pk, 0), 0),
                }
                for s in running
            ],
            "past": [{"sweepstake": s, "won": won.get(s.pk)} for s in past],
            "max_buy": MAX_BUY,
        },
    )


class BuyEntriesForm(OneTimeTokenForm):
    default_error_field = "count"

    count = forms.IntegerField(label=gettext_lazy("Entries"), min_value=1, max_value=MAX_BUY)

    def idempotency_key(self) -> str:
        return f"portal:{self.cleaned_data['token']}"


@member_view
@require_http_methods(["GET", "POST"])
def sweepstake_buy(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm buying entries with points, then buy once however often the form is sent."""
    member = request.member
    sweep = sweepstakes_running().filter(pk=pk, entry_rule=Sweepstake.EntryRule.BOUGHT).first()
    if sweep is None:
        raise Http404
    status = 200
    if request.method == "POST" and request.POST.get("confirm") == "1":
        form = BuyEntriesForm(request.POST)
        if form.is_valid():
            try:
                bought = sweepstake_buy_entries(
                    member=member,
                    sweepstake=sweep,
                    count=form.cleaned_data["count"],
                    idempotency_key=form.idempotency_key(),
                )
            except errors.LoyaltyError as err:
                form.add_loyalty_error(err)
            else:
                messages.success(
                    request,
                    ngettext(
                        "You bought %(count)s entry to %(name)s.",
                        "You bought %(count)s entries to %(name)s.",
                        bought.count,
                    )
                    % {"count": bought.count, "name": sweep.name},
                )
                return redirect("campaigns:sweepstakes")
        status = 400
    else:
        source = request.POST if request.method == "POST" else request.GET
        form = BuyEntriesForm(
            initial={"token": form_token_new(), "count": source.get("count") or 1}
        )
        try:
            count = int(source.get("count") or 1)
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_BUY:
            form = BuyEntriesForm(data={"token": form_token_new(), "count": source.get("count")})
            form.is_valid()
            status = 400
    current = (
        SweepstakeEntry.objects.filter(member_id=member.pk, sweepstake=sweep)
        .values_list("entries", flat=True)
        .first()
    ) or 0
    count = form["count"].value()
    try:
        cost = int(count) * sweep.entry_price_points
    except (TypeError, ValueError):
        cost = None
    return _page(
        request,
        "campaigns/sweepstake_buy.html",
        {
            "nav": "sweepstakes",
            "sweepstake": sweep,
            "form": form,
            "cost": cost,
            "current": current,
            "balance_after": member.balance - cost if cost is not None else None,
        },
        status=status,
    )
