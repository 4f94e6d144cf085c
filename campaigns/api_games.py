"""REST API of the leaderboard and sweepstakes (docs/campaigns.md).

* ``GET /leaderboard/?period=&n=`` the top of a period (display names only);
  ``GET /members/{id}/leaderboard/?period=`` a member's rank.
* ``GET /sweepstakes/`` the running sweepstakes; ``GET /members/{id}/sweepstakes/`` the
  member's entries in them; ``POST /sweepstakes/{id}/entries/`` buys entries with points.
"""

from __future__ import annotations

import hashlib

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.games import MAX_BUY, sweepstake_buy_entries
from campaigns.leaderboard import (
    TOP_DEFAULT,
    TOP_MAX,
    leaderboard_rank,
    leaderboard_top,
    period_clean,
    period_keys,
)
from campaigns.models import Sweepstake, SweepstakeEntry
from loyalty import errors
from loyalty.api import IDEMPOTENCY_KEY, MAX_ID, MemberIdField, member_get, validated
from loyalty.api_base import idempotent
from loyalty.models import ApiKey
from members.api import errors_for

P = ApiKey.Permission

PERIOD = OpenApiParameter(
    "period",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description=_("A month (2026-11) or a year (2026); default: this month."),
)


class NotOnLeaderboard(errors.NotFound):
    code = "not_on_leaderboard"
    message = _("This member has not joined the leaderboard.")


class SweepstakeNotFound(errors.NotFound):
    code = "sweepstake_not_found"
    message = _("No sweepstake has this id.")


def _key_digest(api_key_id: int, key: str) -> str:
    # The header may be 100 characters; the stored key is a fixed-length digest of it.
    return hashlib.sha256(f"api:{api_key_id}:{key}".encode()).hexdigest()


def _period(request) -> str:
    raw = request.query_params.get("period")
    return period_clean(raw) if raw else period_keys()[0]


# --------------------------------------------------------------------------------------------
# Serializers
# --------------------------------------------------------------------------------------------


class BoardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text=_("Ties share a rank."))
    display_name = serializers.CharField()
    points = serializers.IntegerField()


class BoardQuerySerializer(serializers.Serializer):
    n = serializers.IntegerField(min_value=1, max_value=TOP_MAX, required=False)


class OwnRankSerializer(serializers.Serializer):
    period = serializers.CharField()
    rank = serializers.IntegerField(
        allow_null=True, help_text=_("Empty until the member has points in the period.")
    )
    points = serializers.IntegerField()
    top_percent = serializers.IntegerField(
        allow_null=True,
        help_text=_("Below the first 1,000 places: the member is in the top N percent."),
    )


class SweepstakeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    description = serializers.CharField()
    prize = serializers.CharField(source="prize.name")
    winners_count = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    entry_rule = serializers.CharField(help_text=_("per_visit, per_points or bought."))
    points_per_entry = serializers.IntegerField(allow_null=True)
    entry_price_points = serializers.IntegerField(allow_null=True)
    max_entries_per_member = serializers.IntegerField()


class MemberEntrySerializer(serializers.Serializer):
    sweepstake = serializers.IntegerField(source="sweepstake_id")
    entries = serializers.IntegerField()


class BuyInSerializer(serializers.Serializer):
    member = MemberIdField()
    count = serializers.IntegerField(min_value=1, max_value=MAX_BUY)


class BuyOutSerializer(serializers.Serializer):
    sweepstake = serializers.IntegerField(source="sweepstake_id")
    member = serializers.IntegerField(source="member_id")
    count = serializers.IntegerField(help_text=_("Entries bought now."))
    points = serializers.IntegerField(help_text=_("Points spent."))
    entries = serializers.IntegerField(help_text=_("The member's entries in total."))
    balance = serializers.IntegerField()


def _running():
    now = timezone.now()
    return (
        Sweepstake.objects.filter(
            is_active=True, drawn_at__isnull=True, starts_at__lte=now, ends_at__gt=now
        )
        .select_related("prize")
        .order_by("ends_at", "pk")
    )


_SWEEP = {
    "id": 3,
    "name": "December prize draw",
    "description": "A weekend for two.",
    "prize": "Weekend for two",
    "winners_count": 1,
    "starts_at": "2026-12-01T00:00:00+02:00",
    "ends_at": "2027-01-01T00:00:00+02:00",
    "entry_rule": "bought",
    "points_per_entry": None,
    "entry_price_points": 50,
    "max_entries_per_member": 10,
}


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


