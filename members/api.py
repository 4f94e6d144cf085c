"""REST API for members: enrol, identify, read (balances, tier, VIP, cards, vouchers), update,
ledger history. Thin views: a small serializer validates input, one service or selector does
the work, an output serializer shapes the answer.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api_base import IdCursorPagination, idempotent
from loyalty.models import ApiKey, LedgerEntry, Source
from loyalty.selectors import member_expiring_soon, member_next_release
from members import services
from members.models import ConsentRecord, Member
from members.selectors import member_identify

P = ApiKey.Permission


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input"),
    401: OpenApiResponse(ErrorSerializer, description="No or invalid API key"),
    403: OpenApiResponse(ErrorSerializer, description="The key lacks the permission"),
    404: OpenApiResponse(ErrorSerializer, description="Not found"),
    409: OpenApiResponse(ErrorSerializer, description="Conflict"),
    422: OpenApiResponse(ErrorSerializer, description="Refused by a rule"),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests"),
}


def errors_for(*codes: int) -> dict:
    return {c: ERRORS[c] for c in (401, 403, 429, *codes)}


class MemberCardSerializer(serializers.Serializer):
    card_type = serializers.IntegerField(source="card_type_id")
    name = serializers.CharField(source="card_type.name")
    stamps = serializers.IntegerField()
    stamps_needed = serializers.IntegerField(source="card_type.stamps_needed")
    expires_at = serializers.DateTimeField(allow_null=True)


class MemberVoucherSerializer(serializers.Serializer):
    code = serializers.CharField()
    reward = serializers.CharField(source="reward.name")
    kind = serializers.CharField(source="reward.kind")
    expires_at = serializers.DateTimeField(allow_null=True)
    remaining_value = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)


class MemberConsentsSerializer(serializers.Serializer):
    """The member's current choices (the latest consent record of each kind)."""

    email = serializers.BooleanField(source="marketing_email")
    sms = serializers.BooleanField(source="marketing_sms")
    terms_accepted_at = serializers.DateTimeField(allow_null=True)


class MemberSerializer(serializers.ModelSerializer):
    """A member as integrators see them (no internal tokens except the QR token for cards)."""

    card_number = serializers.CharField(read_only=True)
    expiring_soon = serializers.SerializerMethodField()
    next_pending_release = serializers.SerializerMethodField()
    tier = serializers.SerializerMethodField()
    vip = serializers.SerializerMethodField()
    benefits = serializers.SerializerMethodField()
    punch_cards = serializers.SerializerMethodField()
    vouchers = serializers.SerializerMethodField()
    consents = MemberConsentsSerializer(source="*", read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "card_number",
            "phone",
            "email",
            "first_name",
            "last_name",
            "birth_date",
            "language",
            "balance",
            "pending",
            "points_debt",
            "next_pending_release",
            "expiring_soon",
            "tier",
            "vip",
            "benefits",
            "punch_cards",
            "vouchers",
            "consents",
            "is_active",
            "enrolled_at",
        ]
        read_only_fields = fields

    def get_expiring_soon(self, obj) -> dict:
        exp = member_expiring_soon(member=obj)
        return {"points": exp.points, "first_expiry": exp.first_expiry}

    def get_next_pending_release(self, obj) -> str | None:
        return member_next_release(member=obj) if obj.pending else None

    def get_tier(self, obj) -> dict | None:
        from loyalty.tiers import tier_progress

        progress = tier_progress(member=obj)
        if progress.tier is None and progress.next_tier is None:
            return None
        return {
            "name": progress.tier.name if progress.tier else None,
            "rank": progress.tier.rank if progress.tier else 0,
            "multiplier": str(progress.tier.multiplier) if progress.tier else "1",
            "qualifying_value": str(progress.value),
            "next_tier": progress.next_tier.name if progress.next_tier else None,
            "needed_for_next": str(progress.needed_for_next),
            "progress": progress.message,
            "keep": progress.keep_message,
            "kept_until": obj.tier_valid_until,
        }

    def get_vip(self, obj) -> dict:
        return {"active": obj.is_vip(), "until": obj.vip_until}

    def get_benefits(self, obj) -> list[str]:
        from loyalty.tiers import member_benefits

        return member_benefits(member=obj)

    def get_punch_cards(self, obj) -> list[dict]:
        from loyalty.punch_cards import member_punch_cards

        return MemberCardSerializer(member_punch_cards(member=obj), many=True).data

    def get_vouchers(self, obj) -> list[dict]:
        from rewards.models import Voucher
        from rewards.selectors import member_vouchers

        active = [
            v for v in member_vouchers(member=obj, status=Voucher.Status.ISSUED) if v.is_usable()
        ]
        # A partner's key sees only that partner's vouchers, here as on /vouchers/.
        partner_id = self.context.get("partner_id")
        if partner_id is not None:
            active = [v for v in active if v.reward.partner_id == partner_id]
        return MemberVoucherSerializer(active, many=True).data


