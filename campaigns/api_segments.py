"""REST API of segments: the list, and whether one member is in a segment (see docs/api.md).

Read-only, for integrators that target offers (a web shop showing a banner to "lapsed big
spenders"). Both need a key with *Read members*.
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Segment
from campaigns.segments import segment_contains
from loyalty import errors
from loyalty.api import MAX_ID, member_get
from loyalty.models import ApiKey
from members.api import errors_for

P = ApiKey.Permission


class SegmentNotFound(errors.NotFound):
    code = "segment_not_found"
    message = _("No segment has this id.")


class SegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    description = serializers.CharField()


class SegmentMembershipSerializer(serializers.Serializer):
    segment = serializers.IntegerField()
    member = serializers.IntegerField()
    contains = serializers.BooleanField(help_text=_("Whether the member is in the segment now."))


class SegmentListView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="segments_list",
        summary="The saved segments (member filters), by name",
        tags=["segments"],
        responses={200: SegmentSerializer(many=True), **errors_for()},
        examples=[
            OpenApiExample(
                "Segments",
                value=[{"id": 3, "name": "Lapsed big spenders", "description": ""}],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        segments = Segment.objects.order_by("name").only("pk", "name", "description")
        return Response(SegmentSerializer(segments, many=True).data)


class SegmentMemberView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="segments_member_check",
        summary="Whether a member is in a segment now",
        tags=["segments"],
        responses={200: SegmentMembershipSerializer, **errors_for(404)},
        examples=[
            OpenApiExample(
                "In the segment",
                value={"segment": 3, "member": 42, "contains": True},
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int, member_pk: int):
        segment = Segment.objects.filter(pk=pk).first() if 0 < pk <= MAX_ID else None
        if segment is None:
            raise SegmentNotFound(field=None)
        member = member_get(member_pk, field=None)
        contains = segment_contains(segment, member=member)
        return Response(
            SegmentMembershipSerializer(
                {"segment": segment.pk, "member": member.pk, "contains": contains}
            ).data
        )


urlpatterns = [
    path("segments/", SegmentListView.as_view(), name="api-segments"),
    path(
        "segments/<int:pk>/members/<int:member_pk>/",
        SegmentMemberView.as_view(),
        name="api-segment-member",
    ),
]