class LeaderboardView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="leaderboard_top",
        summary="The top of the leaderboard for a month or a year (display names only)",
        tags=["campaigns"],
        parameters=[
            PERIOD,
            OpenApiParameter(
                "n", int, OpenApiParameter.QUERY, required=False, description=_("1 to 100.")
            ),
        ],
        responses={200: BoardRowSerializer(many=True), **errors_for(400)},
        examples=[
            OpenApiExample(
                "Top 3",
                value=[
                    {"rank": 1, "display_name": "CoffeeKing", "points": 820},
                    {"rank": 2, "display_name": "Anna B", "points": 640},
                    {"rank": 2, "display_name": "Latte Lover", "points": 640},
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        period = _period(request)
        query = validated(BoardQuerySerializer, request.query_params)
        board = leaderboard_top(period=period, n=query.get("n") or TOP_DEFAULT)
        return Response(BoardRowSerializer(board, many=True).data)


class MemberLeaderboardView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="members_leaderboard",
        summary="A member's rank and points on the leaderboard",
        tags=["campaigns"],
        parameters=[PERIOD],
        responses={200: OwnRankSerializer, **errors_for(400, 404)},
        examples=[
            OpenApiExample(
                "Rank",
                value={"period": "2026-11", "rank": 2, "points": 640, "top_percent": None},
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        member = member_get(pk, field=None)
        period = _period(request)
        own = leaderboard_rank(member=member, period=period)
        if own is None:
            raise NotOnLeaderboard()
        return Response(
            OwnRankSerializer(
                {
                    "period": period,
                    "rank": own.rank,
                    "points": own.points,
                    "top_percent": own.top_percent,
                }
            ).data
        )


class SweepstakeListView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="sweepstakes_list",
        summary="The sweepstakes taking entries now",
        tags=["campaigns"],
        responses={200: SweepstakeSerializer(many=True), **errors_for()},
        examples=[OpenApiExample("Running", value=[_SWEEP], response_only=True)],
    )
    def get(self, request):
        return Response(SweepstakeSerializer(_running(), many=True).data)


class MemberSweepstakesView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="members_sweepstakes",
        summary="The member's entries in the running sweepstakes",
        tags=["campaigns"],
        responses={200: MemberEntrySerializer(many=True), **errors_for(404)},
        examples=[
            OpenApiExample("Entries", value=[{"sweepstake": 3, "entries": 4}], response_only=True)
        ],
    )
    def get(self, request, pk: int):
        member = member_get(pk, field=None)
        rows = SweepstakeEntry.objects.filter(
            member=member, sweepstake__in=_running(), entries__gt=0
        ).order_by("sweepstake_id")
        return Response(MemberEntrySerializer(rows, many=True).data)


class SweepstakeBuyView(APIView):
    required_permission = P.REDEEM

    @extend_schema(
        operation_id="sweepstakes_buy_entries",
        summary="Buy entries to a sweepstake with the member's points",
        description=_(
            "With an Idempotency-Key header a retry returns the first purchase and spends "
            "nothing more."
        ),
        tags=["campaigns"],
        request=BuyInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: BuyOutSerializer, **errors_for(400, 404, 409, 422)},
        examples=[
            OpenApiExample("Buy 3", value={"member": 42, "count": 3}, request_only=True),
            OpenApiExample(
                "Bought",
                value={
                    "sweepstake": 3,
                    "member": 42,
                    "count": 3,
                    "points": 150,
                    "entries": 4,
                    "balance": 90,
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, pk: int):
        data = validated(BuyInSerializer, request.data)
        key = (request.META.get("HTTP_IDEMPOTENCY_KEY") or "").strip() or None

        def buy():
            sweep = Sweepstake.objects.filter(pk=pk).first() if 0 < pk <= MAX_ID else None
            if sweep is None:
                raise SweepstakeNotFound()
            member = member_get(data["member"])
            bought = sweepstake_buy_entries(
                member=member,
                sweepstake=sweep,
                count=data["count"],
                idempotency_key=_key_digest(request.auth.pk, key) if key else None,
            )
            member.refresh_from_db(fields=["balance"])
            entries = SweepstakeEntry.objects.get(sweepstake=sweep, member=member).entries
            body = {
                "sweepstake_id": sweep.pk,
                "member_id": member.pk,
                "count": bought.count,
                "points": bought.points,
                "entries": entries,
                "balance": member.balance,
            }
            return Response(BuyOutSerializer(body).data, status=status.HTTP_201_CREATED)

        return idempotent(buy, request)


urlpatterns = [
    path("leaderboard/", LeaderboardView.as_view(), name="api-leaderboard"),
    path(
        "members/<int:pk>/leaderboard/",
        MemberLeaderboardView.as_view(),
        name="api-member-leaderboard",
    ),
    path("sweepstakes/", SweepstakeListView.as_view(), name="api-sweepstakes"),
    path(
        "members/<int:pk>/sweepstakes/",
        MemberSweepstakesView.as_view(),
        name="api-member-sweepstakes",
    ),
    path(
        "sweepstakes/<int:pk>/entries/",
        SweepstakeBuyView.as_view(),
        name="api-sweepstake-buy",
    ),
]