class EnrolSerializer(serializers.Serializer):
    phone = serializers.CharField(required=False, allow_blank=True, max_length=30)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    birth_date = serializers.DateField(required=False, allow_null=True)
    language = serializers.CharField(required=False, allow_blank=True, max_length=10)
    referral_code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text=_(
            "Another member's referral code. Unknown: 400 referral_code_invalid; the "
            "member's membership suspended or closed: 409 referral_code_inactive."
        ),
    )


class UpdateSerializer(EnrolSerializer):
    referral_code = None  # a referral is given at enrolment only


class ConsentInSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(
        choices=ConsentRecord.Channel.choices,
        help_text=_("email or sms (marketing), or terms (the programme's terms)."),
    )
    granted = serializers.BooleanField(help_text=_("true when given, false when withdrawn."))


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------

_MEMBER = {
    "id": 42,
    "card_number": "1000004207",
    "phone": "+358401234567",
    "email": "anna@example.com",
    "first_name": "Anna",
    "last_name": "Virtanen",
    "birth_date": None,
    "language": "fi",
    "balance": 340,
    "pending": 12,
    "points_debt": 0,
    "next_pending_release": "2025-01-14T09:15:00Z",
    "expiring_soon": {"points": 40, "first_expiry": "2025-01-31T21:59:59Z"},
    "tier": {
        "name": "Silver",
        "rank": 1,
        "multiplier": "1.25",
        "qualifying_value": "420.00",
        "next_tier": "Gold",
        "needed_for_next": "580.00",
        "progress": "Spend €580.00 more to reach Gold.",
        "keep": "",
        "kept_until": "2025-12-31",
    },
    "vip": {"active": False, "until": None},
    "benefits": ["SILVER10"],
    "punch_cards": [
        {
            "card_type": 3,
            "name": "Coffee card",
            "stamps": 7,
            "stamps_needed": 10,
            "expires_at": None,
        }
    ],
    "vouchers": [
        {
            "code": "H7K2MX9QPR",
            "reward": "Free coffee",
            "kind": "free_product",
            "expires_at": "2025-01-31T21:59:59Z",
            "remaining_value": None,
        }
    ],
    "consents": {"email": True, "sms": False, "terms_accepted_at": "2024-03-01T10:00:00Z"},
    "is_active": True,
    "enrolled_at": "2024-03-01T10:00:00Z",
}
MEMBER_EXAMPLE = OpenApiExample("Member", value=_MEMBER, response_only=True)
ENROL_EXAMPLES = [
    OpenApiExample(
        "Enrol at the till",
        value={"phone": "+358401234567", "first_name": "Anna", "language": "fi"},
        request_only=True,
    ),
    OpenApiExample(
        "Enrolled",
        value={
            **_MEMBER,
            "email": None,
            "last_name": "",
            "balance": 0,
            "pending": 0,
            "next_pending_release": None,
            "expiring_soon": {"points": 0, "first_expiry": None},
            "tier": None,
            "benefits": [],
            "punch_cards": [],
            "vouchers": [],
            "consents": {"email": False, "sms": False, "terms_accepted_at": None},
        },
        response_only=True,
        status_codes=["201"],
    ),
]
UPDATE_EXAMPLES = [
    OpenApiExample("New email address", value={"email": "anna.v@example.com"}, request_only=True),
    OpenApiExample("Updated", value={**_MEMBER, "email": "anna.v@example.com"}, response_only=True),
]
CONSENT_EXAMPLES = [
    OpenApiExample(
        "Agrees to marketing by SMS", value={"channel": "sms", "granted": True}, request_only=True
    ),
    OpenApiExample(
        "Withdraws email marketing",
        value={"channel": "email", "granted": False},
        request_only=True,
    ),
    OpenApiExample(
        "Consents now",
        value={"email": True, "sms": True, "terms_accepted_at": "2024-03-01T10:00:00Z"},
        response_only=True,
        status_codes=["201"],
    ),
]
LEDGER_EXAMPLES = [
    OpenApiExample(
        "Newest first",
        value={
            "next": "https://loyalty.example.com/api/v1/members/42/ledger/?cursor=cD0xMjM%3D",
            "previous": None,
            "results": [
                {
                    "id": 124,
                    "kind": "earn",
                    "kind_label": "Earned",
                    "points": 12,
                    "pending_points": 0,
                    "debt_points": 0,
                    "balance_after": 340,
                    "reason": "",
                    "source_type": "purchase",
                    "purchase": 981,
                    "created_at": "2024-12-01T09:15:00Z",
                }
            ],
        },
        response_only=True,
    )
]


