"""REST API of action bonuses: list the actions, record one for a member (see docs/api.md).

``POST /members/{id}/actions/`` answers 201 when the action was paid and 200 with
``created: false`` when this reference was already recorded for the member (nothing more
is paid); a second payment in the same period is a 409 ``action_limit_reached``.
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.actions import action_record
from campaigns.models import ActionRecord, ActionType
from loyalty.api import IDEMPOTENCY_KEY, member_get, validated
from loyalty.api_base import idempotent
from loyalty.models import ApiKey, Source
from members.api import errors_for

P = ApiKey.Permission


class ActionTypeSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    points = serializers.IntegerField()
    limit = serializers.CharField(help_text=_("once, daily, monthly or reference."))
    requires_reference = serializers.BooleanField()
    reference_label = serializers.CharField()
    recordable_by_api = serializers.BooleanField(
        help_text=_("Whether this API may record it (some actions are for staff or members).")
    )


class ActionRecordInSerializer(serializers.Serializer):
    action = serializers.CharField(max_length=50, help_text=_("The action's code."))
    reference = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=ActionRecord._meta.get_field("reference").max_length,
        help_text=_("E.g. the review's URL; each reference is paid once per member."),
    )


class ActionRecordOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    action = serializers.CharField(source="action.code")
    member = serializers.IntegerField(source="member_id")
    reference = serializers.CharField()
    points = serializers.IntegerField()
    created = serializers.BooleanField(
        help_text=_("False when this reference was already recorded: nothing more was paid.")
    )
    created_at = serializers.DateTimeField()
    balance = serializers.IntegerField(source="member.balance")


_RECORD = {
    "id": 31,
    "action": "google-review",
    "member": 42,
    "reference": "https://g.page/r/cafe-aroma/review/123",
    "points": 50,
    "created": True,
    "created_at": "2026-11-25T09:15:00Z",
    "balance": 290,
}


class ActionListView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="actions_list",
        summary="The active actions that earn points (reviews, shares, sign-ups…)",
        tags=["actions"],
        responses={200: ActionTypeSerializer(many=True), **errors_for()},
        examples=[
            OpenApiExample(
                "Actions",
                value=[
                    {
                        "code": "google-review",
                        "name": "Review us on Google",
                        "description": "",
                        "kind": "review",
                        "points": 50,
                        "limit": "reference",
                        "requires_reference": True,
                        "reference_label": "Link to your review",
                        "recordable_by_api": True,
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        actions = ActionType.objects.filter(is_active=True)
        return Response(ActionTypeSerializer(actions, many=True).data)


class MemberActionView(APIView):
    required_permission = P.RECORD_PURCHASES

    @extend_schema(
        operation_id="members_actions_record",
        summary="Record an action for a member and pay its points",
        description=_(
            "201 when paid. The same reference again answers 200 with created false and the "
            "first record (nothing more is paid); a second payment in the action's period "
            "(once, per day, per month) is a 409 action_limit_reached."
        ),
        tags=["actions"],
        request=ActionRecordInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: ActionRecordOutSerializer,
            200: ActionRecordOutSerializer,
            **errors_for(400, 404, 409),
        },
        examples=[
            OpenApiExample(
                "Record a review",
                value={"action": "google-review", "reference": _RECORD["reference"]},
                request_only=True,
            ),
            OpenApiExample("Paid", value=_RECORD, response_only=True, status_codes=["201"]),
            OpenApiExample(
                "Already recorded",
                value={**_RECORD, "created": False},
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request, pk: int):
        data = validated(ActionRecordInSerializer, request.data)

        def record():
            member = member_get(pk, field=None)
            result = action_record(
                member=member,
                action=data["action"],
                reference=data["reference"],
                source=Source.API,
            )
            result.member = member
            member.refresh_from_db(fields=["balance"])
            code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
            return Response(ActionRecordOutSerializer(result).data, status=code)

        return idempotent(record, request)


urlpatterns = [
    path("actions/", ActionListView.as_view(), name="api-actions"),
    path("members/<int:pk>/actions/", MemberActionView.as_view(), name="api-member-actions"),
]
