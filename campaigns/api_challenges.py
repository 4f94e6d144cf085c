"""REST API of challenges and badges: what a member is working on and what they hold.

``GET /members/{id}/challenges/``: the running challenges the member takes part in or may
join, with progress, and their completed ones. ``GET /members/{id}/badges/``: their badges.
Both read ``member_challenges`` (a constant number of queries).
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.challenges import member_challenges, progress_text, reward_text
from loyalty.api import member_get
from loyalty.models import ApiKey
from members.api import errors_for

P = ApiKey.Permission


class ChallengeProgressSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The challenge's id."))
    name = serializers.CharField()
    description = serializers.CharField()
    goal = serializers.CharField(
        help_text=_("purchases, visits, spend, category_purchases, referrals or distinct_products.")
    )
    target = serializers.DecimalField(max_digits=12, decimal_places=2)
    progress = serializers.DecimalField(max_digits=12, decimal_places=2)
    percent = serializers.IntegerField()
    progress_text = serializers.CharField(help_text=_("E.g. '2 of 5 visits', translated."))
    reward = serializers.CharField(help_text=_("What completing it gives, translated."))
    enrolment = serializers.CharField(help_text=_("auto or opt_in."))
    joined = serializers.BooleanField(help_text=_("Taking part (always true for auto)."))
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class MemberChallengesSerializer(serializers.Serializer):
    member = serializers.IntegerField()
    running = ChallengeProgressSerializer(many=True)
    completed = ChallengeProgressSerializer(many=True, help_text=_("The latest 20."))


class MemberBadgeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="badge.pk", help_text=_("The badge's id."))
    name = serializers.CharField(source="badge.name")
    description = serializers.CharField(source="badge.description")
    image = serializers.SerializerMethodField()
    earned_at = serializers.DateTimeField()
    source = serializers.CharField(help_text=_("challenge, milestone or staff."))

    def get_image(self, obj) -> str | None:
        if not obj.badge.image:
            return None
        return self.context["request"].build_absolute_uri(obj.badge.image.url)


class MemberBadgesSerializer(serializers.Serializer):
    member = serializers.IntegerField()
    badges = MemberBadgeSerializer(many=True)


def _item(challenge, *, progress, percent, joined, completed_at) -> dict:
    return {
        "id": challenge.pk,
        "name": challenge.name,
        "description": challenge.description,
        "goal": challenge.goal,
        "target": challenge.target,
        "progress": progress,
        "percent": percent,
        "progress_text": progress_text(challenge, progress),
        "reward": reward_text(challenge),
        "enrolment": challenge.enrolment,
        "joined": joined,
        "starts_at": challenge.starts_at,
        "ends_at": challenge.ends_at,
        "completed_at": completed_at,
    }


CHALLENGE_EXAMPLE = {
    "id": 7,
    "name": "Visit 5 times in May",
    "description": "Come by five times this month.",
    "goal": "visits",
    "target": "5.00",
    "progress": "2.00",
    "percent": 40,
    "progress_text": "2 of 5 visits",
    "reward": "100 points, the badge May regular",
    "enrolment": "auto",
    "joined": True,
    "starts_at": "2026-05-01T00:00:00+03:00",
    "ends_at": "2026-06-01T00:00:00+03:00",
    "completed_at": None,
}


class MemberChallengesView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="members_challenges",
        summary="A member's running challenges with progress, and completed ones",
        tags=["challenges"],
        responses={200: MemberChallengesSerializer, **errors_for(404)},
        examples=[
            OpenApiExample(
                "Challenges",
                value={"member": 42, "running": [CHALLENGE_EXAMPLE], "completed": []},
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        member = member_get(pk)
        overview = member_challenges(member=member)
        running = [
            _item(
                v.challenge,
                progress=v.progress,
                percent=v.percent,
                joined=v.joined,
                completed_at=None,
            )
            for v in overview.running
        ]
        completed = [
            _item(
                row.challenge,
                progress=row.progress,
                percent=100,
                joined=True,
                completed_at=row.completed_at,
            )
            for row in overview.completed
        ]
        data = {"member": member.pk, "running": running, "completed": completed}
        return Response(MemberChallengesSerializer(data).data)


class MemberBadgesView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="members_badges",
        summary="A member's badges, latest first",
        tags=["challenges"],
        responses={200: MemberBadgesSerializer, **errors_for(404)},
        examples=[
            OpenApiExample(
                "Badges",
                value={
                    "member": 42,
                    "badges": [
                        {
                            "id": 3,
                            "name": "100th visit",
                            "description": "A hundred times with us.",
                            "image": "https://loyalty.example.com/media/badges/100.png",
                            "earned_at": "2026-05-12T10:04:00+03:00",
                            "source": "milestone",
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        from campaigns.models import MemberBadge

        member = member_get(pk)
        badges = (
            MemberBadge.objects.filter(member_id=member.pk)
            .select_related("badge")
            .order_by("-earned_at", "-pk")
        )
        return Response(
            MemberBadgesSerializer(
                {"member": member.pk, "badges": badges}, context={"request": request}
            ).data
        )


urlpatterns = [
    path(
        "members/<int:pk>/challenges/",
        MemberChallengesView.as_view(),
        name="api-member-challenges",
    ),
    path("members/<int:pk>/badges/", MemberBadgesView.as_view(), name="api-member-badges"),
]