class MemberListCreate(APIView):
    required_permission = P.ENROL

    @extend_schema(
        operation_id="members_enrol",
        summary="Enrol a member",
        request=EnrolSerializer,
        responses={201: MemberSerializer, **errors_for(400, 409)},
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        examples=ENROL_EXAMPLES,
    )
    def post(self, request):
        data = _validated(EnrolSerializer, request.data)

        def enrol():
            member = services.member_enroll(
                phone=data.get("phone") or None,
                email=data.get("email") or None,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                birth_date=data.get("birth_date"),
                language=data.get("language") or None,
                location=request.auth.location,
                via=Source.API,
                referral_code=data.get("referral_code") or None,
            )
            return Response(
                MemberSerializer(member, context=_context(request)).data,
                status=status.HTTP_201_CREATED,
            )

        return idempotent(enrol, request)


class MemberIdentify(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="members_identify",
        summary="Find a member by phone, card number, email or QR token",
        parameters=[
            OpenApiParameter(
                "identifier",
                str,
                required=True,
                description=_(
                    "A phone number (any common notation; encode + as %2B), a card number, "
                    "an email address or the QR token of the member's card."
                ),
                examples=[OpenApiExample("Phone", value="+358401234567")],
            )
        ],
        responses={200: MemberSerializer, **errors_for(400, 404)},
        examples=[MEMBER_EXAMPLE],
    )
    def get(self, request):
        identifier = request.query_params.get("identifier", "")
        return Response(
            MemberSerializer(member_identify(identifier=identifier), context=_context(request)).data
        )


class MemberDetail(APIView):
    required_permission = {"GET": P.READ_MEMBERS, "PATCH": P.ENROL}

    @extend_schema(
        operation_id="members_retrieve",
        summary="A member with balances, tier, VIP, cards and vouchers",
        responses={200: MemberSerializer, **errors_for(404)},
        examples=[MEMBER_EXAMPLE],
    )
    def get(self, request, pk: int):
        return Response(
            MemberSerializer(get_object_or_404(Member, pk=pk), context=_context(request)).data
        )

    @extend_schema(
        operation_id="members_update",
        summary="Update a member's profile",
        request=UpdateSerializer,
        responses={200: MemberSerializer, **errors_for(400, 404, 409)},
        examples=UPDATE_EXAMPLES,
    )
    def patch(self, request, pk: int):
        member = get_object_or_404(Member, pk=pk)
        data = _validated(UpdateSerializer, request.data, partial=True)

        def update():
            changes = {k: (v or None) if k in {"phone", "email"} else v for k, v in data.items()}
            services.member_update(member=member, **changes)
            member.refresh_from_db()
            return Response(MemberSerializer(member, context=_context(request)).data)

        return idempotent(update, request)


class LedgerEntrySerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "kind",
            "kind_label",
            "points",
            "pending_points",
            "debt_points",
            "balance_after",
            "reason",
            "source_type",
            "purchase",
            "created_at",
        ]


class MemberLedger(generics.ListAPIView):
    """The member's ledger, newest first, keyset-paginated (``?cursor=``)."""

    required_permission = P.READ_MEMBERS
    serializer_class = LedgerEntrySerializer
    pagination_class = IdCursorPagination
    filterset_fields = ["kind", "source_type"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        member = get_object_or_404(Member, pk=self.kwargs["pk"])
        return LedgerEntry.objects.filter(member=member)

    @extend_schema(
        operation_id="members_ledger",
        summary="Ledger history of a member",
        responses={200: LedgerEntrySerializer(many=True), **errors_for(400, 404)},
        examples=LEDGER_EXAMPLES,
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MemberConsents(APIView):
    required_permission = P.ENROL

    @extend_schema(
        operation_id="members_consent",
        summary="Record a consent given or withdrawn (marketing by email or SMS, the terms)",
        description=_(
            "Each call adds a consent record with its time and the source 'api'; the "
            "answer is the member's consents now."
        ),
        request=ConsentInSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={201: MemberConsentsSerializer, **errors_for(400, 404, 409)},
        examples=CONSENT_EXAMPLES,
    )
    def post(self, request, pk: int):
        member = get_object_or_404(Member, pk=pk)
        data = _validated(ConsentInSerializer, request.data)

        def consent():
            services.member_consent_set(
                member=member, channel=data["channel"], granted=data["granted"], source=Source.API
            )
            return Response(MemberConsentsSerializer(member).data, status=status.HTTP_201_CREATED)

        return idempotent(consent, request)


def _context(request) -> dict:
    """Serializer context: the partner whose key this is (its own or its location's), if any."""
    key = request.auth
    partner_id = key.partner_id or (key.location.partner_id if key.location else None)
    return {"partner_id": partner_id}


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


urlpatterns = [
    path("members/", MemberListCreate.as_view(), name="api-members"),
    path("members/identify/", MemberIdentify.as_view(), name="api-members-identify"),
    path("members/<int:pk>/", MemberDetail.as_view(), name="api-member"),
    path("members/<int:pk>/ledger/", MemberLedger.as_view(), name="api-member-ledger"),
    path("members/<int:pk>/consents/", MemberConsents.as_view(), name="api-member-consents"),
]
