"""REST API of rewards: the catalogue for a member, redeeming, vouchers (validate, use,
cancel) and paying with points (see docs/api.md).

A partner's key (or the key of a partner's location) sees only that partner's vouchers:
any other code is answered exactly like an unknown one (404).
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty import errors
from loyalty.api import (
    IDEMPOTENCY_KEY,
    MAX_ID,
    AmountField,
    MemberIdField,
    key_location,
    member_get,
    validated,
)
from loyalty.api_base import idempotent
from loyalty.models import ApiKey
from loyalty.services import MAX_POINTS
from members.api import errors_for
from rewards.models import Partner, Reward, Voucher, VoucherUse
from rewards.selectors import rewards_available_for, voucher_check_usable, voucher_find
from rewards.services import (
    points_pay,
    points_pay_quote,
    reward_redeem,
    voucher_cancel,
    voucher_use,
)

P = ApiKey.Permission

CODE = OpenApiParameter(
    "code",
    str,
    OpenApiParameter.PATH,
    description=_("The voucher code, with or without the dash, any case (e.g. H7K2M-X9QPR)."),
)


def _acting_partner(key: ApiKey) -> Partner | None:
    if key.partner_id:
        return key.partner
    if key.location is not None and key.location.partner_id:
        return key.location.partner
    return None


def voucher_visible(request, code: str) -> Voucher:
    """Return the voucher with this code if the key may see it, else raise ``VoucherNotFound``."""
    voucher = voucher_find(code=code)
    partner = _acting_partner(request.auth)
    if partner is not None and voucher.reward.partner_id != partner.pk:
        raise errors.VoucherNotFound()
    return voucher


# --------------------------------------------------------------------------------------------
# Serializers
# --------------------------------------------------------------------------------------------


class RewardOptionSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="reward.pk")
    name = serializers.CharField(source="reward.name")
    description = serializers.CharField(source="reward.description")
    kind = serializers.CharField(source="reward.kind")
    points_cost = serializers.IntegerField(source="reward.points_cost", allow_null=True)
    value = serializers.DecimalField(source="reward.value", max_digits=10, decimal_places=2)
    partner = serializers.CharField(source="reward.partner.name", allow_null=True, default=None)
    available = serializers.BooleanField()
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text=_("Why the member cannot redeem it now.")
    )


class RedeemInSerializer(serializers.Serializer):
    reward = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class VoucherRewardSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    kind = serializers.CharField()
    partner = serializers.CharField(source="partner.name", allow_null=True, default=None)
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    benefit_code = serializers.CharField()


class VoucherSerializer(serializers.Serializer):
    code = serializers.CharField()
    formatted_code = serializers.CharField()
    state = serializers.SerializerMethodField(
        help_text=_(
            "issued, used, expired or cancelled (an issued voucher past its expiry is expired)."
        )
    )
    member = serializers.IntegerField(source="member_id")
    reward = VoucherRewardSerializer()
    origin = serializers.CharField()
    value = serializers.DecimalField(max_digits=10, decimal_places=2)
    remaining_value = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        allow_null=True,
        help_text=_("For store credit: what is left to spend."),
    )
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    used_at = serializers.DateTimeField(allow_null=True)

    def get_state(self, obj) -> str:
        if obj.status == Voucher.Status.ISSUED and not obj.is_usable():
            return Voucher.Status.EXPIRED
        return obj.status


class VoucherCheckSerializer(VoucherSerializer):
    usable = serializers.BooleanField(help_text=_("Whether it can be used here and now."))
    reason_code = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True, help_text=_("Why it cannot be used here."))


class RedeemOutSerializer(VoucherSerializer):
    balance = serializers.IntegerField(source="member.balance")


class VoucherUseInSerializer(serializers.Serializer):
    amount = AmountField(
        required=False,
        allow_null=True,
        help_text=_("For store credit: the part to use. Leave out to use the whole voucher."),
    )


class VoucherUseOutSerializer(VoucherSerializer):
    amount_used = serializers.DecimalField(max_digits=10, decimal_places=2)


class VoucherCancelInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class VoucherCancelOutSerializer(VoucherSerializer):
    points_refunded = serializers.IntegerField(source="points_spent")


class PayQuoteInSerializer(serializers.Serializer):
    member = MemberIdField()
    amount = AmountField(help_text=_("The amount to pay."))
    points = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_POINTS,
        help_text=_("Points to use; leave out to use as many as the balance and amount allow."),
    )


class PayQuoteOutSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    max_points = serializers.IntegerField()
    point_value = serializers.DecimalField(max_digits=12, decimal_places=4)


class PayInSerializer(PayQuoteInSerializer):
    external_id = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=64,
        help_text=_("The receipt number: one payment per receipt at a location."),
    )


class PayOutSerializer(serializers.Serializer):
    payment = serializers.IntegerField(source="pk")
    member = serializers.IntegerField(source="member_id")
    points = serializers.IntegerField()
    discount = serializers.DecimalField(source="amount", max_digits=12, decimal_places=2)
    external_id = serializers.CharField(allow_null=True)
    balance = serializers.IntegerField(source="member.balance")


_VOUCHER = {
    "code": "H7K2MX9QPR",
    "formatted_code": "H7K2M-X9QPR",
    "state": "issued",
    "member": 42,
    "reward": {
        "id": 7,
        "name": "Free coffee",
        "kind": "free_product",
        "partner": None,
        "discount_percent": None,
        "benefit_code": "",
    },
    "origin": "redeemed",
    "value": "3.50",
    "remaining_value": None,
    "issued_at": "2024-12-01T09:15:00Z",
    "expires_at": "2024-12-31T09:15:00Z",
    "used_at": None,
}


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


class MemberRewardsView(APIView):
    required_permission = P.READ_MEMBERS

    @extend_schema(
        operation_id="members_rewards",
        summary="The rewards catalogue for a member: what they can redeem now, and why not",
        tags=["rewards"],
        responses={200: RewardOptionSerializer(many=True), **errors_for(404)},
        examples=[
            OpenApiExample(
                "Catalogue",
                value=[
                    {
                        "id": 7,
                        "name": "Free coffee",
                        "description": "",
                        "kind": "free_product",
                        "points_cost": 100,
                        "value": "3.50",
                        "partner": None,
                        "available": True,
                        "reasons": [],
                    },
                    {
                        "id": 9,
                        "name": "Spa day",
                        "description": "",
                        "kind": "experience",
                        "points_cost": 5000,
                        "value": "80.00",
                        "partner": "City Spa",
                        "available": False,
                        "reasons": ["Needs 4,660 more points."],
                    },
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        options = rewards_available_for(member=member_get(pk, field=None))
        return Response(RewardOptionSerializer(options, many=True).data)


class MemberRedeemView(APIView):
    required_permission = P.REDEEM

    @extend_schema(
        operation_id="members_redeem",
        summary="Spend the member's points on a reward; returns the voucher",
        description=_(
            "The Idempotency-Key header also makes the redemption itself idempotent for this "
            "member: a retry returns the first voucher and spends nothing more."
        ),
        tags=["rewards"],
        request=RedeemInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RedeemOutSerializer, **errors_for(400, 404, 409, 422)},
        examples=[
            OpenApiExample("Redeem", value={"reward": 7}, request_only=True),
            OpenApiExample(
                "Voucher issued",
                value={**_VOUCHER, "balance": 240},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, pk: int):
        data = validated(RedeemInSerializer, request.data)
        key = (request.META.get("HTTP_IDEMPOTENCY_KEY") or "").strip() or None

        def redeem():
            member = member_get(pk, field=None)
            reward = Reward.objects.filter(pk=data["reward"]).first()
            if reward is None:
                raise errors.RewardNotFound(field="reward")
            voucher = reward_redeem(member=member, reward=reward, idempotency_key=key)
            voucher.member = member
            return Response(RedeemOutSerializer(voucher).data, status=status.HTTP_201_CREATED)

        return idempotent(redeem, request)


class VoucherDetailView(APIView):
    required_permission = P.USE_VOUCHERS

    @extend_schema(
        operation_id="vouchers_validate",
        summary="Check a voucher without using it: its state and whether it can be used here",
        tags=["vouchers"],
        parameters=[CODE],
        responses={200: VoucherCheckSerializer, **errors_for(404)},
        examples=[
            OpenApiExample(
                "Usable",
                value={**_VOUCHER, "usable": True, "reason_code": None, "reason": None},
                response_only=True,
            ),
            OpenApiExample(
                "Already used",
                value={
                    **_VOUCHER,
                    "state": "used",
                    "used_at": "2024-12-02T10:00:00Z",
                    "usable": False,
                    "reason_code": "voucher_used",
                    "reason": "This voucher has already been used.",
                },
                response_only=True,
            ),
        ],
    )
    def get(self, request, code: str):
        voucher = voucher_visible(request, code)
        reason = None
        try:
            voucher_check_usable(
                voucher, location=request.auth.location, partner=request.auth.partner
            )
        except errors.VoucherNotFound:
            raise
        except errors.LoyaltyError as exc:
            reason = exc
        body = {
            **VoucherSerializer(voucher).data,
            "usable": reason is None,
            "reason_code": reason.code if reason else None,
            "reason": reason.detail if reason else None,
        }
        return Response(body)


class VoucherUseView(APIView):
    required_permission = P.USE_VOUCHERS

    @extend_schema(
        operation_id="vouchers_use",
        summary="Use a voucher (or draw down part of a store credit)",
        tags=["vouchers"],
        parameters=[CODE, IDEMPOTENCY_KEY],
        request=VoucherUseInSerializer,
        responses={200: VoucherUseOutSerializer, **errors_for(400, 404, 409)},
        examples=[
            OpenApiExample("Use the whole voucher", value={}, request_only=True),
            OpenApiExample("Draw down store credit", value={"amount": "12.00"}, request_only=True),
            OpenApiExample(
                "Used",
                value={
                    **_VOUCHER,
                    "state": "used",
                    "used_at": "2024-12-02T10:00:00Z",
                    "amount_used": "3.50",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, code: str):
        data = validated(VoucherUseInSerializer, request.data)
        key = request.auth

        def use():
            # voucher_use refuses another partner's voucher exactly like an unknown code.
            voucher = voucher_use(
                code=code, location=key.location, partner=key.partner, amount=data.get("amount")
            )
            used = VoucherUse.objects.filter(voucher=voucher).latest("pk").amount
            body = {**VoucherSerializer(voucher).data, "amount_used": f"{used:.2f}"}
            return Response(body)

        return idempotent(use, request)


class VoucherCancelView(APIView):
    required_permission = P.REDEEM

    @extend_schema(
        operation_id="vouchers_cancel",
        summary="Cancel an unused voucher; the points it cost go back to the member",
        tags=["vouchers"],
        parameters=[CODE, IDEMPOTENCY_KEY],
        request=VoucherCancelInSerializer,
        responses={200: VoucherCancelOutSerializer, **errors_for(400, 404, 409)},
        examples=[
            OpenApiExample("Cancel", value={"reason": "Redeemed by mistake"}, request_only=True),
            OpenApiExample(
                "Cancelled",
                value={**_VOUCHER, "state": "cancelled", "points_refunded": 100},
                response_only=True,
            ),
        ],
    )
    def post(self, request, code: str):
        data = validated(VoucherCancelInSerializer, request.data)

        def cancel():
            voucher = voucher_visible(request, code)
            done = voucher_cancel(voucher=voucher, actor=None, reason=data["reason"])
            return Response(VoucherCancelOutSerializer(done).data)

        return idempotent(cancel, request)


class PointsPayQuoteView(APIView):
    required_permission = P.REDEEM

    @extend_schema(
        operation_id="points_payments_quote",
        summary="How many points can pay for an amount, and the discount they give (no writes)",
        tags=["points payments"],
        request=PayQuoteInSerializer,
        responses={200: PayQuoteOutSerializer, **errors_for(400, 404, 409, 422)},
        examples=[
            OpenApiExample("Quote", value={"member": 42, "amount": "12.50"}, request_only=True),
            OpenApiExample(
                "Quoted",
                value={
                    "points": 340,
                    "discount": "3.40",
                    "max_points": 340,
                    "point_value": "0.0100",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        data = validated(PayQuoteInSerializer, request.data)
        quote = points_pay_quote(
            member=member_get(data["member"]), amount=data["amount"], points=data.get("points")
        )
        return Response(PayQuoteOutSerializer(quote).data)


class PointsPayView(APIView):
    required_permission = P.REDEEM

    @extend_schema(
        operation_id="points_payments_create",
        summary="Pay part of a purchase with points at the key's location",
        description=_("One payment per receipt (external_id) at a location: a retry returns it."),
        tags=["points payments"],
        request=PayInSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: PayOutSerializer, **errors_for(400, 404, 409, 422)},
        examples=[
            OpenApiExample(
                "Pay with points",
                value={
                    "member": 42,
                    "amount": "12.50",
                    "points": 300,
                    "external_id": "R-2024-0001",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Paid",
                value={
                    "payment": 12,
                    "member": 42,
                    "points": 300,
                    "discount": "3.00",
                    "external_id": "R-2024-0001",
                    "balance": 40,
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        data = validated(PayInSerializer, request.data)
        location = key_location(request)

        def pay():
            member = member_get(data["member"])
            payment = points_pay(
                member=member,
                location=location,
                amount=data["amount"],
                points=data.get("points"),
                external_id=data.get("external_id"),
            )
            payment.member = member
            return Response(PayOutSerializer(payment).data, status=status.HTTP_201_CREATED)

        return idempotent(pay, request)


urlpatterns = [
    path("members/<int:pk>/rewards/", MemberRewardsView.as_view(), name="api-member-rewards"),
    path(
        "members/<int:pk>/redemptions/", MemberRedeemView.as_view(), name="api-member-redemptions"
    ),
    path("vouchers/<str:code>/", VoucherDetailView.as_view(), name="api-voucher"),
    path("vouchers/<str:code>/use/", VoucherUseView.as_view(), name="api-voucher-use"),
    path("vouchers/<str:code>/cancel/", VoucherCancelView.as_view(), name="api-voucher-cancel"),
    path("points-payments/quote/", PointsPayQuoteView.as_view(), name="api-points-pay-quote"),
    path("points-payments/", PointsPayView.as_view(), name="api-points-pay"),
]
