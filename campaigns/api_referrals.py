"""REST API of referrals: a member's code, invitation link and referral counts.

``GET /members/{id}/referral/`` makes the code on first use (the same code ever after).
New members are referred by passing ``referral_code`` to ``POST /members/`` (members API).
"""

from __future__ import annotations

from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.referrals import referral_settings, referral_summary
from loyalty.api import member_get
from loyalty.models import ApiKey
from members.api import errors_for

P = ApiKey.Permission


class ReferralSummarySerializer(serializers.Serializer):
    member = serializers.IntegerField()
    code = serializers.CharField(help_text=_("Stored form, e.g. K7M2QX9P; shown as K7M2-QX9P."))
    code_display = serializers.CharField()
    link = serializers.URLField(help_text=_("The portal's sign-up page with the code filled in."))
    active = serializers.BooleanField(help_text=_("Whether the programme runs referrals now."))
    joined = serializers.IntegerField(
        help_text=_("Friends who joined with the code (not refused).")
    )
    waiting = serializers.IntegerField(
        help_text=_("Referrals waiting for a purchase or the window.")
    )
    rewarded = serializers.IntegerField()


class MemberReferralView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="members_referral",
        summary="A member's referral code, invitation link and counts",
        tags=["referrals"],
        responses={200: ReferralSummarySerializer, **errors_for(404)},
        examples=[
            OpenApiExample(
                "Referral",
                value={
                    "member": 42,
                    "code": "K7M2QX9P",
                    "code_display": "K7M2-QX9P",
                    "link": "https://loyalty.example.com/join/K7M2QX9P/",
                    "active": True,
                    "joined": 4,
                    "waiting": 1,
                    "rewarded": 3,
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        member = member_get(pk)
        summary = referral_summary(member=member)
        code = summary.code
        return Response(
            ReferralSummarySerializer(
                {
                    "member": member.pk,
                    "code": code.code,
                    "code_display": code.display,
                    "link": request.build_absolute_uri(reverse("campaigns:join", args=[code.code])),
                    "active": referral_settings().is_active,
                    "joined": summary.joined,
                    "waiting": summary.waiting,
                    "rewarded": summary.rewarded,
                }
            ).data
        )


urlpatterns = [
    path("members/<int:pk>/referral/", MemberReferralView.as_view(), name="api-member-referral"),
]
