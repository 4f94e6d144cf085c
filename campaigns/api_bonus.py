"""REST API of bonus campaigns: the running and upcoming ones, for POS screens (docs/api.md).

``GET /campaigns/`` lists the enabled campaigns that have not ended, soonest first. A key
tied to a location sees the campaigns that can apply there (those for every location and
those that name it); a programme key sees them all.
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.bonus import campaigns_current
from members.api import errors_for


class BonusCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.SerializerMethodField(help_text=_("running or scheduled."))
    kind = serializers.CharField(help_text=_("multiplier or fixed."))
    multiplier = serializers.DecimalField(
        max_digits=4, decimal_places=2, help_text=_("For multiplier campaigns: 2 = double.")
    )
    points = serializers.IntegerField(help_text=_("For fixed campaigns: points per purchase."))
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    weekdays = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("0 = Monday; empty = every day.")
    )
    hour_from = serializers.TimeField(allow_null=True, help_text=_("Local time of day."))
    hour_until = serializers.TimeField(allow_null=True)
    min_spend = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    category = serializers.CharField()
    sku = serializers.CharField()
    locations = serializers.SerializerMethodField(help_text=_("Location codes; empty = all."))
    tiers = serializers.SerializerMethodField(help_text=_("Tier names; empty = all."))
    vip_only = serializers.BooleanField()
    targeted = serializers.SerializerMethodField(
        help_text=_("True when only the members of a segment get it.")
    )
    stacking = serializers.CharField(help_text=_("stack, best or exclusive."))
    cap = serializers.IntegerField(
        allow_null=True, help_text=_("Most points one member can get from it.")
    )

    def get_status(self, obj) -> str:
        return obj.status(at=self.context["now"])

    def get_locations(self, obj) -> list[str]:
        return [loc.code for loc in obj.locations.all()]

    def get_tiers(self, obj) -> list[str]:
        return [tier.name for tier in obj.tiers.all()]

    def get_targeted(self, obj) -> bool:
        return obj.segment_id is not None


class BonusCampaignListView(APIView):
    required_permission = None  # any valid key: shown on POS screens
    pagination_class = None

    @extend_schema(
        operation_id="campaigns_list",
        summary="The bonus campaigns running now or coming up (for POS screens)",
        tags=["campaigns"],
        responses={200: BonusCampaignSerializer(many=True), **errors_for()},
        examples=[
            OpenApiExample(
                "Double points weekend",
                value=[
                    {
                        "id": 4,
                        "name": "Double points weekend",
                        "description": "Twice the points on Saturday and Sunday.",
                        "status": "scheduled",
                        "kind": "multiplier",
                        "multiplier": "2.00",
                        "points": 0,
                        "starts_at": "2026-06-06T00:00:00+03:00",
                        "ends_at": "2026-06-08T00:00:00+03:00",
                        "weekdays": [],
                        "hour_from": None,
                        "hour_until": None,
                        "min_spend": None,
                        "category": "",
                        "sku": "",
                        "locations": [],
                        "tiers": [],
                        "vip_only": False,
                        "targeted": False,
                        "stacking": "stack",
                        "cap": None,
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        now = timezone.now()
        campaigns = campaigns_current(as_of=now)
        location = request.auth.location
        if location is not None:
            campaigns = campaigns.filter(
                Q(locations__isnull=True) | Q(locations=location)
            ).distinct()
        data = BonusCampaignSerializer(campaigns, many=True, context={"now": now}).data
        return Response(data)


urlpatterns = [path("campaigns/", BonusCampaignListView.as_view(), name="api-campaigns")]
